"""The simulator against real local HTTP servers (aiohttp, in a thread of their own, free ports)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import sys

import numpy as np
import pandas as pd
import pytest
from recording_server import LoopThread, reject_odd_users, serving

from app.settings import ProducerSettings
from harness.loadgen.records import COLUMNS
from harness.loadgen.result import event_counts
from harness.paths import PROJECT_ROOT
from harness.ports import free_port
from harness.services import ApiService
from harness.simulator import SimulatorConfig, main, measure_ceiling, simulate

# Alone on the machine under xdist (conftest.py): its send schedule and durations are timed.
pytestmark = pytest.mark.exclusive


@pytest.fixture
def loop_thread():
    with LoopThread() as lt:
        yield lt


@pytest.fixture
def serve(loop_thread):
    """serve(**behaviour) -> a started RecordingServer, stopped after the test."""
    yield from serving(loop_thread)


@pytest.fixture(params=["raw", "aiohttp"])
def http_client(request) -> str:
    """Both HTTP clients the simulator can use."""
    return request.param


def read_records(tmp_path) -> pd.DataFrame:
    return pd.read_parquet(tmp_path / "client_records.parquet")


def test_closed_loop_sends_every_event_once(serve, tmp_path, http_client):
    server = serve()
    cfg = SimulatorConfig(
        url=server.url, events=500, threads=20, run_id="r1", random_seed=7, http_client=http_client
    )
    result = simulate(cfg, tmp_path, progress=False)

    ids = [body["event_id"] for body in server.bodies]
    assert sorted(ids) == sorted(f"r1-{i}" for i in range(500))
    assert (result.sent, result.accepted, result.rejected, result.failed) == (500, 500, 0, 0)
    body = server.bodies[0]
    assert set(body) == {"event", "user_id", "event_id", "sent_at"}
    assert body["event"] in {"signup", "login", "purchase", "logout", "page_view", "add_to_cart"}
    assert isinstance(body["user_id"], int)
    records = read_records(tmp_path)
    assert records["event_id"].tolist() == [f"r1-{i}" for i in range(500)]
    assert records["accepted"].all() and (records["status"] == 200).all()
    assert records["scheduled_at"].isna().all()
    assert 0 < result.busy < 1.5  # CPU seconds of its loop per second (a core at most, plus noise)


def test_sent_at_in_body_matches_the_record(serve, tmp_path):
    server = serve()
    simulate(SimulatorConfig(url=server.url, events=50, threads=5), tmp_path, progress=False)
    records = read_records(tmp_path).set_index("event_id")
    for body in server.bodies:
        assert body["sent_at"] == pytest.approx(records.loc[body["event_id"], "sent_at"], abs=1e-6)
    # Epoch seconds, as the server's time.time(): close to now, not a perf_counter value.
    assert abs(records["sent_at"].iloc[0] - pd.Timestamp.now().timestamp()) < 60
    assert (records["done_at"] >= records["sent_at"]).all()


def test_concurrency_limit_is_the_thread_count(serve, http_client):
    server = serve(delay_s=0.02)
    cfg = SimulatorConfig(url=server.url, events=120, threads=6, http_client=http_client)
    result = simulate(cfg, None, progress=False)
    assert server.max_in_flight == 6
    assert result.max_in_flight == 6
    assert result.sent == 120


def test_single_sender_never_overlaps(serve):
    server = serve(delay_s=0.005)
    simulate(SimulatorConfig(url=server.url, events=30, threads=1), None, progress=False)
    assert server.max_in_flight == 1
    assert len(server.bodies) == 30


def test_api_key_header_is_sent(serve):
    server = serve()
    simulate(SimulatorConfig(url=server.url, events=3, api_key="s3cret"), None, progress=False)
    assert all(h.get("X-API-Key") == "s3cret" for h in server.headers)
    assert all(h.get("Content-Type") == "application/json" for h in server.headers)


def test_batch_groups_events_and_reads_per_event_results(serve, tmp_path, http_client):
    server = serve(batch_answer=reject_odd_users)
    cfg = SimulatorConfig(
        url=server.url,
        events=1050,
        endpoint="batch",
        events_per_request=100,
        run_id="b",
        threads=4,
        http_client=http_client,
    )
    result = simulate(cfg, tmp_path, progress=False)

    assert sorted(len(body) for body in server.bodies) == [50] + [100] * 10
    sent = {e["event_id"]: e for body in server.bodies for e in body}
    assert sorted(sent) == sorted(f"b-{i}" for i in range(1050))
    for body in server.bodies:  # one request, one sent_at for all its events
        assert len({e["sent_at"] for e in body}) == 1

    records = read_records(tmp_path).set_index("event_id")
    expected = pd.Series({eid: e["user_id"] % 2 == 0 for eid, e in sent.items()})
    assert (records["accepted"] == expected.reindex(records.index)).all()
    assert (records.loc[~records["accepted"], "error"] == "odd user").all()
    assert (records.loc[records["accepted"], "error"] == "").all()
    assert records.groupby("request_id").size().max() == 100
    assert result.requests == 11
    assert result.accepted == int(expected.sum())
    assert result.rejected == 1050 - result.accepted
    assert result.failed == 0


def fail_every_third(events: list) -> tuple[int, dict]:
    results = [
        {"index": i, "status": "failed", "error": "broker down"}
        if i % 3 == 0
        else {"index": i, "status": "accepted"}
        for i in range(len(events))
    ]
    return 202, {"results": results}


def test_batch_events_marked_failed_count_as_failed(serve, tmp_path):
    server = serve(batch_answer=fail_every_third)
    cfg = SimulatorConfig(url=server.url, events=30, endpoint="batch", events_per_request=10)
    result = simulate(cfg, tmp_path, progress=False)
    assert (result.accepted, result.rejected, result.failed) == (18, 0, 12)
    records = read_records(tmp_path)
    assert (records.loc[~records["accepted"], "error"] == "broker down").all()
    assert records["delivery_failed"].sum() == 12  # so analysis counts them failed too
    assert event_counts(records) == {"sent": 30, "accepted": 18, "rejected": 0, "failed": 12}


def test_batch_2xx_without_results_counts_all_accepted(serve, tmp_path):
    server = serve(batch_answer=lambda events: (202, {"queued": len(events)}))
    cfg = SimulatorConfig(url=server.url, events=40, endpoint="batch", events_per_request=10)
    result = simulate(cfg, tmp_path, progress=False)
    assert result.accepted == 40
    assert read_records(tmp_path)["accepted"].all()


@pytest.mark.parametrize(("status", "counted_as"), [(400, "rejected"), (503, "failed")])
def test_batch_error_status_accepts_nothing(serve, tmp_path, status, counted_as):
    server = serve(status=status)
    cfg = SimulatorConfig(url=server.url, events=30, endpoint="batch", events_per_request=10)
    result = simulate(cfg, tmp_path, progress=False)
    assert result.accepted == 0
    assert getattr(result, counted_as) == 30
    records = read_records(tmp_path)
    assert (records["status"] == status).all()
    assert records["error"].str.contains("told to fail").all()


def test_open_loop_at_a_low_rate_keeps_the_schedule(serve, tmp_path):
    server = serve()
    cfg = SimulatorConfig(url=server.url, events=60, rate=150.0)
    result = simulate(cfg, tmp_path, progress=False)

    assert result.mode == "open"
    assert result.target_eps == 150.0
    assert result.send_rate_eps == pytest.approx(150.0, rel=0.15)
    # 60 events at 150/s span 0.39 s of schedule, plus the last answer's latency.
    assert result.achieved_eps == pytest.approx(150.0, rel=0.25)
    assert result.send_delay_ms["p50"] < 20
    records = read_records(tmp_path)
    gaps = np.diff(records["scheduled_at"].to_numpy())
    assert gaps == pytest.approx(np.full(59, 1 / 150), abs=1e-6)


def test_open_loop_batch_rate_counts_events(serve):
    server = serve()
    cfg = SimulatorConfig(
        url=server.url, events=200, rate=1000.0, endpoint="batch", events_per_request=20
    )
    result = simulate(cfg, None, progress=False)
    assert result.target_rps == pytest.approx(50.0)
    assert len(server.bodies) == 10
    assert result.send_rate_eps == pytest.approx(1000.0, rel=0.15)


def test_open_loop_above_capacity_shows_growing_send_delay(serve, tmp_path):
    # One request at a time, 10 ms each: ~100 requests/s; asked for 1,000/s, at most 5 in flight.
    server = serve(delay_s=0.01, serial=True)
    cfg = SimulatorConfig(url=server.url, events=80, rate=1000.0, max_in_flight=5)
    result = simulate(cfg, tmp_path, progress=False)

    assert result.cap_waits > 0
    assert result.max_in_flight == 5
    assert result.achieved_eps < 0.5 * result.target_eps
    records = read_records(tmp_path)
    delay = (records["sent_at"] - records["scheduled_at"]).to_numpy()
    assert delay[-10:].mean() > delay[:10].mean() + 0.3
    # Latency counts from the schedule, so it includes the wait to be sent.
    latency = records["done_at"] - records["scheduled_at"]
    service = records["done_at"] - records["sent_at"]
    assert (latency >= service).all()
    assert result.latency_ms["p99"] > result.response_ms["p99"] + 300


def test_nothing_listening_is_status_zero_not_a_crash(tmp_path, http_client):
    url = f"http://127.0.0.1:{free_port()}"
    cfg = SimulatorConfig(url=url, events=25, threads=5, http_client=http_client)
    result = simulate(cfg, tmp_path, progress=False)
    assert (result.failed, result.accepted, result.requests_failed) == (25, 0, 25)
    records = read_records(tmp_path)
    assert (records["status"] == 0).all()
    assert records["error"].str.contains("Connect").all()
    assert np.isnan(result.latency_ms["p50"])  # no answer, no latency sample


def test_server_closing_the_connection_is_status_zero(loop_thread, tmp_path, http_client):
    port = free_port()

    async def hang_up(reader, writer):
        await reader.read(100)
        writer.close()

    server = loop_thread.run(asyncio.start_server(hang_up, "127.0.0.1", port))
    try:
        url = f"http://127.0.0.1:{port}"
        cfg = SimulatorConfig(url=url, events=10, threads=2, http_client=http_client)
        result = simulate(cfg, tmp_path, progress=False)
    finally:
        server.close()
    assert result.failed == 10
    records = read_records(tmp_path)
    assert (records["status"] == 0).all()
    assert records["error"].str.contains("Disconnected").all()


def test_timeout_is_status_zero(serve, tmp_path, http_client):
    server = serve(delay_s=1.0)
    cfg = SimulatorConfig(
        url=server.url, events=4, threads=4, timeout_s=0.2, http_client=http_client
    )
    result = simulate(cfg, tmp_path, progress=False)
    assert result.failed == 4
    assert read_records(tmp_path)["error"].str.contains("Timeout").all()
    assert result.duration_s < 0.9


def test_records_have_the_documented_columns_and_types(serve, tmp_path):
    server = serve()
    simulate(SimulatorConfig(url=server.url, events=10, threads=2), tmp_path, progress=False)
    records = read_records(tmp_path)
    assert list(records.columns) == COLUMNS
    assert records["event_id"].map(type).eq(str).all()
    assert pd.api.types.is_integer_dtype(records["request_id"])
    for column in ("scheduled_at", "sent_at", "done_at"):
        assert pd.api.types.is_float_dtype(records[column])
    assert pd.api.types.is_integer_dtype(records["status"])
    assert pd.api.types.is_bool_dtype(records["accepted"])
    assert records["error"].map(type).eq(str).all()


def test_progress_bar_and_closing_line(serve, capsys):
    server = serve()
    simulate(SimulatorConfig(url=server.url, events=200, threads=10), None, progress=True)
    out, err = capsys.readouterr()
    assert re.fullmatch(
        r"Finished in \d+\.\d\d seconds \(\d+ events/s, p50 \d+\.\d ms, p99 \d+\.\d ms\)\n", out
    )
    assert "200/200" in err


def test_quiet_run_prints_nothing(serve, capsys):
    server = serve()
    simulate(SimulatorConfig(url=server.url, events=20), None, progress=False)
    assert capsys.readouterr() == ("", "")


def test_cli_writes_records_and_summary(serve, tmp_path, capsys):
    server = serve()
    out = tmp_path / "run"
    argv = [
        "--url",
        server.url,
        "--events",
        "30",
        "--threads",
        "3",
        "--endpoint",
        "batch",
        "--events-per-request",
        "7",
        "--run-id",
        "cli",
        "--out",
        str(out),
        "--no-progress",
    ]
    assert main(argv) == 0
    assert capsys.readouterr().out.startswith("Finished in ")
    summary = json.loads((out / "simulation.json").read_text())
    assert summary["sent"] == 30 and summary["requests"] == 5 and summary["run_id"] == "cli"
    assert len(read_records(out)) == 30


def test_measure_ceiling_and_client_bound_verdict(serve):
    server = serve()
    # 100 events asked, but at least 300 requests: a ceiling needs more than a few per sender.
    ceiling = measure_ceiling(server.url, threads=10, events=100, repeats=1, min_requests=300)
    assert ceiling > 0  # how fast: test_the_simulator_ceiling_is_near_wrks_on_a_real_server
    assert len(server.bodies) == 300
    result = simulate(SimulatorConfig(url=server.url, events=300, threads=10), None, progress=False)
    assert result.with_ceiling(result.achieved_rps / 0.9).client_bound is True
    assert result.with_ceiling(result.achieved_rps * 2).client_bound is False


def test_measure_ceiling_counts_batch_requests(serve):
    server = serve()
    measure_ceiling(server.url, threads=4, endpoint="batch", events_per_request=10, events=50,
                    repeats=2, min_requests=20)  # fmt: skip
    assert [len(body) for body in server.bodies] == [10] * 40


def _phase_split(records: pd.DataFrame, origin: str, warmup_s: float) -> tuple[float, float]:
    """(last warm-up origin, first measured origin), seconds after the first origin."""
    t = records[origin] - records[origin].min()
    return t[records["phase"] == "warmup"].max(), t[records["phase"] == "measured"].min()


def test_timed_closed_loop_stops_at_the_deadline_and_marks_the_warmup(serve, tmp_path):
    server = serve(delay_s=0.01)
    cfg = SimulatorConfig(url=server.url, threads=4, warmup_s=0.3, duration_s=0.5, run_id="tc")
    result = simulate(cfg, tmp_path, progress=False)

    records = read_records(tmp_path)
    # Every request left before the deadline, was answered, and is a record; nothing else was sent.
    assert records["sent_at"].notna().all() and (records["status"] == 200).all()
    assert sorted(b["event_id"] for b in server.bodies) == sorted(records["event_id"])
    assert records["sent_at"].max() - records["sent_at"].min() < 0.8
    assert 0.8 <= result.duration_s < 1.5  # the last answers come after the deadline
    # ~4 senders x 100 requests/s: far more than a handful, far fewer than the 10,000 `events`.
    assert 80 < len(records) < 800
    last_warmup, first_measured = _phase_split(records, "sent_at", 0.3)
    assert last_warmup < 0.3 <= first_measured + 0.005
    assert result.events_warmup == (records["phase"] == "warmup").sum() > 0


def test_timed_open_loop_sends_rate_times_the_time_and_phases_follow_the_schedule(serve, tmp_path):
    server = serve()
    cfg = SimulatorConfig(url=server.url, rate=200.0, warmup_s=0.25, duration_s=0.5)
    result = simulate(cfg, tmp_path, progress=False)

    records = read_records(tmp_path)
    assert len(records) == len(server.bodies) == 150  # 200/s x 0.75 s
    # Request i is due at i/200 s: the first 50 are due within the warm-up.
    assert (records["phase"].iloc[:50] == "warmup").all()
    assert (records["phase"].iloc[50:] == "measured").all()
    assert result.events_warmup == 50


def test_timed_batch_run_records_every_event_of_every_request(serve, tmp_path):
    server = serve(delay_s=0.01)
    cfg = SimulatorConfig(url=server.url, threads=2, endpoint="batch", events_per_request=7,
                          warmup_s=0.1, duration_s=0.3)  # fmt: skip
    simulate(cfg, tmp_path, progress=False)
    records = read_records(tmp_path)
    assert len(records) == 7 * len(server.bodies)
    assert (records.groupby("request_id")["phase"].nunique() == 1).all()  # a request has one phase


def test_warmup_with_a_fixed_event_count_marks_the_first_seconds(serve, tmp_path):
    server = serve(delay_s=0.01)
    cfg = SimulatorConfig(url=server.url, events=120, threads=2, warmup_s=0.2)
    simulate(cfg, tmp_path, progress=False)
    records = read_records(tmp_path)
    assert len(records) == 120
    last_warmup, first_measured = _phase_split(records, "sent_at", 0.2)
    assert last_warmup < 0.2 <= first_measured + 0.005


def test_without_warmup_every_event_is_measured(serve, tmp_path):
    server = serve()
    simulate(SimulatorConfig(url=server.url, events=30, threads=3), tmp_path, progress=False)
    assert (read_records(tmp_path)["phase"] == "measured").all()


def test_timed_progress_bar_counts_seconds(serve, capsys, monkeypatch):
    monkeypatch.setenv("HARNESS_PROGRESS", "bar")  # as on a terminal
    server = serve(delay_s=0.01)
    cfg = SimulatorConfig(url=server.url, threads=2, warmup_s=0.2, duration_s=0.3)
    simulate(cfg, None, progress=True)
    err = capsys.readouterr().err
    assert "measured" in err and re.search(r"0\.5/0\.5 s, [\d,]+ ev", err)


def test_progress_into_a_log_is_plain_lines_not_redraws(serve, capsys, monkeypatch):
    monkeypatch.delenv("HARNESS_PROGRESS", raising=False)  # stderr is not a terminal here
    server = serve(delay_s=0.01)
    simulate(SimulatorConfig(url=server.url, threads=2, events=300), None, progress=True)
    err = capsys.readouterr().err
    assert "\r" not in err
    (line,) = err.splitlines()  # a run this short: the closing line only (one per 5 s)
    assert re.fullmatch(r"300/300 ev \(100%\), 00:0\d elapsed", line), line


def test_cli_timed_run_and_a_clear_error_for_a_bad_duration(serve, tmp_path, capsys):
    server = serve()
    out = tmp_path / "run"
    argv = ["--url", server.url, "--threads", "2", "--out", str(out), "--no-progress"]
    assert main([*argv, "--warmup-s", "0.1", "--duration-s", "0.2", "--random-seed", "3"]) == 0
    summary = json.loads((out / "simulation.json").read_text())
    assert summary["sent"] == len(read_records(out)) and summary["events_warmup"] > 0
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--duration-s", "-1"])
    assert exit_info.value.code == 2
    assert "duration_s must be > 0" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("wrk") is None and not os.environ.get("CI"),
                    reason="wrk is not installed (make setup installs it with apt)")  # fmt: skip
def test_the_simulator_ceiling_is_near_wrks_on_a_real_server(tmp_path):
    """The simulator's ceiling against the API's no-op handler on its default server, next to
    wrk's (a C load generator) on the same endpoint, two interleaved rounds of ~2 s, the best
    of each. `harness bench` measures 0.77-0.82 (target >= 0.7); 0.54-0.79 in single rounds
    here. A simulator twice as slow (~0.4) would be what limits the runs: it fails."""
    sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))  # the benchmark's own wrk runner
    try:
        from bench_simulator import run_wrk, wrk_script
    finally:
        sys.path.remove(str(PROJECT_ROOT / "benchmarks"))

    wrk, simulator = [], []
    with ApiService(ProducerSettings(delivery="noop"), tmp_path / "api.log") as api:
        lua = wrk_script("/register_event", 1, tmp_path)
        for _ in range(2):
            wrk.append(run_wrk(api.url + "/register_event", lua, 200, 2, tmp_path)["rps"])
            simulator.append(measure_ceiling(api.url, threads=200, events=int(2 * wrk[-1]),
                                             repeats=1))  # fmt: skip
    assert max(simulator) >= 0.4 * max(wrk), {"simulator": simulator, "wrk": wrk}
