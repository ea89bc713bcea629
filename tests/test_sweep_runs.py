"""Repetitions and objectives, end to end on the real broker: interleaved runs, their directories,
the points table's intervals, and the exit codes of `--slo`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from kafka_helpers import run_in_process

from harness.sweep import failed_slos, run_sweep

pytestmark = pytest.mark.kafka
ROOT = Path(__file__).resolve().parents[1]


def test_a_sweep_with_repeat_interleaves_points_and_gives_intervals(kafka, tmp_path):
    order = []

    def execute(params: dict, run_dir: Path, kernel_name, slos, objective=None) -> None:
        order.append((params["threads"], run_dir.name))
        run_in_process(params, run_dir, kernel_name, slos, objective)

    grid = {"events": 400, "warmup_s": 0, "threads": [5, 10], "repeat": 2,
            "bootstrap_servers": kafka.bootstrap_servers,
            "slo": ["counts.lost == 0", "latency_ms.http.p99 < 0.001"]}  # fmt: skip
    summary = run_sweep(grid, tmp_path, execute=execute, progress=False)
    assert order == [(5, "rep-1"), (10, "rep-1"), (5, "rep-2"), (10, "rep-2")]
    run_dirs = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.glob("runs/*/rep-*"))
    assert run_dirs == ["runs/01-threads=5/rep-1", "runs/01-threads=5/rep-2",
                        "runs/02-threads=10/rep-1", "runs/02-threads=10/rep-2"]  # fmt: skip
    assert all((tmp_path / d / "metrics.json").exists() for d in run_dirs)
    assert list(summary["repetition"]) == [1, 2, 1, 2] and (summary["status"] == "ok").all()
    points = pd.read_csv(tmp_path / "points.csv")
    assert list(points["repeats"]) == [2, 2]
    lo, mid, hi = (points[f"throughput_eps{s}"] for s in (".ci_lo", "", ".ci_hi"))
    assert lo.notna().all() and hi.notna().all() and ((lo <= mid) & (mid <= hi)).all()
    assert points["throughput_eps.cv"].notna().all()
    # The objectives: one holds, one cannot; every run says so, and the sweep counts them.
    verdicts = json.loads((tmp_path / run_dirs[0] / "metrics.json").read_text())["slo"]
    assert [v["ok"] for v in verdicts] == [True, False]
    assert failed_slos(summary) == 4


def _run_cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", "run", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)  # fmt: skip


@pytest.mark.parametrize("slo, code", [("counts.lost == 0", 0), ("latency_ms.http.p99 < 0.001", 1)])
def test_run_exits_by_its_objectives(kafka, tmp_path, slo, code):
    out = _run_cli("--events", "300", "--threads", "5", "--warmup-s", "0", "--quiet",
                   "--bootstrap-servers", kafka.bootstrap_servers, "--slo", slo,
                   "--out", str(tmp_path))  # fmt: skip
    assert out.returncode == code, out.stderr[-2000:]
    assert (f"SLO failed: {slo}" in out.stderr) == (code == 1)
    verdict = json.loads((tmp_path / "metrics.json").read_text())["slo"]
    assert verdict[0]["expr"] == slo and verdict[0]["ok"] == (code == 0)


def test_a_malformed_objective_is_refused_before_anything_starts(tmp_path):
    # No wall-clock bound (the CLI's imports alone took 30 s on a loaded machine): refused before
    # anything starts shows as no run directory.
    out = _run_cli("--slo", "p99 below 250", "--out", str(tmp_path / "never"), timeout=180)
    assert out.returncode == 2 and "--slo" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "never").exists()


def test_a_sweep_whose_point_loses_events_exits_1_after_writing_its_report(kafka, tmp_path):
    """`async` delivery answers 202 once an event is queued; a SIGKILLed API (`kill-api`) drops
    what it had queued: with a 4 s linger and the kill 2 s into the load (a time trigger),
    everything it had answered. (A kill at half the events came just after a batch landed: its
    loss could be a handful.) The sweep must see the loss, write its report saying so, and exit
    1. The drain (10 s) outlasts the linger: what the restarted API queued is logged."""
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers}
    out = subprocess.run(
        [sys.executable, "-m", "harness", "sweep", "--set", "delivery=async",
         "--set", "fault=kill-api", "--set", "linger_ms=4000", "--set", "rate=300",
         "--set", "warmup_s=1", "--set", "duration_s=4", "--set", "fault_at_s=1",
         "--set", "drain_timeout_s=10", "--set", "broker_warmup_s=0",
         "--out", str(tmp_path)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 1, out.stderr[-3000:]
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert summary.loc[0, "counts.lost"] > 100 and summary.loc[0, "status"] == "ok", summary.T
    assert "LOST" in out.stderr and "never reached the log" in out.stderr
    html = (tmp_path / "report.html").read_text()
    assert "were LOST" in html  # the report is written, and its warnings say it


def test_a_capacity_point_repeated_3_times_gives_the_median_and_the_range(kafka, tmp_path):
    """`repeat: 3` applies to a capacity point: three
    searches, whose median capacity and range points.csv, the point's capacity.json and the
    report give. Short searches (1 s steps, a coarse precision) keep this quick; a search may
    then find no capacity within its budget, and the tables must say that too."""
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers}
    grid = tmp_path / "grid.yaml"
    # One gunicorn thread that waits 50 ms (linger) per request: a capacity of tens of events/s,
    # so every step is light (the search is the subject, not the path).
    # The grid is its capacity point alone: three searches, nothing else to run.
    grid.write_text(
        "server: gunicorn\nworkers: 1\nworker_threads: 1\nlinger_ms: 50\nthreads: 20\n"
        "warmup_s: 0.5\nduration_s: 1\nrepeat: 3\nbroker_warmup_s: 0\n"
        "label: capacity\ncapacity: true\np99_objective_ms: 250\ncapacity_precision: 0.5\n"
        "capacity_max_steps: 3\n"
    )
    out = subprocess.run([sys.executable, "-m", "harness", "sweep", "--grid", str(grid),
                          "--out", str(tmp_path / "sweep")], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=600)  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    sweep = tmp_path / "sweep"
    summary = pd.read_csv(sweep / "summary.csv")
    assert list(summary["point"]) == ["01-capacity"] * 3
    point = pd.read_csv(sweep / "points.csv").set_index("label").loc["capacity"]
    assert point["capacity_searches"] == 3
    found = summary["capacity_eps"].dropna()
    assert point["capacity_found"] == len(found)
    combined = json.loads((sweep / "runs" / "01-capacity" / "capacity.json").read_text())
    assert len(combined["searches"]) == 3
    html = (sweep / "report.html").read_text()
    if len(found):
        assert point["capacity_eps"] == pytest.approx(found.median())
        assert (point["capacity_eps.min"], point["capacity_eps.max"]) == (found.min(), found.max())
        assert combined["capacity_eps"] == pytest.approx(found.median())
        assert "median of 3 searches" in html
    else:
        assert pd.isna(point["capacity_eps"]) and "no capacity found" in html
