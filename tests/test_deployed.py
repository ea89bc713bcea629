"""Driving a system the harness did not start, and choosing the cluster: real processes throughout.

- `KAFKA_BOOTSTRAP_SERVERS` makes `harness run` start no broker of its own (the sweep's side is in
  tests/test_notebooks.py);
- a sweep point whose fault stops brokers gets a cluster of its own, the others share one;
- `--api-url` drives an API started elsewhere (`harness up`) and accounts every event through
  the topic audit;
- on an ordinary run the topic audit and the consumer's log agree exactly;
- faults that need the harness's own API or consumer are refused with `--api-url`, at once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from kafka_helpers import BrokerWatch, run_in_process

from harness.params import RunConfig
from harness.ports import free_port
from harness.run import run_experiment
from harness.sweep import run_sweep

pytestmark = pytest.mark.kafka
ROOT = Path(__file__).resolve().parents[1]


def _harness(*args: str, env: dict | None = None, timeout: float = 240):
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        cwd=ROOT, env={**os.environ, **(env or {})}, capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip


def test_env_cluster_makes_run_start_no_broker(kafka, tmp_path):
    """(The sweep's side: tests/test_notebooks.py runs the sweep notebook the same way.)"""
    env = {"KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers}
    with BrokerWatch() as watch:
        run = _harness("run", "--events", "200", "--threads", "5", "--warmup-s", "0",
                       "--out", str(tmp_path / "run"), "--quiet", env=env)  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    assert watch.new == set(), "a broker was started although KAFKA_BOOTSTRAP_SERVERS was set"
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["bootstrap_servers"] == kafka.bootstrap_servers


@pytest.mark.cluster
def test_sweep_gives_a_kafka_outage_point_its_own_cluster(tmp_path, monkeypatch):
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    # No broker warm-up (the shared broker's nor the outage point's): which cluster a point gets
    # is the test, not how fast a cold broker is.
    grid = {
        "events": 600, "rate": 200, "warmup_s": 0, "threads": 5, "broker_warmup_s": 0,
        "extra_points": [{"label": "outage", "fault": "kafka-outage", "outage_s": 1}],
    }  # fmt: skip
    summary = run_sweep(grid, tmp_path, execute=run_in_process,
                        progress=False)  # fmt: skip
    assert list(summary["status"]) == ["ok", "ok"], summary.get("error")
    shared, outage = summary.iloc[0], summary.iloc[1]
    assert str(shared["config.bootstrap_servers"]).startswith("127.0.0.1:")  # the sweep's broker
    assert pd.isna(outage["config.bootstrap_servers"])  # started its own
    faults = json.loads((tmp_path / "runs" / "02-outage" / "metrics.json").read_text())["run"]
    assert [f["fault"] for f in faults["faults"]] == ["kafka-outage"]
    assert not faults["faults"][0]["after_load"], faults  # it landed while the load ran
    assert outage["counts.lost"] == 0 and outage["counts.accepted"] > 0


def test_api_url_drives_a_system_started_by_harness_up(kafka, tmp_path):
    home, port = tmp_path / "home", free_port()
    env = {"HARNESS_HOME": str(home)}
    topic = f"deployed-{port}"
    up = _harness("up", "--port", str(port), "--bootstrap-servers", kafka.bootstrap_servers,
                  "--topic", topic, env=env, timeout=120)  # fmt: skip
    try:
        assert up.returncode == 0, up.stderr[-2000:]
        url = up.stdout.strip().splitlines()[-1]
        with BrokerWatch() as watch:
            run = _harness("run", "--api-url", url, "--bootstrap-servers", kafka.bootstrap_servers,
                           "--topic", topic, "--events", "500", "--threads", "10",
                           "--warmup-s", "0", "--out", str(tmp_path / "run"), "--quiet",
                           env=env)  # fmt: skip
    finally:
        down = _harness("down", env=env, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert down.returncode == 0, down.stderr[-2000:]
    assert watch.new == set()
    run_dir = tmp_path / "run"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    counts = metrics["counts"]
    assert counts["sent"] == counts["accepted"] == 500
    assert counts["unique_consumed"] == 500 and counts["lost"] == 0
    assert metrics["run"]["audit"] == "topic" and metrics["run"]["topic_audit"]["drained"]
    assert not (run_dir / "api.log").exists() and not list(run_dir.glob("events*.log"))


def test_topic_audit_and_log_audit_agree_exactly(kafka, tmp_path):
    cfg = RunConfig(events=1500, threads=20, warmup_s=0, audit="topic",
                    bootstrap_servers=kafka.bootstrap_servers)  # fmt: skip
    metrics = run_experiment(cfg, tmp_path, progress=False)
    assert metrics["counts"]["lost"] == 0 and metrics["counts"]["unique_consumed"] == 1500
    assert metrics["run"]["log_audit_counts"] == metrics["counts"]
    assert metrics["run"]["topic_audit"]["timestamp_type"] == "LogAppendTime"


def test_api_url_with_a_fault_on_the_api_is_refused_before_anything_starts(tmp_path):
    # No wall-clock bound: on a loaded machine the CLI's imports alone took 30 s. That nothing
    # waited on the unreachable cluster shows in what the refusal did not do: no broker, no run dir.
    with BrokerWatch() as watch:
        result = _harness("run", "--api-url", "http://127.0.0.1:9", "--bootstrap-servers",
                          "127.0.0.1:9", "--fault", "restart-api", "--out", str(tmp_path / "r"),
                          timeout=180)  # fmt: skip
    assert result.returncode == 2
    assert "fault=restart-api stops the API or a consumer" in result.stderr
    assert "Traceback" not in result.stderr
    assert watch.new == set() and not (tmp_path / "r").exists()
