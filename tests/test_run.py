"""One experiment end to end (`harness run`) against real Kafka, gunicorn and consumer processes.

Runs that do not kill brokers share the session's broker (as an "external" cluster: a fresh topic
per run); the broker-fault run starts its own 3-broker cluster.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from kafka_helpers import ProcessWatch

from harness.cli import main
from harness.params import RunConfig
from harness.run import run_experiment

pytestmark = pytest.mark.kafka

METRIC_KEYS = {"config", "environment", "counts", "duration_s", "throughput_eps", "latency_ms"}
COUNT_KEYS = {"sent", "accepted", "rejected", "failed", "consumed", "unique_consumed", "lost",
              "duplicates"}  # fmt: skip


def _run(kafka, tmp_path, **params) -> dict:
    # Short runs: no warm-up, so that every event is in the figures.
    params.setdefault("warmup_s", 0)
    cfg = RunConfig(bootstrap_servers=kafka.bootstrap_servers, drain_timeout_s=60, **params)
    return run_experiment(cfg, tmp_path / "run", progress=False)


def test_closed_loop_run_logs_every_accepted_event(kafka, tmp_path):
    metrics = _run(kafka, tmp_path, events=1500, threads=50)
    counts = metrics["counts"]
    assert counts["sent"] == counts["accepted"] == counts["unique_consumed"] == 1500
    assert counts["lost"] == 0 and counts["duplicates"] == 0
    assert set(metrics) >= METRIC_KEYS and set(counts) >= COUNT_KEYS
    assert metrics["throughput_eps"] > 0
    assert 0 < metrics["latency_ms"]["http"]["p50"] <= metrics["latency_ms"]["http"]["p99"]
    assert metrics["latency_ms"]["send_delay"] is None  # closed loop
    assert metrics["environment"]["kafka_version"] and metrics["environment"]["client_library"]
    run = tmp_path / "run"
    for name in ("metrics.json", "config.json", "events.log", "client_records.parquet", "api.log"):
        assert (run / name).exists(), name
    assert json.loads((run / "metrics.json").read_text())["counts"] == counts


def test_batch_endpoint_with_two_consumers(kafka, tmp_path):
    metrics = _run(
        kafka, tmp_path, events=4000, threads=4, endpoint="batch", events_per_request=250,
        consumers=2, partitions=4,
    )  # fmt: skip
    counts = metrics["counts"]
    assert counts["accepted"] == counts["unique_consumed"] == 4000 and counts["lost"] == 0
    files = sorted(p.name for p in (tmp_path / "run").glob("events*.log"))
    assert files == ["events-0.log", "events-1.log"]


def test_open_loop_above_capacity_reports_growing_send_delay(kafka, tmp_path):
    metrics = _run(kafka, tmp_path, events=3000, rate=50_000)
    delay = metrics["latency_ms"]["send_delay"]
    assert delay is not None and delay["max"] > delay["p50"] > 0
    assert metrics["achieved_rate_eps"] < 0.8 * metrics["target_rate_eps"]
    assert metrics["counts"]["lost"] == 0


def test_bad_parameters_fail_before_anything_starts(tmp_path):
    with pytest.raises(ValueError, match="fault=kill-broker needs brokers >= 2"):
        RunConfig(fault="kill-broker")
    with pytest.raises(ValueError, match="acks must be one of"):
        RunConfig.from_dict({"acks": "most"})
    with pytest.raises(ValueError, match="unknown run parameter"):
        RunConfig.from_dict({"treads": 3})
    with pytest.raises(ValueError, match="server must be one of"):
        RunConfig(server="gevent")
    assert RunConfig.from_dict({"acks": 1, "rate": "100"}) == RunConfig(acks="1", rate=100.0)


# Settings the harness refuses (docs/CONTRACTS.md): exit 2, one line, before anything starts.
REFUSED = [
    (["--fault", "kill-broker", "--brokers", "3", "--replication-factor", "3",
      "--bootstrap-servers", "127.0.0.1:9"], "needs the embedded cluster, not an external one"),
    (["--replication-factor", "3"], "needs at least that many brokers (brokers=1)"),
    (["--brokers", "2", "--replication-factor", "2", "--min-insync-replicas", "3"],
     "min_insync_replicas cannot exceed replication_factor"),
]  # fmt: skip


@pytest.mark.parametrize("command", [["run"], ["capacity", "--p99-objective-ms", "250"]])
@pytest.mark.parametrize("args, words", REFUSED)
def test_impossible_clusters_are_refused_before_anything_starts(
    tmp_path, capsys, monkeypatch, command, args, words
):
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)  # the embedded cluster's rules
    out = tmp_path / "never"
    with ProcessWatch() as watch:
        code = main([*command, *args, "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and words in err, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert watch.new == set() and not out.exists()  # no process, no directory


def test_cli_run_prints_summary_and_writes_metrics(kafka, tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "harness", "run", "--events", "300", "--threads", "10", "--warmup-s", "0",
         "--bootstrap-servers", kafka.bootstrap_servers, "--out", str(tmp_path / "cli"), "--quiet"],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    assert "lost 0" in out.stdout and "events/s" in out.stdout
    metrics = json.loads((tmp_path / "cli" / "metrics.json").read_text())
    assert metrics["counts"]["unique_consumed"] == 300


def test_a_fault_that_missed_the_load_fails_the_run(kafka, tmp_path):
    """A second API restart due 5 s after the first recovered, in a load of 3 s: it cannot land.
    The run writes its metrics (the reports say which cycle missed) and exits 1 saying so."""
    out = subprocess.run(
        [sys.executable, "-m", "harness", "run", "--rate", "100", "--warmup-s", "0.5",
         "--duration-s", "3", "--fault", "restart-api", "--fault-at-s", "0.5",
         "--fault-cycles", "2", "--bootstrap-servers", kafka.bootstrap_servers,
         "--out", str(tmp_path / "run"), "--quiet"],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert out.returncode == 1 and "FAULT MISSED THE LOAD" in out.stderr, out.stderr[-3000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["faults"]["landed"] == 1 and metrics["faults"]["missed"] == 1
    assert [r.get("missed", False) for r in metrics["run"]["faults"]] == [False, True]
