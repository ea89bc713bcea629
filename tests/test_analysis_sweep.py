"""per_second, summarize_sweep and best_setting."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from analysis_synth import event, log_line, records, write_lines

from harness.analysis import best_setting, per_second, read_events_log, summarize_sweep


def test_per_second_on_a_constructed_timeline(tmp_path):
    # second 0: 3 events sent, consumed in second 1; second 2: 2 events sent and consumed
    sent = np.array([1000.0, 1000.2, 1000.4, 1002.1, 1002.2])
    done = sent + 0.05
    recs = records(["a", "b", "c", "d", "e"], sent, done, status=[200, 200, 503, 200, 200])
    consumed = {"a": 1001.1, "b": 1001.2, "c": 1001.3, "d": 1002.5, "e": 1002.9}
    logged = [event(k, sent[i], v) for i, (k, v) in enumerate(consumed.items())]
    logged.append(event("a", 1000.0, 1002.95))  # a duplicate counts as consumed in second 2
    log = read_events_log(write_lines(tmp_path / "events.log", [log_line(e) for e in logged]))
    ts = per_second(recs, log)
    assert list(ts["second"]) == [0, 1, 2]
    assert list(ts["sent_eps"]) == [3, 0, 2]
    assert list(ts["accepted_eps"]) == [2, 0, 2]
    assert list(ts["consumed_eps"]) == [0, 3, 3]
    assert np.isnan(ts.loc[0, "e2e_p50_ms"])
    e2e_1 = np.array([1.1, 1.0, 0.9]) * 1000
    assert ts.loc[1, "e2e_p50_ms"] == pytest.approx(np.percentile(e2e_1, 50))
    assert ts.loc[1, "e2e_p99_ms"] == pytest.approx(np.percentile(e2e_1, 99))
    assert ts.loc[2, "e2e_p99_ms"] == pytest.approx(np.percentile([400.0, 700.0], 99))


def test_per_second_of_an_empty_run_is_empty():
    ts = per_second(records([], np.zeros(0), np.zeros(0)), read_events_log([]))
    assert len(ts) == 0 and "e2e_p99_ms" in ts.columns


def _write_run(path, threads, throughput, p99, lost=0):
    path.mkdir(parents=True)
    metrics = {
        "config": {"threads": threads, "endpoint": "single"},
        "environment": {"hostname": "h"},
        "counts": {"sent": 10, "lost": lost},
        "throughput_eps": throughput,
        "latency_ms": {"http": {"p50": p99 / 2, "p99": p99}, "send_delay": None},
    }
    (path / "metrics.json").write_text(json.dumps(metrics))
    return path


def _sweep(tmp_path):
    runs = [
        _write_run(tmp_path / "r1", 10, 100.0, 5.0),
        _write_run(tmp_path / "r2", 50, 400.0, 20.0),
        _write_run(tmp_path / "r3", 200, 900.0, 80.0),
    ]
    failed = tmp_path / "r4"
    failed.mkdir()
    (failed / "failure.json").write_text(
        json.dumps({"error": "broker did not start", "config": {"threads": 400}})
    )
    empty = tmp_path / "r5"
    empty.mkdir()
    return summarize_sweep([*runs, failed, empty])


def test_summarize_sweep_flattens_and_keeps_failed_runs(tmp_path):
    table = _sweep(tmp_path)
    assert len(table) == 5
    assert list(table.columns[:3]) == ["run_dir", "status", "error"]
    assert list(table["status"]) == ["ok", "ok", "ok", "failed", "failed"]
    assert list(table["config.threads"][:4]) == [10, 50, 200, 400]  # r4's from failure.json
    assert pd.isna(table.loc[4, "config.threads"])  # r5 left nothing behind
    assert list(table["latency_ms.http.p99"][:3]) == [5.0, 20.0, 80.0]
    assert table.loc[3, "error"] == "broker did not start"
    assert "metrics.json" in table.loc[4, "error"]
    assert "counts.lost" in table.columns and "throughput_eps" in table.columns


def test_best_setting_with_and_without_a_feasible_point(tmp_path):
    table = _sweep(tmp_path)
    best = best_setting(table, p99_ms_max=50.0)
    assert best["config.threads"] == 50 and best["throughput_eps"] == 400.0
    assert best_setting(table, p99_ms_max=100.0)["config.threads"] == 200
    assert best_setting(table, p99_ms_max=20.0)["config.threads"] == 10  # "below" is strict
    assert best_setting(table, p99_ms_max=1.0) is None
    assert best_setting(summarize_sweep([]), p99_ms_max=1.0) is None


def test_failed_runs_never_win(tmp_path):
    table = _sweep(tmp_path)
    table.loc[3, "throughput_eps"] = 1e9  # a failed run with a bogus figure
    table.loc[3, "latency_ms.http.p99"] = 1.0
    assert best_setting(table, p99_ms_max=50.0)["config.threads"] == 50
