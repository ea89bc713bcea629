"""harness.analysis.points: the points table, the best point and the points indistinguishable
from it, on summaries with known values."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from harness.analysis import stats
from harness.analysis.points import best_point, compare_to_best, point_params, points_table


def _rep(point, k, threads, tput, p99, status="ok", lost=0, steady=True, bound=False, **extra):
    return {
        "run_dir": f"/runs/{point}/rep-{k}", "point": point, "label": None, "repetition": k,
        "status": status, "error": None if status == "ok" else "boom",
        "config.threads": threads, "config.bootstrap_servers": "127.0.0.1:1",
        "throughput_eps": tput, "latency_ms.http.p50": p99 / 4, "latency_ms.http.p99": p99,
        "latency_ms.e2e.p99": p99 * 2, "latency_ms.send_delay": None,
        "counts.lost": lost, "counts.duplicates": 1, "steadiness.steady": steady,
        "client_bound": bound, **extra,
    }  # fmt: skip


def _summary() -> pd.DataFrame:
    rows = [
        _rep("a", 1, 10, 100.0, 10.0),
        _rep("a", 2, 10, 120.0, 12.0, lost=2, bound=None),
        _rep("a", 3, 10, 110.0, 11.0, steady=False),
        _rep("b", 1, 50, 400.0, 50.0),
        _rep("b", 2, 50, float("nan"), float("nan"), status="failed", lost=None),
        _rep("c", 1, 200, 900.0, 80.0),
    ]
    return pd.DataFrame(rows)


def test_points_table_medians_intervals_cv_and_aggregates():
    table = points_table(_summary()).set_index("point")
    assert list(table.index) == ["a", "b", "c"]
    a, b = table.loc["a"], table.loc["b"]
    assert a["repeats"] == 3 and a["repeats_ok"] == 3 and a["status"] == "ok"
    assert a["throughput_eps"] == 110.0
    # three repetitions: the bootstrap interval of the median is their range
    assert (a["throughput_eps.ci_lo"], a["throughput_eps.ci_hi"]) == (100.0, 120.0)
    assert (a["latency_ms.http.p99.ci_lo"], a["latency_ms.http.p99.ci_hi"]) == (10.0, 12.0)
    assert a["latency_ms.e2e.p99"] == 22.0 and a["latency_ms.http.p50"] == 2.75
    assert a["throughput_eps.cv"] == pytest.approx(10.0 / 110.0)
    assert a["latency_ms.http.p99.cv"] == pytest.approx(1.0 / 11.0)
    assert a["counts.lost"] == 2 and a["counts.duplicates"] == 3
    # steady: all repetitions steady; client_bound: any (unknown when one was not judged)
    assert table["steady"].to_dict() == {"a": False, "b": True, "c": True}
    assert table["client_bound"].to_dict() == {"a": None, "b": False, "c": False}
    assert math.isnan(a["latency_ms.send_delay.p99"])  # absent figure: NaN, not zero
    # a failed repetition: the point is "failed", its figures come from the successful one,
    # and one successful repetition has no interval and no CV (absent, not zero)
    assert b["status"] == "failed" and b["repeats"] == 2 and b["repeats_ok"] == 1
    assert b["error"] == "boom" and b["throughput_eps"] == 400.0
    assert math.isnan(b["throughput_eps.ci_lo"]) and math.isnan(b["throughput_eps.ci_hi"])
    assert math.isnan(b["throughput_eps.cv"])
    assert table.loc["c", "config.threads"] == 200


def test_points_table_survives_a_csv_round_trip(tmp_path):
    summary = _summary()
    summary["slo"] = [[{"expr": "x < 1", "value": 0, "ok": True}]] * 5 + [
        [{"expr": "x < 1", "value": 2, "ok": False}]
    ]
    summary.to_csv(tmp_path / "summary.csv", index=False)
    table = points_table(pd.read_csv(tmp_path / "summary.csv")).set_index("point")
    direct = points_table(summary).set_index("point")
    assert table.loc["a", "throughput_eps.ci_hi"] == direct.loc["a", "throughput_eps.ci_hi"]
    assert table["steady"].to_dict() == direct["steady"].to_dict()
    assert list(table["slo_ok"]) == [True, True, False]


def test_points_table_needs_points():
    assert points_table(pd.DataFrame()).empty
    with pytest.raises(ValueError, match="point"):
        points_table(pd.DataFrame({"throughput_eps": [1.0]}))


def test_point_params_leave_out_where_a_point_ran():
    columns = ["config.threads", "config.bootstrap_servers", "config.topic", "throughput_eps"]
    assert point_params(columns) == ["config.threads"]


def test_best_point_under_a_p99_objective():
    table = points_table(_summary())
    assert best_point(table, 100.0)["point"] == "c"
    assert best_point(table, 60.0)["point"] == "a"  # b failed a repetition: never the best
    assert best_point(table, 11.0) is None  # "below" is strict


def _reps(point, tputs, p99s):
    return [_rep(point, k, 1, t, p) for k, (t, p) in enumerate(zip(tputs, p99s, strict=True), 1)]


def test_points_indistinguishable_from_the_best():
    rows = (
        _reps("best", [1000, 1010, 990, 1005, 995], [50, 51, 49, 50, 52])
        + _reps("same", [1002, 998, 1008, 992, 1001], [50, 49, 51, 52, 50])  # noise only
        + _reps("slow", [800, 810, 790, 805, 795], [50, 51, 49, 50, 52])  # 20% less throughput
        + _reps("laggy", [1000, 1010, 990, 1005, 995], [70, 71, 69, 72, 70])  # 40% higher p99
        + _reps("once", [700], [90])  # one repetition: cannot be told apart
    )
    summary = pd.DataFrame(rows)
    peers = compare_to_best(summary, "best").set_index("point")
    assert list(peers.index) == ["same", "slow", "laggy", "once"]
    assert peers["indistinguishable"].to_dict() == {
        "same": True, "slow": False, "laggy": False, "once": True,
    }  # fmt: skip
    assert peers.loc["slow", "throughput_eps.verdict"] == stats.SLOWER
    assert peers.loc["slow", "throughput_eps.ratio"] == pytest.approx(800 / 1000)
    assert peers.loc["laggy", "latency_ms.http.p99.verdict"] == stats.SLOWER
    assert peers.loc["once", "throughput_eps.verdict"] == stats.CANNOT_TELL
