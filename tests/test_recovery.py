"""The fault figures' rules on planted data (no server): the unavailability span (K = 3 good
bins), pMax and the errors inside it, the recovery of the consumer lag, and a timeline whose rows
add up to the run's counts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.analysis.metrics import compute_metrics
from harness.analysis.recovery import (
    GOOD_BINS,
    LAG_TOLERANCE,
    fault_figures,
    instant_figures,
    unavailability_span,
)
from harness.analysis.timeline import COLUMNS, FAILED_COLUMNS, request_frame, timeline

T0 = 1000.0


def planted(p99: list[float], failed: list[int], lag: list[float]) -> pd.DataFrame:
    """A 1 s timeline with 100 events due per bin: `failed` of them failed (503), the rest
    accepted; the http p99 and the mean lag as given."""
    n = len(p99)
    tl = pd.DataFrame({c: np.zeros(n) for c in COLUMNS})
    tl["t_s"] = np.arange(n, dtype=float)
    tl["start"] = T0 + tl["t_s"]
    tl["warmup"] = tl["t_s"] < 1
    tl["offered"] = 100
    tl["failed_503"] = failed
    tl["accepted"] = 100 - np.asarray(failed)
    tl["http_p99_ms"] = p99
    tl["lag_mean"] = lag
    tl["lag"] = lag
    return tl


# bins:      0   1   2   3   4    5     6     7   8    9   10   11  12  13  14  15  16  17  18  19
P99 = [20, 20, 20, 20, 20, 3000, 2500, 900, 30, 20, 400, 20, 20, 20, 20, 20, 20, 20, 20, 20]
FAILED = [0, 0, 0, 0, 0, 40, 100, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
LAG = [10, 10, 10, 10, 8, 0, 0, 200, 900, 2000, 1500, 500, 100, 12, 11, 13, 10, 10, 10, 10]


def requests_at(rows: list[tuple[float, float, int, int]]) -> pd.DataFrame:
    """(origin, http ms, accepted, failed 503) per request."""
    frame = pd.DataFrame(rows, columns=["origin", "http_ms", "accepted", "503"])
    for kind in ("refused", "timeout", "other"):
        frame[kind] = 0
    return frame


REQUESTS = requests_at([
    (1005.2, 8000.0, 1, 0),   # before the fault: not inside its span
    (1005.3, 2100.0, 0, 1),   # the fault's own instant: inside
    (1007.0, 4000.0, 0, 1),   # the largest inside the span
    (1010.9, 300.0, 1, 0),
    (1011.0, 9000.0, 1, 0),   # the span's end: outside
    (1012.5, 20.0, 1, 0),
])  # fmt: skip


def test_the_span_ends_at_the_first_three_consecutive_good_bins_with_pmax_inside_it():
    """Bins 5-8 fail or are slow; bin 9 is good but bin 10 is over the objective (400 > 250):
    not 3 in a row. Bins 11-13 are: the span ends at bin 11's start."""
    tl = planted(P99, FAILED, LAG)
    at = 1005.3
    assert unavailability_span(tl, at, 250.0) == 1011.0
    found = instant_figures(tl, REQUESTS, at, 250.0, until=2000.0, since=T0)
    assert found["unavailability_s"] == pytest.approx(5.7)
    assert found["span_end"] == 1011.0 and found["recovered"]
    assert found["p_max_ms"] == 4000.0
    assert found["requests_in_span"] == 3
    assert found["errors"] == {"503": 2, "refused": 0, "timeout": 0, "other": 0}
    assert found["accepted_in_span"] == 1
    # recovery: the lag is back within 10 (its peak before) x 1.25 + 1 for 3 bins from bin 13 on
    # (bin 12 at 100 is not); at the end of bin 13, 8.7 s after the fault
    assert found["lag_level"] == pytest.approx(10 * (1 + LAG_TOLERANCE) + 1)
    assert found["recovery_s"] == pytest.approx(1014.0 - at)
    # with a 500 ms objective bin 10 is good: bins 8 (30 ms, but 3 failed) no; 9, 10, 11 yes
    assert unavailability_span(tl, at, 500.0) == 1009.0


def test_no_span_without_three_good_bins_before_the_next_fault_or_the_end():
    tl = planted(P99, FAILED, LAG)
    assert unavailability_span(tl, 1005.3, 250.0, until=1013.0) is None  # bin 13 starts too late
    found = instant_figures(tl, REQUESTS, 1005.3, 250.0, until=1013.0, since=T0)
    assert found["unavailability_s"] is None and not found["recovered"]
    assert found["recovery_s"] is None
    assert found["p_max_ms"] == 9000.0  # a span not seen to end runs on to `until`
    assert GOOD_BINS == 3


def test_a_fault_that_disturbs_nothing_is_unavailable_for_no_time():
    tl = planted([20] * 10, [0] * 10, [10] * 10)
    found = instant_figures(tl, REQUESTS, 1003.4, 250.0, until=2000.0, since=T0)
    assert found["unavailability_s"] == 0 and found["p_max_ms"] is None
    assert found["recovery_s"] == pytest.approx(0.6)  # the end of the bin it began in


def test_figures_across_cycles_are_min_median_max_and_null_when_one_was_not_seen():
    tl = planted(P99 * 2, FAILED * 2, LAG * 2)
    tl["start"] = T0 + np.arange(len(tl))
    tl["t_s"] = np.arange(len(tl), dtype=float)
    reports = [{"fault": "kill-broker", "target": "broker 1", "at": 1005.3, "cycle": 1},
               {"fault": "kill-broker", "target": "broker 2", "at": 1025.3, "cycle": 2}]  # fmt: skip
    both = fault_figures(tl, REQUESTS, reports, "kill-broker", 250.0, load_end=1040.0, cycles=2)
    assert [i["unavailability_s"] for i in both["instants"]] == pytest.approx([5.7, 5.7])
    assert both["unavailability_s"] == pytest.approx({"min": 5.7, "median": 5.7, "max": 5.7})
    assert both["landed"] == 2 and both["missed"] == 0 and both["unrecovered"] == 0
    cut = fault_figures(tl, REQUESTS, reports, "kill-broker", 250.0, load_end=1033.0, cycles=2)
    assert cut["instants"][1]["unavailability_s"] is None and cut["unrecovered"] == 1
    assert cut["unavailability_s"] == {"min": None, "median": None, "max": None}
    missed = fault_figures(tl, REQUESTS, [*reports, {"cycle": 3, "missed": True}], "kill-broker")
    assert missed["missed"] == 1 and len(missed["instants"]) == 2


def test_the_timeline_adds_up_to_the_runs_counts():
    """An open loop of 40 events: accepted, a 503, a refused connection, a timeout, a 4xx and a
    5xx; half of the accepted logged (one twice), one never."""
    n = 40
    due = T0 + np.arange(n) * 0.1
    status = [202] * n
    error = [""] * n
    for i, (code, text) in {5: (503, "unavailable"), 6: (0, "ConnectionRefusedError: refused"),
                            7: (0, "TimeoutError: no answer within 5 s"), 8: (400, "bad"),
                            20: (500, "oops")}.items():  # fmt: skip
        status[i], error[i] = code, text
    records = pd.DataFrame({
        "event_id": [f"r-{i}" for i in range(n)], "request_id": range(n), "scheduled_at": due,
        "sent_at": due + 0.01, "done_at": due + 0.05 + (np.arange(n) == 7) * 5.0,
        "status": status, "accepted": [s == 202 for s in status], "error": error,
        "delivery_failed": False, "phase": ["warmup"] * 10 + ["measured"] * 30, "bytes": 90.0,
    })  # fmt: skip
    logged = [i for i in range(n) if status[i] == 202 and i != 39]
    log = pd.DataFrame({"event_id": [f"r-{i}" for i in logged] + ["r-0"],
                        "consumed_at": [due[i] + 0.3 for i in logged] + [due[0] + 0.4]})  # fmt: skip
    tl = timeline(records, log, bin_s=1.0)
    counts = compute_metrics(records, log, {}, {})["counts"]
    assert tl["sent"].sum() == counts["sent"] == n
    assert tl["offered"].sum() == n
    assert tl["accepted"].sum() == counts["accepted"]
    assert tl["rejected"].sum() == counts["rejected"] == 1
    assert tl[FAILED_COLUMNS].to_numpy().sum() == counts["failed"] == 4
    assert tl[FAILED_COLUMNS].sum().tolist() == [1, 1, 1, 1]  # 503, refused, timeout, other
    assert tl["logged"].sum() == counts["unique_consumed"]
    outcome = tl[["accepted", "rejected", *FAILED_COLUMNS]].sum(axis=1)
    assert (tl["offered"] == outcome).all()
    assert tl["warmup"].tolist()[:2] == [True, False]
    # the event never logged keeps the lag up to the end; the timeout's 5 s answer is in bin 0
    assert tl["lag"].iloc[-1] == 1 and tl["http_max_ms"].iloc[0] == pytest.approx(5050, abs=1)
    frame = request_frame(records)
    assert frame["503"].sum() == 1 and frame["accepted"].sum() == counts["accepted"]
