"""The capacity search on the real path (real broker, API and consumer), checked by open-loop runs.

Robust on a noisy 2-core machine because the setting's capacity is bound by waiting, not by CPU:
one gunicorn worker with 2 threads, each request waiting for its batch's acknowledgement after
linger.ms = 50, takes about 30 events/s (2 / 55 ms at best). The objective (400 ms) is well above
the latency below capacity (~60-150 ms even at a load average of 13), so a step fails where a
queue builds: past capacity by x, the wait grows by x seconds per second, 1.8 s at 1.3 times
over a 7 s run. Noise that remains: the capacity itself drifts with the machine's load (measured
34 -> 28 -> 34 events/s within a minute at a load average of 13); a drift of more than ~15%
between the search and the check can fail this test.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest

from harness import sweep
from harness.capacity import Objective, SearchSettings, search_capacity
from harness.params import RunConfig
from harness.run import measure, open_system
from harness.rundir import POINTS_FILE

# Alone on the machine under xdist (conftest.py): a capacity found, then checked by other runs at
# its very edge; and two searches compared (beside three other workers, load ~10 on 2 cores, the
# handler threads wait for the CPU as much as for linger.ms: the 2-thread search once found 16
# events/s against 17 for 1 thread).
pytestmark = [pytest.mark.kafka, pytest.mark.exclusive]

OBJECTIVE_MS = 400.0
STEP_S = 6.0  # steadiness judges windows of 5 whole seconds or more


def wait_bound_setting(bootstrap: str) -> RunConfig:
    # 20 closed-loop senders: the probe's backlog at ~30 events/s clears in a second.
    return RunConfig(server="gunicorn", workers=1, worker_threads=2, linger_ms=50, delivery="ack",
                     threads=20, warmup_s=1.0, bootstrap_servers=bootstrap)  # fmt: skip


def test_found_capacity_holds_in_an_open_loop_run_and_130_percent_does_not(kafka, tmp_path):
    cfg = wait_bound_setting(kafka.bootstrap_servers)
    result = search_capacity(cfg, tmp_path / "search", Objective(p99_ms=OBJECTIVE_MS),
                             SearchSettings(precision=0.1, max_steps=8), step_s=STEP_S,
                             progress=False)  # fmt: skip
    assert result["result"] == "found", result["summary"]
    capacity = result["capacity_eps"]
    assert all(s["lost"] == 0 for s in result["steps"])  # the steps were audited end to end
    # Open-loop runs at the capacity and at 1.3 times it, on a system of their own, warmed first
    # as the search's probe warms its system: a fresh API's first requests may stall (its
    # producer's first contact with the topic), and at capacity that backlog never drains.
    with open_system(cfg, tmp_path / "check", say=lambda msg: None) as system:
        warm = replace(cfg, rate=None, warmup_s=0.0, duration_s=2.0)
        measure(system, warm, tmp_path / "check" / "warm", progress=False)
        runs = {
            share: measure(
                system,
                replace(cfg, rate=round(share * capacity), duration_s=STEP_S),
                tmp_path / "check" / f"x{share}",
                progress=False,
            )  # fmt: skip
            for share in (1.0, 1.3)
        }
    at, over = runs[1.0], runs[1.3]
    assert at["latency_ms"]["http"]["p99"] <= OBJECTIVE_MS, (result["summary"], at["latency_ms"])
    assert at["counts"]["lost"] == 0
    assert over["latency_ms"]["http"]["p99"] > OBJECTIVE_MS, (result["summary"], over["latency_ms"])


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
