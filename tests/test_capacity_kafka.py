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

import pytest

from harness.capacity import Objective, SearchSettings, search_capacity
from harness.params import RunConfig
from harness.run import measure, open_system

# Beside quiet tests only under xdist (conftest.py): a capacity found, then checked by other runs
# at its very edge. Beside three busy workers (load ~10 on 2 cores) the handler threads wait for
# the CPU as much as for linger.ms, and the capacity drifts.
pytestmark = [pytest.mark.kafka, pytest.mark.quiet]

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
