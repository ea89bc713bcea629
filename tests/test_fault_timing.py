"""Faults in time on their own (no Kafka): the time trigger's cycles, the gap that lets each
recover, and a cycle the load no longer covers reported missed, never run; the refusals of a
fault that would miss the load before anything starts."""

from __future__ import annotations

import itertools
import time

import pytest

from harness.faults import MISSED, Faults, TimeTrigger, missed
from harness.params import RunConfig


def test_cycles_come_every_s_after_the_start_each_after_the_last_recovered():
    fired: list[float] = []
    trigger = TimeTrigger(lambda: fired.append(time.time()) or {"fault": "x", "target": "t"},
                          lambda: time.sleep(0.1) or {"recovered": True}, cycles=4,
                          first_s=0.2, every_s=0.6, load_s=1.6).start()  # fmt: skip
    t0 = time.time()
    trigger.load_started(t0)
    time.sleep(2.0)
    reports = trigger.stop()
    assert [r["cycle"] for r in reports] == [1, 2, 3, 4]
    # the 4th is due at 2.0 s, after the load's 1.6 s (a busy machine wakes threads late: 0.15 s)
    assert [f - t0 for f in fired] == pytest.approx([0.2, 0.8, 1.4], abs=0.15)
    assert all(r["recovered"] and r["at"] <= r["end"] <= r["recovered_at"] for r in reports[:3])
    assert not reports[2]["after_load"]
    assert (
        reports[3]["missed"] and MISSED in reports[3]["error"] and missed(reports) == [reports[3]]
    )


def test_without_every_s_the_next_cycle_waits_out_a_gap_after_the_recovery(monkeypatch):
    monkeypatch.setattr("harness.faults.CYCLE_GAP_S", 0.2)
    fired: list[float] = []
    trigger = TimeTrigger(lambda: fired.append(time.time()) or {}, lambda: time.sleep(0.3) or {},
                          cycles=2, first_s=0.0, every_s=None, load_s=5).start()  # fmt: skip
    t0 = time.time()
    trigger.load_started(t0)
    time.sleep(0.9)
    trigger.stop()
    assert len(fired) == 2 and fired[1] - fired[0] == pytest.approx(0.5, abs=0.15)


def test_a_trigger_whose_load_never_started_reports_its_fault_missed():
    reports = TimeTrigger(lambda: {}, lambda: {}, 1, 0.0, None, 1.0).start().stop()
    assert reports[0]["missed"] and "never started" in reports[0]["error"]


@pytest.mark.parametrize(
    "given, words",
    [
        ({"fault": "restart-api", "fault_at_s": 9, "rate": 100, "duration_s": 8}, "not inside the measured window"),
        ({"fault": "restart-api", "fault_at_s": 1, "fault_cycles": 3, "fault_every_s": 4,
          "rate": 100, "duration_s": 8}, "the last cycle \\(9 s\\) is not inside"),
        ({"fault": "restart-api", "fault_at_s": 1, "events": 100}, "length is known"),
        ({"fault": "restart-api", "fault_cycles": 2, "rate": 100, "duration_s": 8}, "set --fault-at-s"),
        ({"fault": "kill-broker-twice", "fault_at_s": 1, "brokers": 3, "replication_factor": 3,
          "rate": 100, "duration_s": 8}, "--fault kill-broker --fault-cycles 2"),
        ({"fault_at_s": 1, "rate": 100, "duration_s": 8}, "set --fault too"),
    ],
)  # fmt: skip
def test_a_fault_that_would_miss_the_load_is_refused_before_anything_starts(given, words):
    with pytest.raises(ValueError, match=words):
        RunConfig(**given)
    # the measured window counts from the warm-up's end: 3 s of auto warm-up, then 8 s
    assert RunConfig(fault="restart-api", fault_at_s=7.9, rate=100, duration_s=8).measured_s() == 8


def test_the_broker_warm_up_of_a_fault_run_on_3_brokers_is_a_valid_run_without_the_fault():
    """(It was refused: brokers=3 with the cluster's bootstrap servers, so no run on 3 brokers
    could warm them.)"""
    from harness.run import warmup_config

    cfg = RunConfig(brokers=3, replication_factor=3, rate=100, duration_s=20, fault="kill-broker",
                    fault_at_s=2, fault_cycles=2)  # fmt: skip
    warm = warmup_config(cfg, "127.0.0.1:1,127.0.0.1:2,127.0.0.1:3")
    assert (warm.fault, warm.fault_at_s, warm.replication_factor, warm.isr()) == (
        "none",
        None,
        3,
        2,
    )
    assert warm.bootstrap_servers == "127.0.0.1:1,127.0.0.1:2,127.0.0.1:3"


class _SlowBroker:
    """A cluster whose pause and resume take 30 ms each (a busy machine's signals and checks)."""

    def __init__(self) -> None:
        self.paused: list[float] = []
        self.resumed: list[float] = []

    def pause_node(self, node: int) -> None:
        time.sleep(0.03)
        self.paused.append(time.monotonic())

    def resume_node(self, node: int) -> None:
        time.sleep(0.03)
        self.resumed.append(time.monotonic())


# Alone on the machine under xdist (conftest.py): beside the busy suite its own sleeps overshot
# (gaps of 240-300 ms, 9 pauses).
@pytest.mark.exclusive
def test_the_throttle_keeps_its_duty_cycle_when_each_step_is_slow(monkeypatch):
    """100 ms paused, 100 ms running for 2 s: 10 pauses, 200 ms apart, even when each step takes
    30 ms (sleeping a fixed time after each step stretched the cycle: 8 pauses here, 9 in 3 s
    beside the busy suite instead of 15), and the fault lasts its 2 s."""
    slow = _SlowBroker()
    faults = Faults(RunConfig(fault="throttle-broker", outage_s=2.0), slow, [], None, "t", "b:1")
    monkeypatch.setattr(faults, "_leader", lambda: 2)
    report = faults.throttle()
    assert report["pauses"] == len(slow.paused) == 10, report
    gaps = [b - a for a, b in itertools.pairwise(slow.paused)]
    assert gaps == pytest.approx([0.2] * 9, abs=0.05), gaps
    assert report["end"] - report["at"] >= 2.0 and len(slow.resumed) == 11  # and resumed at the end
