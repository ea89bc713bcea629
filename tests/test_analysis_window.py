"""compute_metrics over the measured window: figures exclude the warm-up, counts never do."""

from __future__ import annotations

import json

import numpy as np
import pytest
from analysis_synth import event, log_line, records, write_lines

from harness.analysis import compute_metrics, latency_samples, read_events_log

WINDOW_KEYS = [
    "warmup_s",
    "warmup_auto",
    "start",
    "end",
    "duration_s",
    "events_measured",
    "events_warmup",
]


def _log(tmp_path, events):
    return read_events_log(write_lines(tmp_path / "events.log", [log_line(e) for e in events]))


@pytest.fixture
def warm_run(tmp_path):
    """20 warm-up events (t = 1000..1002, slow: http 500 ms, e2e 2 s; w3 lost, w4 twice) then 60
    measured events (t = 1002..1008, http 10 ms, e2e 100 ms; m5 lost)."""
    warm_sent = 1000.0 + np.arange(20) * 0.1
    meas_sent = 1002.0 + np.arange(60) * 0.1
    ids = [f"w{i}" for i in range(20)] + [f"m{i}" for i in range(60)]
    sent = np.concatenate([warm_sent, meas_sent])
    done = np.concatenate([warm_sent + 0.5, meas_sent + 0.01])
    recs = records(ids, sent, done, phase=["warmup"] * 20 + ["measured"] * 60)
    logged = [event(f"w{i}", warm_sent[i], warm_sent[i] + 2.0) for i in range(20) if i != 3]
    logged.append(event("w4", warm_sent[4], warm_sent[4] + 2.5))
    logged += [event(f"m{i}", meas_sent[i], meas_sent[i] + 0.1) for i in range(60) if i != 5]
    return recs, _log(tmp_path, logged)


def test_counts_cover_the_whole_run(warm_run):
    m = compute_metrics(*warm_run, {"warmup_s": 2.0}, {})
    assert m["counts"] == {
        "sent": 80,
        "accepted": 80,
        "rejected": 0,
        "failed": 0,
        "consumed": 79,
        "unique_consumed": 78,
        "lost": 2,  # the warm-up's loss counts
        "duplicates": 1,
    }
    assert m["requests"] == 80


def test_figures_cover_the_measured_window_only(warm_run):
    m = compute_metrics(*warm_run, {"warmup_s": 2.0}, {})
    http, e2e = m["latency_ms"]["http"], m["latency_ms"]["e2e"]
    assert http["max"] == pytest.approx(10.0) and http["mean"] == pytest.approx(10.0)
    assert e2e["max"] == pytest.approx(100.0) and e2e["p50"] == pytest.approx(100.0)
    # Window: first measured send (1002.0) to the last measured first consumption (1008.0).
    assert m["window"] == {
        "warmup_s": 2.0,
        "warmup_auto": False,
        "start": pytest.approx(1002.0),
        "end": pytest.approx(1008.0),
        "duration_s": pytest.approx(6.0),
        "events_measured": 60,
        "events_warmup": 20,
    }
    assert list(m["window"]) == WINDOW_KEYS
    assert m["duration_s"] == pytest.approx(6.0)
    assert m["throughput_eps"] == pytest.approx(59 / 6.0)  # measured events consumed, m5 lost
    # The client's measured window: 1002.0 to the last measured answer, 1007.91.
    assert m["client_duration_s"] == pytest.approx(5.91)
    assert m["achieved_rate_eps"] == pytest.approx(60 / 5.91)
    assert m["achieved_rate_rps"] == pytest.approx(60 / 5.91)


def test_raw_latency_samples_exclude_the_warmup(warm_run):
    samples = latency_samples(*warm_run)
    assert len(samples["http"]) == 60 and samples["http"].max() == pytest.approx(10.0)
    assert len(samples["e2e"]) == 59 and samples["e2e"].max() == pytest.approx(100.0)


def test_open_loop_send_delay_covers_the_window_only(tmp_path):
    scheduled = 1000.0 + np.arange(40) * 0.1
    late = np.where(np.arange(40) < 10, 0.3, 0.001)  # the warm-up left 300 ms late
    recs = records([f"e{i}" for i in range(40)], scheduled + late, scheduled + late + 0.01,
                   scheduled_at=scheduled, phase=["warmup"] * 10 + ["measured"] * 30)  # fmt: skip
    m = compute_metrics(recs, _log(tmp_path, []), {}, {})
    assert m["latency_ms"]["send_delay"]["max"] == pytest.approx(1.0)
    assert m["latency_ms"]["http"]["max"] == pytest.approx(11.0)
    # Not in the config (auto): read off the records, first due to first measured due time.
    assert m["window"]["warmup_s"] == pytest.approx(1.0)
    assert m["window"]["warmup_auto"] is True
    assert m["counts"]["lost"] == 40  # nothing consumed: every accepted event is lost


def test_records_without_a_phase_are_all_measured(tmp_path):
    sent = 1000.0 + np.arange(10) * 0.1
    recs = records([f"e{i}" for i in range(10)], sent, sent + 0.02)
    assert "phase" not in recs
    m = compute_metrics(recs, _log(tmp_path, []), {}, {})
    assert (m["window"]["events_measured"], m["window"]["events_warmup"]) == (10, 0)
    assert m["latency_ms"]["http"]["p50"] == pytest.approx(20.0)


def test_a_run_that_is_all_warmup_has_counts_but_no_figures(tmp_path):
    sent = 1000.0 + np.arange(10) * 0.1
    recs = records([f"e{i}" for i in range(10)], sent, sent + 0.02, phase=["warmup"] * 10)
    logged = [event(f"e{i}", sent[i], sent[i] + 0.1) for i in range(10)]
    m = compute_metrics(recs, _log(tmp_path, logged), {"warmup_s": 5.0}, {})
    assert m["counts"]["unique_consumed"] == 10 and m["counts"]["lost"] == 0
    assert m["throughput_eps"] is None and m["duration_s"] is None
    assert m["latency_ms"]["http"]["p99"] is None and m["achieved_rate_eps"] is None
    assert m["steadiness"]["steady"] is None
    json.dumps(m, allow_nan=False)


def _steady_or_not(tmp_path, e2e_of_second) -> dict:
    """12 s of measured events, 20 per second, e2e latency given per second of sending."""
    sent = 1000.0 + np.arange(240) * 0.05
    seconds = np.floor(sent - 1000.0)
    consumed = sent + np.array([e2e_of_second(s) for s in seconds]) / 1000.0
    recs = records([f"e{i}" for i in range(240)], sent, sent + 0.01)
    logged = [event(f"e{i}", sent[i], consumed[i]) for i in range(240)]
    return compute_metrics(recs, _log(tmp_path, logged), {}, {})["steadiness"]


def test_a_window_with_growing_e2e_latency_is_flagged(tmp_path):
    verdict = _steady_or_not(tmp_path, lambda s: 50.0 + 20.0 * s)  # the consumer falls behind
    assert verdict["steady"] is False and verdict["e2e"]["trend"] is True
    assert verdict["reasons"][0].startswith("e2e grows")


def test_a_flat_window_is_steady(tmp_path):
    rng = np.random.default_rng(7)
    jitter = rng.normal(0, 5, 12)
    verdict = _steady_or_not(tmp_path, lambda s: 80.0 + jitter[int(s)])
    assert verdict["steady"] is True, verdict["reasons"]
    assert set(verdict) == {"steady", "method", "throughput", "e2e", "reasons"}
