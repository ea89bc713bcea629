"""The warm-up of a broker the harness starts (`broker_warmup_s`), against real processes.

A run on its own broker drives the warm-up's load through the real path first, and none of it
reaches the measured run's topic, log or counts; a sweep warms its shared broker once, with the
first point's load, and says so in sweep.json; an external cluster is never warmed.
"""

from __future__ import annotations

import json

import pytest
from kafka_helpers import run_in_process

from harness.params import RunConfig
from harness.run import run_experiment
from harness.sweep import run_sweep

pytestmark = pytest.mark.kafka


def test_negative_warmup_is_refused():
    with pytest.raises(ValueError, match="broker_warmup_s must be >= 0"):
        RunConfig(broker_warmup_s=-1)


def test_run_on_its_own_broker_is_warmed_apart_from_the_measured_run(tmp_path, monkeypatch):
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    cfg = RunConfig(events=600, threads=20, warmup_s=0, broker_warmup_s=2)
    assert cfg.bootstrap_servers is None  # the run starts its own broker
    metrics = run_experiment(cfg, tmp_path / "run", progress=False)
    warmed = metrics["run"]["broker_warmup"]
    assert warmed["seconds"] == 2 and warmed["accepted"] > 0
    # The warm-up's events went to a topic of their own: the run counts exactly its own.
    counts = metrics["counts"]
    assert counts["sent"] == counts["accepted"] == counts["unique_consumed"] == 600
    assert counts["lost"] == 0 and counts["duplicates"] == 0
    logged = sum(1 for p in (tmp_path / "run").glob("events*.log") for _ in p.open("rb"))
    assert logged == 600


def test_run_on_an_external_cluster_is_not_warmed(kafka, tmp_path):
    cfg = RunConfig(bootstrap_servers=kafka.bootstrap_servers, events=200, threads=10,
                    warmup_s=0, broker_warmup_s=30)  # fmt: skip
    metrics = run_experiment(cfg, tmp_path / "run", progress=False)
    assert "broker_warmup" not in metrics["run"]


def test_sweep_warms_its_shared_broker_once(tmp_path, monkeypatch):
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    grid = {"events": 300, "threads": 20, "warmup_s": 0, "broker_warmup_s": 2, "repeat": 2}
    summary = run_sweep(grid, tmp_path / "sweep", execute=run_in_process, progress=False)
    info = json.loads((tmp_path / "sweep" / "sweep.json").read_text())
    assert info["broker_warmup"]["seconds"] == 2 and info["broker_warmup"]["accepted"] > 0
    assert list(summary["status"]) == ["ok", "ok"]
    assert list(summary["counts.unique_consumed"]) == [300, 300]
    # The runs met the shared broker (an external cluster to them): none warmed one of its own.
    for run_dir in (tmp_path / "sweep" / "runs").glob("*/rep-*"):
        run = json.loads((run_dir / "metrics.json").read_text())["run"]
        assert "broker_warmup" not in run
