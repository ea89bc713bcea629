"""compute_metrics: exact counts, latency bases, percentiles, throughput window, JSON safety."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from analysis_synth import event, log_line, records, write_lines

from harness.analysis import compute_metrics, latency_samples, read_client_records, read_events_log

STATS = ["mean", "p50", "p95", "p99", "p999", "max"]
COUNTS = [
    "sent",
    "accepted",
    "rejected",
    "failed",
    "consumed",
    "unique_consumed",
    "lost",
    "duplicates",
]


def _log_frame(tmp_path, events, extra_lines=()):
    lines = [log_line(e) for e in events] + list(extra_lines)
    return read_events_log(write_lines(tmp_path / "events.log", lines))


@pytest.fixture
def mixed_run(tmp_path):
    """10 events: 7 accepted, 1 rejected (400), 1 failed (503), 1 transport error (status 0).
    Log: accepted e0..e5 (e1 twice), e9 (the transport error made it after all), 'zz' never sent,
    a line without event_id, and a torn line; e6 (accepted) is lost."""
    ids = [f"e{i}" for i in range(10)]
    sent = 1000.0 + np.arange(10) * 0.1
    status = [200] * 7 + [400, 503, 0]
    recs = records(ids, sent, sent + 0.05, status=status)
    logged = [event(f"e{i}", sent[i], sent[i] + 0.5) for i in (0, 1, 2, 3, 4, 5, 9)]
    logged.append(event("e1", sent[1], sent[1] + 3.0))  # a redelivery
    logged.append(event("zz", 999.0, 1001.0))
    logged.append({"event": "no id", "consumed_at": 1001.0})
    log = _log_frame(tmp_path, logged, extra_lines=['2025-01-01 00:00:00,000 - {"event_i'])
    return recs, log


def test_counts_are_exact(mixed_run):
    recs, log = mixed_run
    m = compute_metrics(recs, log, {"threads": 4}, {"hostname": "h"})
    assert m["counts"] == {
        "sent": 10,
        "accepted": 7,
        "rejected": 1,
        "failed": 2,
        "consumed": 8,
        "unique_consumed": 7,
        "lost": 1,
        "duplicates": 1,
    }
    assert m["unexpected"] == 2
    assert m["consumed_unaccepted"] == 1
    assert m["unparsed_lines"] == 1
    assert m["error_rate"] == pytest.approx(0.3)
    assert m["status_counts"] == {"200": 7, "400": 1, "503": 1, "0": 1}
    assert sorted((e["error"], e["count"]) for e in m["top_errors"]) == [
        ("status 0", 1),
        ("status 503", 1),
    ]


def test_schema_has_every_documented_key(mixed_run):
    recs, log = mixed_run
    m = compute_metrics(recs, log, {"threads": 4}, {"hostname": "h"})
    assert {"config", "environment", "counts", "duration_s", "throughput_eps", "latency_ms"} <= set(
        m
    )
    assert list(m["counts"]) == COUNTS
    assert set(m["latency_ms"]) == {"http", "e2e", "send_delay"}
    assert list(m["latency_ms"]["http"]) == STATS and list(m["latency_ms"]["e2e"]) == STATS
    assert m["config"] == {"threads": 4} and m["environment"] == {"hostname": "h"}


def test_percentiles_match_numpy_on_known_data():
    rng = np.random.default_rng(7)
    n = 5000
    sent = 1000.0 + np.sort(rng.uniform(0, 10, n))
    http = rng.lognormal(mean=-4, sigma=1, size=n)  # seconds
    recs = records([f"e{i}" for i in range(n)], sent, sent + http)
    m = compute_metrics(recs, _empty_log(), {}, {})
    got = m["latency_ms"]["http"]
    ms = http * 1000
    expected = np.percentile(ms, [50, 95, 99, 99.9])
    assert [got["p50"], got["p95"], got["p99"], got["p999"]] == pytest.approx(expected, rel=1e-9)
    assert got["mean"] == pytest.approx(ms.mean()) and got["max"] == pytest.approx(ms.max())


def test_http_latency_is_per_request_for_batches():
    # 3 requests of 10 events each; the per-request latencies are 10, 20 and 60 ms
    req = np.repeat([0, 1, 2], 10)
    sent = np.repeat([1000.0, 1001.0, 1002.0], 10)
    done = sent + np.repeat([0.010, 0.020, 0.060], 10)
    recs = records([f"e{i}" for i in range(30)], sent, done, request_id=list(req))
    samples = latency_samples(recs, _empty_log())
    assert sorted(samples["http"]) == pytest.approx([10.0, 20.0, 60.0])
    m = compute_metrics(recs, _empty_log(), {}, {})
    assert m["latency_ms"]["http"]["mean"] == pytest.approx(30.0)
    assert m["requests"] == 3 and m["counts"]["sent"] == 30


def test_open_loop_measures_from_the_schedule_and_reports_send_delay():
    n = 100
    scheduled = 1000.0 + np.arange(n) * 0.01
    sent = scheduled + 0.005  # every request left 5 ms late
    done = sent + 0.002
    open_recs = records([f"e{i}" for i in range(n)], sent, done, scheduled_at=scheduled)
    closed_recs = records([f"e{i}" for i in range(n)], sent, done)
    opened = compute_metrics(open_recs, _empty_log(), {"rate": 100}, {})
    closed = compute_metrics(closed_recs, _empty_log(), {}, {})
    assert opened["latency_ms"]["http"]["p50"] == pytest.approx(7.0)
    assert closed["latency_ms"]["http"]["p50"] == pytest.approx(2.0)
    assert opened["latency_ms"]["send_delay"]["max"] == pytest.approx(5.0)
    assert closed["latency_ms"]["send_delay"] is None
    assert opened["open_loop"] is True and closed["open_loop"] is False
    assert opened["target_rate_eps"] == 100


def test_e2e_uses_the_first_consumption(tmp_path):
    recs = records(["a", "b"], [1000.0, 1000.0], [1000.01, 1000.01])
    logged = [event("a", 1000.0, 1000.2), event("b", 1000.0, 1000.4), event("a", 1000.0, 1009.0)]
    m = compute_metrics(recs, _log_frame(tmp_path, logged), {}, {})
    assert m["latency_ms"]["e2e"]["max"] == pytest.approx(400.0)
    assert m["latency_ms"]["e2e"]["mean"] == pytest.approx(300.0)


def test_throughput_over_a_constructed_timeline(tmp_path):
    # 50 events sent from t=1000; first consumptions spread to t=1010; a late duplicate at 1020
    sent = 1000.0 + np.arange(50) * 0.1
    consumed = np.linspace(1001.0, 1010.0, 50)
    recs = records([f"e{i}" for i in range(50)], sent, sent + 0.01)
    logged = [event(f"e{i}", sent[i], consumed[i]) for i in range(50)]
    logged.append(event("e3", sent[3], 1020.0))
    m = compute_metrics(recs, _log_frame(tmp_path, logged), {}, {})
    assert m["duration_s"] == pytest.approx(10.0)
    assert m["throughput_eps"] == pytest.approx(5.0)
    assert (m["window"]["start"], m["window"]["end"]) == (1000.0, 1010.0)
    assert m["counts"]["duplicates"] == 1


def test_client_bound_against_the_ceiling():
    sent = 1000.0 + np.arange(101) * 0.01  # 101 requests over 1.0 s (to the last answer)
    recs = records([f"e{i}" for i in range(101)], sent, sent + 0.0)
    near = compute_metrics(recs, _empty_log(), {}, {}, ceiling_rps=110.0)
    far = compute_metrics(recs, _empty_log(), {}, {}, ceiling_rps=1000.0)
    unknown = compute_metrics(recs, _empty_log(), {}, {})
    assert near["achieved_rate_rps"] == pytest.approx(101.0)
    assert near["client_bound"] is True and far["client_bound"] is False
    assert unknown["client_bound"] is None


def test_client_bound_is_the_simulators_own_busy_share_when_known():
    sent = 1000.0 + np.arange(101) * 0.01
    recs = records([f"e{i}" for i in range(101)], sent, sent + 0.0)
    # Near the ceiling, but the simulator's loop was mostly idle: the system was the limit.
    idle = compute_metrics(recs, _empty_log(), {}, {}, ceiling_rps=110.0, simulator_busy=0.3)
    busy = compute_metrics(recs, _empty_log(), {}, {}, ceiling_rps=1000.0, simulator_busy=0.95)
    assert idle["client_bound"] is False and idle["simulator_busy"] == 0.3
    assert busy["client_bound"] is True


def test_metrics_are_strict_json_even_when_empty():
    config = {"threads": np.int64(8), "rate": None, "linger_ms": np.float64("nan")}
    environment = {"cpu_count": np.int32(2), "started_at": pd.Timestamp("2025-01-01")}
    empty = records([], np.zeros(0), np.zeros(0))
    for recs in (empty, records(["a"], [1.0], [float("nan")], status=[0])):
        m = compute_metrics(recs, _empty_log(), config, environment)
        text = json.dumps(m, allow_nan=False)
        assert json.loads(text)["config"] == {"threads": 8, "rate": None, "linger_ms": None}
        assert m["throughput_eps"] is None or not math.isnan(m["throughput_eps"])
        assert m["latency_ms"]["e2e"] == dict.fromkeys(STATS)


def test_client_records_round_trip_through_parquet(tmp_path):
    recs = records(["a", "b"], [1.0, 2.0], [1.5, 2.5], status=[200, 0])
    closed = recs.drop(columns=["scheduled_at"])  # a closed-loop writer may omit it
    closed.to_parquet(tmp_path / "client_records.parquet")
    back = read_client_records(tmp_path)
    assert list(back["event_id"]) == ["a", "b"] and back["scheduled_at"].isna().all()
    assert back["accepted"].dtype == bool and list(back["status"]) == [200, 0]
    recs.drop(columns=["done_at"]).to_parquet(tmp_path / "broken.parquet")
    with pytest.raises(ValueError, match="done_at"):
        read_client_records(tmp_path / "broken.parquet")


def _empty_log():
    return read_events_log([])


def test_a_retried_event_id_is_one_event(tmp_path):
    # "a" was sent twice: the first attempt timed out, the retry was accepted; logged once
    recs = records(
        ["a", "a", "b"], [1000.0, 1001.0, 1000.5], [1001.0, 1001.1, 1000.6], status=[0, 200, 200]
    )
    log = _log_frame(tmp_path, [event("a", 1001.0, 1001.5), event("b", 1000.5, 1000.7)])
    m = compute_metrics(recs, log, {}, {})
    assert m["counts"]["sent"] == 3 and m["counts"]["failed"] == 1
    assert m["counts"]["unique_consumed"] == 2 and m["counts"]["lost"] == 0
    assert m["consumed_unaccepted"] == 0 and m["unexpected"] == 0
    # e2e from the first attempt's sent_at: a is 1500 ms, b is 200 ms
    assert m["latency_ms"]["e2e"]["max"] == pytest.approx(1500.0)


def test_events_never_sent_are_set_apart():
    sent = np.array([1000.0, 1000.1, np.nan, np.nan])  # the run stopped before the last request
    recs = records(["a", "b", "c", "d"], sent, sent + 0.01, status=[200, 200, 0, 0])
    m = compute_metrics(recs, _empty_log(), {}, {})
    assert m["counts"]["sent"] == 2 and m["counts"]["failed"] == 0 and m["not_sent"] == 2
    assert m["counts"]["lost"] == 2 and m["requests"] == 2


def _gen(index: int, busy: float, offset_ms: float = 0.1, worker: str | None = None) -> dict:
    return {"index": index, "host": "h", "worker": worker or f"tcp://127.0.0.1:{4000 + index}",
            "pid": 100 + index, "requests": 50, "busy": busy, "cpu_s": busy,
            "clock_offset_ms": offset_ms, "round_trip_ms": 1.0, "late_start_ms": 0.0,
            "returned": True}  # fmt: skip


def test_any_busy_generator_makes_the_run_client_bound_and_is_named():
    sent = 1000.0 + np.arange(101) * 0.01
    recs = records([f"e{i}" for i in range(101)], sent, sent + 0.0)
    gens = [_gen(0, 0.4), _gen(1, 0.93)]
    m = compute_metrics(recs, _empty_log(), {}, {}, simulator_busy=0.93, generators=gens)
    assert m["client_bound"] is True and m["generators"] == gens
    assert "generator 1 (tcp://127.0.0.1:4001) busy 93%" in m["client_bound_message"]
    assert (
        "generator 0" not in m["client_bound_message"]
        and "--generators 3" in m["client_bound_message"]
    )
    calm = compute_metrics(recs, _empty_log(), {}, {}, simulator_busy=0.4, generators=gens[:1])
    assert calm["client_bound"] is False and calm["client_bound_message"] is None


def test_e2e_is_flagged_uncertain_only_by_a_clock_offset_over_5_ms():
    sent = 1000.0 + np.arange(11) * 0.01
    recs = records([f"e{i}" for i in range(11)], sent, sent + 0.0)
    near = [_gen(0, 0.1, 0.2), _gen(1, 0.1, -4.9)]
    far = [_gen(0, 0.1, 0.2), _gen(1, 0.1, -12.5)]
    assert compute_metrics(recs, _empty_log(), {}, {}, generators=near)["e2e_uncertain_ms"] is None
    assert compute_metrics(recs, _empty_log(), {}, {}, generators=far)["e2e_uncertain_ms"] == 12.5
