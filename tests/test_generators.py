"""Load generators on Dask, for real: a LocalCluster (one per module for the simulator's own
tests, one per run where the run owns it), `dask scheduler` and `dask worker` processes on
127.0.0.1, the real API and the session broker. The split itself is a unit test
(test_simulator_units.py)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from kafka_helpers import ProcessWatch, parent_pid
from recording_server import LoopThread, reject_odd_users, serving

from harness.analysis import read_client_records
from harness.capacity import Objective, SearchSettings, search_capacity
from harness.loadgen import generators as generators_module
from harness.loadgen.generators import STOP_WAIT_S, GeneratorFailed, open_generators
from harness.loadgen.schedule import due_offsets
from harness.params import RunConfig
from harness.paths import PROJECT_ROOT
from harness.ports import free_port
from harness.processes import ManagedProcess
from harness.run import run_experiment
from harness.simulator import SimulatorConfig, simulate

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def pool():
    """Two generators on a LocalCluster, shared by the module's simulator tests."""
    with open_generators(2) as pool:
        yield pool


@pytest.fixture(scope="module")
def loop_thread():
    with LoopThread() as lt:
        yield lt


@pytest.fixture
def serve(loop_thread):
    yield from serving(loop_thread)


# ------------------------------------------------------------------ the simulator on two generators


def test_two_generators_send_the_one_open_loop_schedule(pool, serve, tmp_path):
    server = serve()
    cfg = SimulatorConfig(url=server.url, events=300, rate=600.0, run_id="g2", generators=2)
    result = simulate(cfg, tmp_path, progress=False, generators=pool)

    assert sorted(b["event_id"] for b in server.bodies) == sorted(f"g2-{i}" for i in range(300))
    records = read_client_records(tmp_path).set_index("event_id")
    # request i went to generator i mod 2, each sent half
    assert (records["generator"] == records["request_id"] % 2).all()
    assert [g["requests"] for g in result.generators] == [150, 150]
    assert {g["worker"] for g in result.generators} == set(pool.workers)
    # At the one schedule's instants: each generator exactly, the two within the error of their
    # clock offset estimates. Both clocks are this host's, so each estimate is off by at most half
    # its probe's round trip (the probe's answer came between its send and its reply): beside the
    # busy suite generator 1's whole schedule sat 2.6 ms, and once 5.7 ms, after generator 0's.
    ordered = records.sort_values("request_id")
    offsets = ordered["scheduled_at"].to_numpy() - ordered["scheduled_at"].iloc[0]
    due, generator = np.asarray(due_offsets(cfg)), ordered["generator"].to_numpy()
    estimate_error_s = sum(g["round_trip_ms"] for g in result.generators) / 2 / 1000
    for g in (0, 1):
        shift = float(np.median(offsets[generator == g] - due[generator == g]))
        assert abs(shift) < estimate_error_s + 2e-3, (shift, result.generators)
        assert offsets[generator == g] - shift == pytest.approx(due[generator == g], abs=2e-3)
    for body in server.bodies:  # each generator stamps sent_at with its own clock, as recorded
        assert body["sent_at"] == pytest.approx(records.loc[body["event_id"], "sent_at"], abs=1e-6)
    assert result.sent == result.accepted == 300
    assert all(g["round_trip_ms"] > 0 for g in result.generators), result.generators
    assert all(abs(g["clock_offset_ms"]) <= g["round_trip_ms"] / 2 for g in result.generators)


def test_two_generators_divide_the_closed_loop_senders(pool, serve, tmp_path):
    server = serve(delay_s=0.01)
    cfg = SimulatorConfig(url=server.url, events=400, threads=8, run_id="c2", generators=2)
    result = simulate(cfg, tmp_path, progress=False, generators=pool)
    assert sorted(b["event_id"] for b in server.bodies) == sorted(f"c2-{i}" for i in range(400))
    assert server.max_in_flight == 8  # 4 senders each
    assert (result.sent, result.accepted, result.max_in_flight) == (400, 400, 8)
    assert set(read_client_records(tmp_path)["generator"]) == {0, 1}


def test_two_generators_merge_batch_outcomes_and_a_timed_loop_has_no_gaps(pool, serve, tmp_path):
    server = serve(batch_answer=reject_odd_users)
    cfg = SimulatorConfig(url=server.url, events=90, endpoint="batch", events_per_request=10,
                          threads=2, generators=2)  # fmt: skip
    result = simulate(cfg, tmp_path / "batch", progress=False, generators=pool)
    users = {e["event_id"]: e["user_id"] for body in server.bodies for e in body}
    records = read_client_records(tmp_path / "batch").set_index("event_id")
    expected = pd.Series({eid: uid % 2 == 0 for eid, uid in users.items()})
    assert (records["accepted"] == expected.reindex(records.index)).all()
    assert result.accepted == int(expected.sum()) and result.rejected == 90 - result.accepted

    timed = serve(delay_s=0.005)
    cfg = SimulatorConfig(url=timed.url, threads=4, warmup_s=0.2, duration_s=0.4, generators=2)
    result = simulate(cfg, tmp_path / "timed", progress=False, generators=pool)
    records = read_client_records(tmp_path / "timed")
    assert records["sent_at"].notna().all() and records["event_id"].is_unique
    assert len(records) == len(timed.bodies) == result.sent
    assert set(records["phase"]) == {"warmup", "measured"} and set(records["generator"]) == {0, 1}


def test_a_generator_that_fails_is_named(pool, tmp_path):
    cfg = SimulatorConfig(url="ftp://127.0.0.1:1/", events=10, threads=2, generators=2)
    with pytest.raises(GeneratorFailed, match=r"generator \d \(Dask worker tcp://.*only http"):
        simulate(cfg, tmp_path, progress=False, generators=pool)


def test_a_stalled_generator_ends_the_run_within_the_stall_time(pool, serve, tmp_path, monkeypatch):
    monkeypatch.setattr(generators_module, "STALL_S", 2.0)
    server = serve()
    cfg = SimulatorConfig(url=server.url, events=1200, rate=200.0, run_id="st", generators=2)
    victim = pool.clocks()[1].pid
    timer = threading.Timer(1.5, os.kill, (victim, signal.SIGSTOP))
    timer.start()
    try:
        started = time.monotonic()
        with pytest.raises(GeneratorFailed, match=rf"generator 1 .*pid {victim}\) stalled"):
            simulate(cfg, tmp_path, progress=False, generators=pool)
        assert time.monotonic() - started < 1.5 + 2.0 + 4.0
    finally:
        timer.join()
        os.kill(victim, signal.SIGCONT)
    # what the other generator measured is on disk, cut short when it was told to stop
    records = read_client_records(tmp_path)
    sent = records[records["sent_at"].notna()]
    assert set(sent["generator"]) == {0} and 100 < len(sent) < 600


def test_one_generator_imports_no_dask(tmp_path):
    """generators 1 without a scheduler: the harness's every module loaded, a simulation run
    and a run's generator pool asked for, and neither Dask nor distributed is imported."""
    code = (
        "import sys\n"
        "import harness.cli, harness.run, harness.capacity, harness.sweep\n"
        "from contextlib import ExitStack\n"
        "from harness.params import RunConfig\n"
        "from harness.run import open_generator_pool\n"
        "from harness.simulator import SimulatorConfig, simulate\n"
        "assert open_generator_pool(RunConfig(generators=1), ExitStack()) is None\n"
        f"r = simulate(SimulatorConfig(url='http://127.0.0.1:{free_port()}', events=5, threads=1,"
        " timeout_s=1), None, progress=False)\n"
        "assert r.generators[0]['worker'] is None and r.sent == 5\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed'))\n"
        "print(loaded)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=PROJECT_ROOT)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# ------------------------------------------------------------------ runs on the real path


def test_a_run_on_two_generators_is_accounted_exactly(kafka, tmp_path):
    """Stages and Poisson arrivals (the schedule's most general shape) through the run's
    parameters to both generators: 2,000 events, every one accounted for."""
    cfg = RunConfig(stages="1:400,1:1600,0.25:1600", arrivals="poisson", warmup_s=0.5,
                    audit="topic", generators=2,
                    bootstrap_servers=kafka.bootstrap_servers)  # fmt: skip
    planned = cfg.simulator_config("http://u", "r").planned_events
    assert planned == 2000  # 0.5 + 1 s at 400, 1 s from 400 to 1600, 0.25 s at 1600
    with ProcessWatch() as watch:
        metrics = run_experiment(cfg, tmp_path, progress=False)
    counts = metrics["counts"]
    assert counts["sent"] == counts["accepted"] == counts["unique_consumed"] == 2000
    assert counts["lost"] == counts["duplicates"] == 0
    # the topic audit and the consumer's log account for the same events
    assert metrics["run"]["log_audit_counts"] == counts
    gens = metrics["generators"]
    assert [g["index"] for g in gens] == [0, 1] and [g["requests"] for g in gens] == [1000, 1000]
    assert all(g["worker"].startswith("tcp://127.0.0.1:") and g["busy"] > 0 for g in gens)
    assert metrics["client_bound"] is False and metrics["e2e_uncertain_ms"] is None
    records = read_client_records(tmp_path)
    assert records["generator"].value_counts().to_dict() == {0: 1000, 1: 1000}
    # at the one schedule's instants, each generator's relative to its own start
    sim = cfg.simulator_config("http://u", metrics["run"]["run_id"])
    for k in (0, 1):
        mine = records[records["generator"] == k].sort_values("request_id")
        due = due_offsets(sim)[mine["request_id"].to_numpy()]
        offsets = mine["scheduled_at"].to_numpy() - mine["scheduled_at"].iloc[0]
        assert offsets == pytest.approx(due - due[0], abs=2e-6)
    # the run's own LocalCluster: its worker processes were this run's, and are gone
    assert {g["pid"] for g in gens} <= watch.new
    assert not [c for c in watch.alive() if "spawn_main" in c]


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    """`dask scheduler` and two `dask worker` processes on 127.0.0.1: a cluster of someone else's."""
    logs = tmp_path_factory.mktemp("dask")
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    common = ["--no-dashboard"]
    procs = [ManagedProcess("scheduler", [str(BIN / "dask"), "scheduler", "--host", "127.0.0.1",
                                          "--port", str(port), *common], logs / "scheduler.log")]  # fmt: skip
    procs += [
        ManagedProcess(f"worker-{k}", [str(BIN / "dask"), "worker", address, "--nthreads", "1",
                                       "--host", "127.0.0.1", *common], logs / f"worker-{k}.log")
        for k in range(2)
    ]  # fmt: skip
    try:
        for proc in procs:
            proc.start()
        from distributed import Client

        with Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
        yield address, procs
    finally:
        for proc in procs:
            proc.stop()


def test_a_run_on_an_external_dask_cluster_uses_its_workers_and_leaves_them(
    kafka, dask_cluster, tmp_path
):
    address, procs = dask_cluster
    result = subprocess.run(
        [sys.executable, "-m", "harness", "run", "--dask-scheduler", address, "--events", "1500",
         "--threads", "20", "--warmup-s", "0", "--audit", "topic", "--bootstrap-servers",
         kafka.bootstrap_servers, "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=180, cwd=PROJECT_ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "using the Dask cluster at" in result.stderr and "LocalCluster" not in result.stderr
    metrics = pd.read_json(tmp_path / "metrics.json", typ="series")
    counts = metrics["counts"]
    assert counts["sent"] == counts["accepted"] == counts["unique_consumed"] == 1500
    assert counts["lost"] == 0 and metrics["run"]["log_audit_counts"] == counts
    gens = metrics["generators"]
    assert len(gens) == 2 and sum(g["requests"] for g in gens) == 1500
    # the generators ran in the cluster's own worker processes (children of `dask worker`)
    worker_pids = {p.pid for p in procs[1:]}
    assert all(parent_pid(g["pid"]) in worker_pids for g in gens)
    # and the run left them all running
    assert all(p.running() for p in procs)
    from distributed import Client

    with Client(address, timeout=10) as client:
        assert len(client.scheduler_info(n_workers=-1)["workers"]) == 2


def test_an_unreachable_scheduler_is_refused_before_anything_starts(tmp_path, monkeypatch, capsys):
    from harness.cli import main

    monkeypatch.setattr(generators_module, "CONNECT_TIMEOUT_S", 1.0)
    address = f"tcp://127.0.0.1:{free_port()}"
    started = time.monotonic()
    code = main(["run", "--dask-scheduler", address, "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2
    assert f"the Dask scheduler at {address} cannot be reached" in err
    assert "Kafka" not in err and "Traceback" not in err
    assert time.monotonic() - started < 15


def _dask_workers(root: int) -> list[int]:
    """The Dask worker processes below `root` (LocalCluster spawns them with multiprocessing)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            pid = int(entry.name)
            try:
                cmd = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"spawn_main" in cmd and _below(pid, root):
                found.append(pid)
    return found


def _below(pid: int, root: int) -> bool:
    while pid > 1:
        pid = parent_pid(pid)
        if pid == root:
            return True
    return False


def test_a_generator_killed_mid_run_ends_the_run_naming_its_worker(kafka, tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "harness", "run", "--generators", "2", "--rate", "400",
           "--duration-s", "60", "--warmup-s", "1", "--bootstrap-servers",
           kafka.bootstrap_servers, "--out", str(out)]  # fmt: skip
    with ProcessWatch() as watch:
        proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)  # fmt: skip
        try:
            deadline = time.monotonic() + 90
            while not list(out.glob("events*.log")) or not _sending(out):
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)
            time.sleep(2)  # mid-run: both generators are sending
            victim = _dask_workers(proc.pid)[0]
            os.kill(victim, signal.SIGKILL)
            killed = time.monotonic()
            _, err = proc.communicate(timeout=60)
            took = time.monotonic() - killed
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        time.sleep(0.5)
        left = watch.alive()
    # ended by the death, not by its 60 s: that would be 54 s or more after the kill
    assert proc.returncode not in (0, None) and took < STOP_WAIT_S + 15, err[-3000:]
    named = re.search(rf"generator (\d) \(Dask worker tcp://[\d.:]+, host \S+, pid {victim}\) "
                      "died mid-run", err)  # fmt: skip
    assert named and "Traceback" not in err, err[-3000:]
    # what was measured is on disk: the other generator's records, the consumer's log; the dead
    # one's requests are there as not sent (its measurements died with it)
    records = read_client_records(out)
    dead = int(named.group(1))
    sent = records[records["sent_at"].notna()]
    assert set(sent["generator"]) == {1 - dead} and len(sent) > 400
    assert (records["request_id"] % 2 == records["generator"]).all()
    assert list(out.glob("events*.log"))
    assert left == [], left


def _sending(out: Path) -> bool:
    logs = list(out.glob("events*.log"))
    return any(p.stat().st_size > 0 for p in logs)


# ------------------------------------------------------------------ capacity


def test_capacity_with_two_generators_records_them(kafka, tmp_path):
    cfg = RunConfig(
        generators=2, rate=200.0, warmup_s=0.5, bootstrap_servers=kafka.bootstrap_servers
    )
    result = search_capacity(cfg, tmp_path, Objective(p99_ms=500), SearchSettings(max_steps=2),
                             step_s=1.5, progress=False)  # fmt: skip
    assert len(result["steps"]) == 2
    for step in result["steps"]:
        assert step["generators"] == 2
        metrics = pd.read_json(tmp_path / step["run_dir"] / "metrics.json", typ="series")
        assert [g["index"] for g in metrics["generators"]] == [0, 1]
        assert set(read_client_records(tmp_path / step["run_dir"])["generator"]) == {0, 1}
    assert np.isfinite(result["steps"][0]["achieved_eps"])
