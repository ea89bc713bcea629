"""Repetitions and objectives, end to end on the real broker: interleaved runs, their directories,
the points table's intervals, and the exit codes of `--slo`."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from kafka_helpers import run_in_process

from harness.sweep import failed_slos, run_sweep

pytestmark = pytest.mark.kafka
ROOT = Path(__file__).resolve().parents[1]


def test_a_sweep_with_repeat_interleaves_points_and_gives_intervals(kafka, tmp_path):
    order = []

    def execute(params: dict, run_dir: Path, kernel_name, slos) -> None:
        order.append((params["threads"], run_dir.name))
        run_in_process(params, run_dir, kernel_name, slos)

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
    started = time.monotonic()
    out = _run_cli("--slo", "p99 below 250", "--out", str(tmp_path / "never"), timeout=60)
    assert out.returncode == 2 and "--slo" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "never").exists() and time.monotonic() - started < 30
