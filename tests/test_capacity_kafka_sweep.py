"""A sweep whose points are capacity searches (`capacity: true`) on the real path: each point gets
its own search, of its own setting.

The setting is the wait-bound one of tests/test_capacity_kafka.py (each request waits for its
batch's acknowledgement after linger.ms = 50), so the capacity follows the handler threads.
"""

from __future__ import annotations

import pandas as pd
import pytest

from harness import sweep
from harness.rundir import POINTS_FILE

# Beside quiet tests only under xdist (conftest.py): two searches compared. Beside three busy
# workers (load ~10 on 2 cores) the handler threads wait for the CPU as much as for linger.ms:
# the 2-thread search once found 16 events/s against 17 for 1 thread.
pytestmark = [pytest.mark.kafka, pytest.mark.quiet]

OBJECTIVE_MS = 400.0  # well above the latency below capacity (tests/test_capacity_kafka.py)


def test_a_sweep_with_capacity_true_gives_capacity_eps_for_both_points(kafka, tmp_path):
    grid = {
        "server": "gunicorn", "workers": 1, "worker_threads": [1, 2], "linger_ms": 50,
        "threads": 20, "warmup_s": 0.5, "duration_s": 2.0,  # a step: 0.5 s warm-up + 2 s
        "bootstrap_servers": kafka.bootstrap_servers,
        "capacity": True, "p99_objective_ms": OBJECTIVE_MS,
        "capacity_precision": 0.15, "capacity_max_steps": 6,  # a coarse search: the test is the wiring
    }  # fmt: skip
    summary = sweep.run_sweep(grid, tmp_path / "sweep", progress=False)
    assert len(summary) == 2 and (summary["status"] == "ok").all(), summary.get("error")
    assert summary["capacity_eps"].notna().all() and (summary["capacity_eps"] > 0).all()
    assert summary["capacity_reason"].notna().all()
    # Twice the handler threads, about twice the capacity (both wait for linger.ms, not CPU).
    one, two = summary.sort_values("config.worker_threads")["capacity_eps"]
    assert two > 1.3 * one
    points = pd.read_csv(tmp_path / "sweep" / POINTS_FILE)
    assert points["capacity_eps"].notna().all()
