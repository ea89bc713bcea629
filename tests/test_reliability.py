"""The reliability suite: faults injected into real runs (real brokers, gunicorn, consumers).

Each test asserts the guarantee of docs/RELIABILITY.md — every event answered 2xx reaches the
log — and that its fault landed while the load ran and disturbed something (a fault that fired
late or did nothing would otherwise pass), and writes its figures to
test-artifacts/reliability/<test>.json, from which the table in docs/RELIABILITY.md is copied. Runs that do not touch the brokers share the session's broker;
runs on brokers of their own skip the broker's warm-up (`broker_warmup_s=0`): it only makes a cold
JVM's CPU cost per event representative, which no guarantee here depends on.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from api_helpers import WORKER_SERVERS
from conftest import ARTIFACTS
from kafka_helpers import descends_from_us

from app.settings import ProducerSettings
from harness import admin
from harness.analysis.records import read_client_records
from harness.kafka import EmbeddedKafka
from harness.params import RunConfig
from harness.processes import pid_cmdline
from harness.run import measure, open_system, run_experiment
from harness.rundir import METRICS_FILE, RECORDS_FILE, TIMELINE_FILE, consumer_output_path
from harness.slo import evaluate_slos

pytestmark = [pytest.mark.kafka, pytest.mark.reliability]

# The p99 objective of the runs whose fault figures are asserted. A bin with a failed request is bad
# whatever the objective, so the known answers (unavailable for at least the outage ...) hold; but
# with the suite's other workers busy (load average 10-13), a healthy bin's p99 here ran 55-600 ms
# after a 5 s freeze had ended, and 830-1,050 ms for 3 s after an API SIGKILL and restart at 300
# events/s: under the default 250 ms (then under 1 s), 3 good bins in a row did not come before the
# next fault or the load's end, and the span "never ended" (unavailability null).
FIGURES_OBJECTIVE_MS = 2000.0
# timeline.parquet's failed requests, by kind
FAILED_COLUMNS = [f"failed_{kind}" for kind in ("503", "refused", "timeout", "other")]


@pytest.fixture(scope="module")
def cluster3(tmp_path_factory):
    """One 3-broker cluster (min ISR 2) for the tests that stop brokers: each run gets a topic of
    its own, and `whole` brings back any broker a test left down."""
    with EmbeddedKafka(brokers=3, min_insync_replicas=2,
                       root=tmp_path_factory.mktemp("cluster3")) as kafka:  # fmt: skip
        yield kafka


@pytest.fixture
def whole(cluster3):
    """The shared cluster with every broker running."""
    for node in (1, 2, 3):
        cluster3.start_node(node, wait=False)
    cluster3.wait_ready()
    return cluster3


def _record(name: str, metrics: dict, **extra) -> None:
    """One row of the fault table: what was accepted, logged, lost, duplicated."""
    c = metrics["counts"]
    row = {"test": name, "sent": c["sent"], "accepted": c["accepted"], "failed": c["failed"],
           "logged_unique": c["unique_consumed"], "lost": c["lost"], "duplicates": c["duplicates"],
           "faults": metrics["run"].get("faults"), **extra}  # fmt: skip
    folder = ARTIFACTS / "reliability"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(row, indent=2) + "\n")


def _faults_ok(metrics: dict, expected: list[str]) -> list[dict]:
    """The run's faults, each carried out while the load still ran."""
    faults = metrics["run"]["faults"]
    assert [f.get("fault") for f in faults] == expected, faults
    assert not any("error" in f for f in faults), faults
    assert not any(f["after_load"] for f in faults), f"a fault came after the load: {faults}"
    return faults


def _broker_failed_over(fault: dict) -> None:
    """The SIGKILL ended the broker, and the cluster went on without it: partition 0 has
    another leader and the dead broker left its in-sync replicas."""
    assert fault["exit_code"] == -signal.SIGKILL, fault
    assert fault["leader_after"] not in (None, fault["node"]), fault
    assert fault["node"] not in fault["isr_after"], fault


def _refused_after(run_dir: Path, fault: dict) -> int:
    """Requests sent once the API was stopped that were refused or answered 503: the API really
    went away (a restart that did nothing would refuse none)."""
    records = pd.read_parquet(run_dir / RECORDS_FILE)
    failed = records["status"].isin([0, 503]) & (records["sent_at"] >= fault["at"])
    assert failed.any(), "no request failed while the API was down"
    return int(failed.sum())


def _no_accepted_event_lost(metrics: dict) -> None:
    c = metrics["counts"]
    assert c["accepted"] > 0
    assert c["lost"] == 0, c
    assert c["unique_consumed"] >= c["accepted"], c
    assert c["duplicates"] == c["consumed"] - c["unique_consumed"] >= 0


@pytest.mark.cluster
@pytest.mark.timeout(900)
def test_two_broker_kills_in_a_row_lose_nothing(whole, tmp_path):
    """3 brokers, RF 3, min.insync.replicas 2, acks=all, idempotent producer: SIGKILL one broker,
    wait for the failover, bring it back in sync, SIGKILL another.

    90 s at 150 events/s: the first kill at 1/4 (22 s), the second at 2/3 (60 s) or as soon as the
    first broker is back in sync (failover ~4 s, restart and resync 5-10 s measured on a quiet
    machine); both land mid-load unless that takes over 67 s. (45 s at 200 events/s was too short
    in CI: beside two other test workers the first cycle took over 34 s, and the second kill came
    after the load: FaultMissedLoad.)"""
    cfg = RunConfig(events=13500, rate=150, brokers=3, replication_factor=3,
                    min_insync_replicas=2, acks="all", fault="kill-broker-twice",
                    drain_timeout_s=90, broker_warmup_s=0)  # fmt: skip
    metrics = run_experiment(cfg, tmp_path / "run", progress=False, kafka=whole)
    first, second = _faults_ok(metrics, ["kill-broker", "kill-broker"])
    assert first["node"] != second["node"]
    _broker_failed_over(first)
    _broker_failed_over(second)
    _no_accepted_event_lost(metrics)
    _record("kill two brokers in a row (3 brokers, RF 3, ISR 2, acks=all)", metrics)


def _api_rss_sampler(stop: threading.Event, samples: list[tuple[float, int]]) -> None:
    """(time, resident memory in bytes) of every API process this test started together (the
    server's master and workers; another program's APIs on a shared machine are not this run's)."""
    while not stop.is_set():
        total = 0
        for pid in filter(str.isdigit, os.listdir("/proc")):
            if "app.producer" in pid_cmdline(int(pid)) and descends_from_us(int(pid)):
                try:
                    with open(f"/proc/{pid}/statm") as fh:
                        total += int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
                except OSError:
                    pass
        samples.append((time.time(), total))
        stop.wait(0.25)


def _good_bins_in_a_row(tl: pd.DataFrame, start: float, end: float, k: int = 3) -> bool:
    """Whether the timeline has `k` bins in a row from `start` to `end` (epoch s) in which every
    request answered within FIGURES_OBJECTIVE_MS and none failed: what ends an unavailability."""
    failed = tl[FAILED_COLUMNS].sum(axis=1)
    good = (tl["http_p99_ms"] <= FIGURES_OBJECTIVE_MS) & (failed == 0)
    inside = (tl["start"] >= start) & (tl["start"] + tl["start"].diff().median() <= end)
    return bool((good & inside).astype(int).rolling(k).sum().eq(k).any())


def _timeline_adds_up(run_dir: Path, metrics: dict) -> pd.DataFrame:
    """timeline.parquet's rows add up to the run's counts (docs/CONTRACTS.md)."""
    tl = pd.read_parquet(run_dir / TIMELINE_FILE)
    c = metrics["counts"]
    failed = tl[FAILED_COLUMNS].to_numpy().sum()
    assert (tl["sent"].sum(), tl["accepted"].sum(), tl["rejected"].sum(), failed,
            tl["logged"].sum()) == (c["sent"], c["accepted"], c["rejected"], c["failed"],
                                    c["unique_consumed"])  # fmt: skip
    if tl["offered"].notna().any():
        assert tl["offered"].sum() == c["sent"]
    return tl


def test_kafka_frozen_for_5_s_a_known_answer(tmp_path):
    """Kafka frozen (SIGSTOP) for 5 s under an open loop it holds (200 events/s), 3 s into the
    measured window: the API fails fast (the circuit breaker), recovers by itself, loses nothing,
    and the fault figures give the known answer: unavailable for at least the outage and at most
    the outage + the delivery timeout + 2 bins; pMax at least the outage minus the time the
    breaker answered fast (a request caught at the start waits for the delivery timeout, later
    ones are refused at once)."""
    timeout_s, outage_s = 2.0, 5.0
    # 18 s: the freeze from 5 s to 10 s; ~8 s to see the recovery (measured: all 202 again 1.5 s
    # after the brokers are back; "after" starts 5 s after).
    cfg = RunConfig(rate=200, warmup_s=2, duration_s=16, fault="kafka-outage", outage_s=outage_s,
                    fault_at_s=3, delivery_timeout_s=timeout_s, drain_timeout_s=90,
                    broker_warmup_s=0)  # fmt: skip
    stop, rss = threading.Event(), []
    sampler = threading.Thread(target=_api_rss_sampler, args=(stop, rss), daemon=True)
    sampler.start()
    try:
        metrics = run_experiment(
            cfg, tmp_path / "run", progress=False, p99_objective_ms=FIGURES_OBJECTIVE_MS
        )
    finally:
        stop.set()
        sampler.join()
    (outage,) = _faults_ok(metrics, ["kafka-outage"])
    _no_accepted_event_lost(metrics)
    back_at = outage["end"]
    assert back_at - outage["at"] == pytest.approx(outage_s, abs=0.5)
    assert (tmp_path / "run" / "kafka-1.log").exists()  # the broker's own log is kept

    records = pd.read_parquet(tmp_path / "run" / "client_records.parquet")
    requests = records.drop_duplicates("request_id")
    latency = requests["done_at"] - requests["sent_at"]
    failed = requests["status"] == 503
    assert failed.sum() > 0, "nothing failed while Kafka was down"
    assert set(requests["status"]) <= {202, 503}, set(requests["status"])
    # 503 quickly: most fail fast (the circuit breaker), in a small part of the delivery timeout
    # that each 503 would wait without it (measured: a median of 0.8 ms alone, 20 ms beside the
    # busy suite; it was once compared with the 202s before the outage, 20 ms too); none waits
    # much past the delivery timeout on top of the queueing seen before the outage.
    before = requests["sent_at"] < outage["at"]
    assert (latency[failed] < timeout_s / 4).mean() > 0.5, latency[failed].describe()
    assert latency[failed].max() < timeout_s + latency[before].max() + 2.0
    # The API recovered by itself: what was sent once the brokers were back was accepted.
    after = requests[requests["sent_at"] > back_at + 5]
    assert len(after) >= 200, f"run too short to see the recovery ({len(after)} requests after)"
    assert after["status"].eq(202).mean() > 0.9, after["status"].value_counts()
    # Memory stayed bounded: no pile-up of waiting threads or queued events. The outage and the
    # recovery may use a little more than the same load before it, not half as much again
    # (measured: ~1.0x; a doubling fails).
    peak_before = max(m for t, m in rss if t < outage["at"])
    peak_from = max(m for t, m in rss if t >= outage["at"])
    assert peak_from < 1.5 * peak_before, (f"API peak RSS {peak_from / 2**20:.0f} MiB from the "
                                           f"outage on, {peak_before / 2**20:.0f} MiB before")  # fmt: skip

    # The known answer.
    figures = metrics["faults"]
    (instant,) = figures["instants"]
    bin_s = cfg.bin_s
    assert outage_s <= instant["unavailability_s"] <= outage_s + timeout_s + 2 * bin_s, instant
    fast = requests[failed & (latency < 0.1)]
    fast_s = fast["scheduled_at"].max() - fast["scheduled_at"].min() if len(fast) else 0.0
    assert instant["p_max_ms"] / 1000 >= outage_s - fast_s - 0.25, (instant, fast_s)
    assert instant["errors"]["503"] == int(failed[requests["scheduled_at"].between(
        instant["at"], instant["span_end"], inclusive="left")].sum())  # fmt: skip
    assert (
        instant["recovery_s"] is not None and instant["recovery_s"] >= instant["unavailability_s"]
    )
    assert figures["unavailability_s"]["max"] == instant["unavailability_s"]
    tl = _timeline_adds_up(tmp_path / "run", metrics)
    assert tl["failed_503"].sum() == failed.sum()
    # The gate on it: met at 15 s, missed at 1 s.
    verdicts = evaluate_slos(["faults.unavailability_s.max < 15",
                              "faults.unavailability_s.max < 1"], metrics)  # fmt: skip
    assert [v["ok"] for v in verdicts] == [True, False], verdicts
    _record("Kafka frozen (SIGSTOP) for 5 s (1 broker, delivery timeout 2 s)", metrics,
            http_503=int(failed.sum()), api_peak_rss_mib=round(peak_from / 2**20),
            api_peak_rss_before_mib=round(peak_before / 2**20),
            unavailability_s=instant["unavailability_s"], recovery_s=instant["recovery_s"],
            p_max_ms=round(instant["p_max_ms"]))  # fmt: skip


@pytest.mark.cluster
@pytest.mark.timeout(600)
def test_a_rolling_restart_at_a_fixed_rate_loses_nothing(whole, tmp_path):
    """3 brokers, RF 3, min ISR 2, acks=all, 100 events/s: each broker in turn stopped gracefully,
    restarted and given its replicas back in sync, every restart inside the load, a figure for
    each, nothing lost. 150 s of load: alone, a restart took 6-9 s here (9-10 s before the brokers'
    class archive); in CI with the whole suite running, 30 s each before the archive (85 s of load
    missed the last one's recovery), and 35 s each with it on a slower day (100 s of load missed
    it: the third began 73 s in and was back in sync 110 s in). The first comes 3 s (K = 3 bins)
    into the measured window: the recovery rule's pre-fault lag level needs those bins (with 1 s the
    level came from one bin of a settling consumer, below the steady lag: no recovery seen).
    The next restart begins once the replicas are in sync, as an operator's would, not once the
    consumers caught up: beside the busy suite (load average 13) the consumer's group session
    timed out during the first restart (its coordinator answered "load in progress" for 10 s),
    it stopped for 14 s and caught up only after the second restart had begun. Then that
    restart's recovery is null, which the timeline must bear out; the last one's must be seen."""
    cfg = RunConfig(rate=100, warmup_s=1, duration_s=150, brokers=3, replication_factor=3,
                    min_insync_replicas=2, acks="all", fault="rolling-restart", fault_at_s=3,
                    drain_timeout_s=90, broker_warmup_s=0)  # fmt: skip
    metrics = run_experiment(
        cfg, tmp_path / "run", progress=False, kafka=whole, p99_objective_ms=FIGURES_OBJECTIVE_MS
    )
    restarts = _faults_ok(metrics, ["rolling-restart"] * 3)
    assert [r["node"] for r in restarts] == [1, 2, 3]
    records = pd.read_parquet(tmp_path / "run" / RECORDS_FILE)
    load_end = records["scheduled_at"].max()
    for restart in restarts:
        assert restart["exit_code"] not in (None, -signal.SIGKILL), restart  # it stopped by itself
        assert restart["node"] not in restart["isr_while_down"], restart  # the ISR shrank
        assert restart["at"] < restart["end"] < restart["recovered_at"] < load_end, restart
    figures = metrics["faults"]
    assert [i["target"] for i in figures["instants"]] == ["broker 1", "broker 2", "broker 3"]
    instants = figures["instants"]
    tl = pd.read_parquet(tmp_path / "run" / TIMELINE_FILE)
    for instant, following in zip(instants, [*instants[1:], None], strict=True):
        assert instant["unavailability_s"] is not None, instant
        if instant["recovery_s"] is None:  # not caught up by the next restart: the lag says so
            assert following is not None, instant  # the last one has the rest of the load
            between = tl[(tl["start"] >= instant["span_end"]) & (tl["start"] < following["at"])]
            assert (between["lag_mean"] > instant["lag_level"]).any(), (instant, between)
    assert instants[-1]["recovery_s"] is not None, instants[-1]
    _no_accepted_event_lost(metrics)
    _timeline_adds_up(tmp_path / "run", metrics)
    _record("rolling restart (3 brokers, RF 3, ISR 2, acks=all)", metrics,
            unavailability_s=[i["unavailability_s"] for i in figures["instants"]],
            recovery_s=[i["recovery_s"] for i in figures["instants"]])  # fmt: skip


@pytest.mark.cluster
@pytest.mark.timeout(300)
def test_a_throttled_broker_is_slow_not_dead(whole, tmp_path):
    """throttle-broker pauses and resumes the leader of partition 0 (100 ms each) for 3 s: the
    requests it leads wait, none is lost, and the broker is never killed."""
    cfg = RunConfig(rate=200, warmup_s=1, duration_s=10, brokers=3, replication_factor=3,
                    fault="throttle-broker", outage_s=3, fault_at_s=2, broker_warmup_s=0,
                    drain_timeout_s=60)  # fmt: skip
    metrics = run_experiment(cfg, tmp_path / "run", progress=False, kafka=whole)
    (throttle,) = _faults_ok(metrics, ["throttle-broker"])
    assert 10 <= throttle["pauses"] <= 16 and throttle["end"] - throttle["at"] >= 3, throttle
    assert all(whole.node_running(n) for n in (1, 2, 3))
    (instant,) = metrics["faults"]["instants"]
    # A request led by it waited out a pause. Not the span's pMax: a quiet machine keeps every
    # bin's p99 under the objective (max ~220 ms), so there is no unavailability span at all.
    records = pd.read_parquet(tmp_path / "run" / RECORDS_FILE)
    during = records[records["sent_at"].between(throttle["at"], throttle["end"])]
    waited_ms = 1000 * (during["done_at"] - during["scheduled_at"]).max()
    assert waited_ms >= 100, (waited_ms, instant)
    _no_accepted_event_lost(metrics)
    _record(
        "one broker throttled (paused 100 ms, running 100 ms) for 3 s",
        metrics,
        unavailability_s=instant["unavailability_s"],
        max_latency_ms=round(waited_ms),
    )


# The API restart runs: 10 s at 300 events/s, the SIGTERM at 5 s (half the events). The restart
# takes 0.5-2.5 s, so it lands mid-load with seconds of load after it; the rate, and with it what
# is in flight or queued in the producers when SIGTERM comes, is that of a longer run.
RESTART_EVENTS = 3000


def test_api_sigterm_mid_run_loses_nothing_that_was_accepted(kafka, tmp_path):
    cfg = RunConfig(events=RESTART_EVENTS, rate=300, fault="restart-api",
                    bootstrap_servers=kafka.bootstrap_servers)  # fmt: skip
    metrics = run_experiment(cfg, tmp_path / "run", progress=False)
    (fault,) = _faults_ok(metrics, ["restart-api"])
    assert fault["exit_code"] == 0, fault  # it stopped by itself on SIGTERM, not by a SIGKILL
    refused = _refused_after(tmp_path / "run", fault)
    _no_accepted_event_lost(metrics)
    c = metrics["counts"]
    assert c["accepted"] + c["rejected"] + c["failed"] == c["sent"] == RESTART_EVENTS
    # Requests caught by the restart fail with a clear status (connection refused = 0), never 5xx
    # with an accepted event lost.
    records = pd.read_parquet(tmp_path / "run" / RECORDS_FILE)
    assert set(records["status"]) <= {0, 202, 503}, set(records["status"])
    _record("API SIGTERM + restart mid-run", metrics, refused_or_503=refused)


@pytest.mark.parametrize("server", WORKER_SERVERS)
def test_async_delivery_api_sigterm_flushes_what_it_accepted(kafka, tmp_path, server):
    """Each server's own flush at worker exit (the other tests run on the default server)."""
    cfg = RunConfig(events=RESTART_EVENTS, rate=300, delivery="async", fault="restart-api",
                    server=server, bootstrap_servers=kafka.bootstrap_servers)  # fmt: skip
    metrics = run_experiment(cfg, tmp_path / "run", progress=False)
    (fault,) = _faults_ok(metrics, ["restart-api"])
    assert fault["exit_code"] == 0, fault
    refused = _refused_after(tmp_path / "run", fault)
    _no_accepted_event_lost(metrics)
    _record(f"API SIGTERM + restart mid-run, async delivery, {server}", metrics,
            refused_or_503=refused)  # fmt: skip


def test_api_sigkill_mid_run_with_ack_delivery_loses_nothing(kafka, tmp_path):
    """A crash of the API (every process SIGKILLed, nothing flushed) loses nothing it answered
    202 in `ack` mode: the broker had every such event before the answer. Twice in one run, in
    time: 2 s and 8 s into the measured window, each cycle once the API is back; keyed by user,
    so the per-key order audit runs on it."""
    # 150 events/s: at 300 beside the busy suite on a slow day the API answered at a p50 of 450 ms
    # before any kill, and after the first kill's backlog every sender waited on a slow answer:
    # none tried while the API was down the second time (no refusal, and no span that ended).
    cfg = RunConfig(rate=150, warmup_s=1, duration_s=15, fault="kill-api", fault_at_s=2,
                    fault_cycles=2, fault_every_s=6, key="user_id",
                    bootstrap_servers=kafka.bootstrap_servers)  # fmt: skip
    metrics = run_experiment(
        cfg, tmp_path / "run", progress=False, p99_objective_ms=FIGURES_OBJECTIVE_MS
    )
    kills = _faults_ok(metrics, ["kill-api", "kill-api"])
    assert [k["cycle"] for k in kills] == [1, 2]
    assert kills[1]["at"] - kills[0]["at"] == pytest.approx(6, abs=0.5)
    refused = 0
    for fault in kills:
        assert fault["exit_code"] == -signal.SIGKILL, fault
        refused += _refused_after(tmp_path / "run", fault)
    _no_accepted_event_lost(metrics)
    figures = metrics["faults"]
    assert figures["landed"] == 2 and figures["missed"] == 0
    tl = _timeline_adds_up(tmp_path / "run", metrics)
    instants = figures["instants"]
    for instant, following in zip(instants, [*instants[1:], None], strict=True):
        assert instant["errors"]["refused"] > 0, instant  # refused while it was down
        if instant["unavailability_s"] is None:  # the next kill came first: the bins say so
            assert following is not None, instant  # the last one has the rest of the load
            assert not _good_bins_in_a_row(tl, instant["end"], following["at"]), (instant, tl)
        else:
            assert instant["unavailability_s"] > 0, instant
    assert instants[-1]["unavailability_s"] is not None, instants[-1]
    # keyed: the per-key order audit covers a fault run too (answered before sent: kept in order)
    order = metrics["order"]
    assert order["audited"] and order["pairs_checked"] > 0 and order["violations"] == 0, order
    _record("API SIGKILL + restart mid-run (ack), twice", metrics, refused_or_503=refused,
            unavailability_s=[i["unavailability_s"] for i in figures["instants"]])  # fmt: skip


def test_api_sigkill_with_async_delivery_is_a_loss_the_run_reports(kafka, tmp_path):
    """`async` answers 202 once an event is queued in the API's producer: SIGKILL loses what was
    queued (docs/RELIABILITY.md). The run must count that loss and `harness run` exit 1.

    The loss must be certain, and its size known. The linger (4 s) outlasts the 2 s before the
    kill (a time trigger), so nothing answered before the kill has left the API: all of it is
    lost, and nothing sent once the API is back. (With a count trigger the kill came just after
    a batch landed; on a slow day the API's batches went out together and it lost 3 events.)
    The drain (10 s) outlasts the linger, so what the restarted API queued is in the log."""
    out = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "harness", "run", "--rate", "1000", "--warmup-s", "1",
         "--duration-s", "4", "--fault-at-s", "1", "--delivery", "async", "--linger-ms", "4000",
         "--fault", "kill-api", "--drain-timeout-s", "10",
         "--bootstrap-servers", kafka.bootstrap_servers, "--out", str(out), "--quiet"],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    metrics = json.loads((out / METRICS_FILE).read_text())
    (fault,) = _faults_ok(metrics, ["kill-api"])
    assert fault["exit_code"] == -signal.SIGKILL, fault
    records = read_client_records(out)
    accepted = records[records["accepted"]]
    answered_before = int((accepted["done_at"] < fault["at"]).sum())
    sent_before_back = int((accepted["sent_at"] < fault["end"]).sum())
    c = metrics["counts"]
    assert 0 < answered_before <= c["lost"] <= sent_before_back, (answered_before, c)
    # Consumed: the accepted events not lost, and perhaps some of a failed request (its answer
    # was cut off, its event was not).
    kept = c["accepted"] - c["lost"]
    assert kept <= c["unique_consumed"] <= kept + c["failed"], c
    assert done.returncode == 1, (done.returncode, done.stdout[-2000:], done.stderr[-2000:])
    assert f"lost {c['lost']}" in done.stdout
    _record("API SIGKILL + restart mid-run (async): the loss is reported", metrics)


def test_consumer_sigkill_and_restart_loses_nothing(kafka, tmp_path):
    cfg = RunConfig(events=6000, threads=50, fault="kill-consumer",
                    bootstrap_servers=kafka.bootstrap_servers)  # fmt: skip
    metrics = run_experiment(cfg, tmp_path / "run", progress=False)
    (fault,) = _faults_ok(metrics, ["kill-consumer"])
    assert fault["exit_code"] == -signal.SIGKILL, fault
    _no_accepted_event_lost(metrics)
    assert metrics["counts"]["accepted"] == 6000
    # The kill came with events still to log (it fires at half the events in Kafka): the
    # restarted consumer, a new process, logged the rest.
    assert fault["lines_logged_at_kill"] < metrics["counts"]["consumed"], fault
    output = consumer_output_path(tmp_path / "run", 0).read_text()
    assert output.count("consumer ready") == 2, output
    assert metrics["unparsed_lines"] == 0  # no torn line survived the SIGKILL
    _record("consumer SIGKILL + restart mid-run", metrics)


@pytest.mark.cluster
@pytest.mark.timeout(600)
def test_broker_sigkill_with_replication_3_loses_nothing(whole, tmp_path):
    """The defaults of the guarantee: acks=all, the idempotent producer, RF 3 with min ISR 2 set
    by the run itself. Counted from the topic (the topic audit), so that a producer retry that
    wrote an event twice shows as a duplicate in Kafka itself; the consumers' log must agree."""
    assert ProducerSettings.acks == "all"
    cfg = RunConfig(events=6000, threads=50, brokers=3, replication_factor=3,
                    fault="kill-broker", audit="topic", drain_timeout_s=90,
                    broker_warmup_s=0)  # fmt: skip
    run = tmp_path / "run"
    with open_system(cfg, run, say=lambda msg: None, kafka=whole) as system:
        topic_config = admin.topic_config(system.bootstrap, system.topic)
        metrics = measure(system, cfg, run, progress=False)
    assert topic_config["min.insync.replicas"] == "2", topic_config  # RF >= 3: set by the run
    (fault,) = _faults_ok(metrics, ["kill-broker"])
    assert fault["node"] in (1, 2, 3)
    _broker_failed_over(fault)
    _no_accepted_event_lost(metrics)
    assert metrics["counts"]["duplicates"] == 0, metrics["counts"]  # idempotence, in Kafka
    logged = metrics["run"]["log_audit_counts"]
    assert logged["lost"] == 0 and logged["unique_consumed"] == metrics["counts"]["accepted"]
    _record("broker SIGKILL mid-run (3 brokers, RF 3, acks=all)", metrics)


def test_fault_table_guard_detects_loss():
    """The guarantee check itself fails when an accepted event is missing (it can fail)."""
    broken = {"counts": {"accepted": 10, "lost": 1, "unique_consumed": 9, "consumed": 9,
                         "duplicates": 0}}  # fmt: skip
    with pytest.raises(AssertionError):
        _no_accepted_event_lost(broken)
