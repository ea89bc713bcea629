"""Pure logic of the load generator: config, payloads, batch answers, summaries."""

from __future__ import annotations

import math

import numpy as np
import orjson
import pandas as pd
import pytest

from harness.loadgen.config import SimulatorConfig
from harness.loadgen.drive import share
from harness.loadgen.payload import BodyFactory, render
from harness.loadgen.records import phases
from harness.loadgen.requestlog import RequestLog
from harness.loadgen.responses import MISSING, batch_outcomes
from harness.loadgen.result import event_counts, latency_summary

IDS = ["r-0", "r-1", "r-2"]


def body(doc) -> bytes:
    return orjson.dumps(doc)


def test_batch_requests_split_events_and_rate():
    cfg = SimulatorConfig(
        url="http://h:1/", events=1050, endpoint="batch", events_per_request=100, rate=5000.0
    )
    assert cfg.requests == 11
    assert cfg.request_events(10) == range(1000, 1050)
    assert cfg.rate_requests == pytest.approx(50.0)
    assert cfg.target_url == "http://h:1/events"
    assert cfg.pool_size() == cfg.max_in_flight


def test_single_endpoint_ignores_events_per_request():
    cfg = SimulatorConfig(url="http://h:1", events=7, threads=200, events_per_request=500)
    assert (cfg.requests, cfg.batch_size, cfg.target_url) == (7, 1, "http://h:1/register_event")
    assert cfg.pool_size() == 7  # no more connections than requests


@pytest.mark.parametrize(
    "bad",
    [
        {"endpoint": "bulk"},
        {"events": 0},
        {"threads": 0},
        {"rate": 0.0},
        {"rate": -5.0},
        {"events_per_request": 0},
        {"timeout_s": 0},
    ],
)
def test_config_rejects_nonsense(bad):
    with pytest.raises(ValueError):
        SimulatorConfig(url="http://h:1", **bad)


def test_run_ids_differ_between_configs():
    assert SimulatorConfig(url="u").run_id != SimulatorConfig(url="u").run_id


def test_render_splices_sent_at_into_every_event():
    cfg = SimulatorConfig(url="u", events=5, endpoint="batch", events_per_request=3, run_id="x")
    factory = BodyFactory(cfg)
    first = orjson.loads(render(factory.template(0), 1736200000.123456))
    second = orjson.loads(render(factory.template(1), 1.5))
    assert [e["event_id"] for e in first] == ["x-0", "x-1", "x-2"]
    assert [e["event_id"] for e in second] == ["x-3", "x-4"]
    assert {e["sent_at"] for e in first} == {1736200000.123456}
    assert all(isinstance(e["user_id"], int) and e["event"] for e in first + second)


def test_same_seed_same_payloads():
    def payloads(seed):
        cfg = SimulatorConfig(url="u", events=20, run_id="s", random_seed=seed)
        factory = BodyFactory(cfg)
        return [render(factory.template(i), 0.0) for i in range(cfg.requests)]

    assert payloads(3) == payloads(3)
    assert payloads(3) != payloads(4)


def test_run_id_needing_escapes_still_yields_valid_json():
    cfg = SimulatorConfig(url="u", events=1, run_id='a"b\\c')
    doc = orjson.loads(render(BodyFactory(cfg).template(0), 2.0))
    assert doc["event_id"] == 'a"b\\c-0' and doc["sent_at"] == 2.0


def test_results_by_index_in_any_order():
    answer = {
        "results": [
            {"index": 2, "status": "rejected", "error": "bad"},
            {"index": 0, "status": "accepted"},
            {"index": 1, "status": "ACCEPTED"},
        ]
    }
    out = batch_outcomes(body(answer), IDS)
    assert out.accepted == [True, True, False]
    assert out.errors == ["", "", "bad"]


def test_results_by_event_id_then_by_position():
    answer = {
        "results": [
            {"event_id": "r-2", "status": "accepted"},
            {"status": "rejected"},
            {"accepted": True},
        ]
    }
    out = batch_outcomes(body(answer), IDS)
    # entry 0 names r-2; entry 1 has neither index nor id: position 1; entry 2: position 2.
    assert out.accepted == [False, False, True]
    assert out.errors == [MISSING, "rejected", ""]


def test_unmentioned_events_are_not_accepted():
    out = batch_outcomes(body({"results": [{"index": 0, "status": "accepted"}]}), IDS)
    assert out.accepted == [True, False, False]
    assert out.errors[1:] == [MISSING, MISSING]


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        body([1, 2]),
        body({"accepted": 3}),
        body({"results": []}),
        body({"results": "all good"}),
    ],
)
def test_no_per_event_results_means_none(raw):
    assert batch_outcomes(raw, IDS) is None


def test_garbage_entries_and_bad_indexes_are_skipped():
    answer = {
        "results": [
            "x",
            {"index": 99, "event_id": "nope", "status": "accepted"},
            {"index": True, "status": "accepted"},
        ]
    }
    out = batch_outcomes(body(answer), IDS)
    # index 99 is out of range and the id unknown, so it falls back to its position (1);
    # a bool is not an index, so entry 2 also lands on its position.
    assert out.accepted == [False, True, True]


def test_latency_summary_in_ms_ignores_nan():
    summary = latency_summary(np.array([0.001, 0.002, np.nan, 0.003, 0.004]))
    assert summary["mean"] == pytest.approx(2.5)
    assert summary["p50"] == pytest.approx(2.5)
    assert summary["max"] == pytest.approx(4.0)
    assert set(summary) == {"mean", "p50", "p90", "p95", "p99", "p999", "max"}


def test_latency_summary_of_nothing_is_nan():
    assert all(math.isnan(v) for v in latency_summary(np.array([])).values())


def test_event_counts_classify_statuses():
    frame = pd.DataFrame(
        {
            "status": [200, 200, 207, 400, 422, 500, 503, 0, 302],
            "accepted": [True, True, False, False, False, False, False, False, False],
        }
    )
    assert event_counts(frame) == {"sent": 9, "accepted": 2, "rejected": 3, "failed": 4}


@pytest.mark.parametrize(("threads", "processes"), [(200, 1), (200, 3), (5, 2), (2, 2)])
def test_process_shares_cover_every_request_once(threads, processes):
    cfg = SimulatorConfig(url="u", events=101, threads=threads, processes=processes)
    shares = [share(cfg, k, processes) for k in range(processes)]
    ids = sorted(i for s in shares for i in s.request_ids)
    assert ids == list(range(101))
    assert sum(s.threads for s in shares) == threads
    assert all(s.threads >= 1 for s in shares)


def test_more_processes_than_threads_is_refused():
    with pytest.raises(ValueError):
        SimulatorConfig(url="u", threads=2, processes=3)


def test_failed_inside_a_batch_is_not_a_rejection():
    answer = {
        "results": [
            {"index": 0, "status": "accepted"},
            {"index": 1, "status": "failed", "error": "KafkaTimeoutError"},
            {"index": 2, "status": "rejected", "error": "user_id must be an integer"},
        ]
    }
    out = batch_outcomes(body(answer), IDS)
    assert out.accepted == [True, False, False]
    assert out.failed == [False, True, False]
    assert out.errors == ["", "KafkaTimeoutError", "user_id must be an integer"]


def test_event_counts_with_failures_inside_a_2xx_batch():
    frame = pd.DataFrame(
        {
            "status": [202, 202, 202],
            "accepted": [True, False, False],
            "delivery_failed": [False, True, False],
        }
    )
    assert event_counts(frame) == {
        "sent": 3,
        "accepted": 1,
        "rejected": 1,
        "failed": 1,
    }


def test_all_accepted_needs_no_per_event_outcomes():
    answer = {"results": [{"index": i, "status": "accepted"} for i in range(3)]}
    assert batch_outcomes(body(answer), IDS) is None


def test_timed_closed_loop_has_no_planned_count():
    cfg = SimulatorConfig(url="u", warmup_s=1, duration_s=2)
    assert (cfg.total_s, cfg.planned_events, cfg.requests) == (3, None, None)
    assert cfg.request_events(10**6) == range(10**6, 10**6 + 1)
    assert cfg.pool_size() == cfg.threads


def test_timed_open_loop_plans_rate_times_the_time():
    cfg = SimulatorConfig(url="u", rate=100, endpoint="batch", events_per_request=7,
                          warmup_s=0.5, duration_s=1)  # fmt: skip
    assert (cfg.planned_events, cfg.requests) == (150, 22)
    assert cfg.request_events(21) == range(147, 150)  # the last request carries the rest


@pytest.mark.parametrize("bad", [dict(warmup_s=-1), dict(warmup_s=float("nan")),
                                 dict(duration_s=0), dict(duration_s=float("inf"))])  # fmt: skip
def test_window_settings_reject_nonsense(bad):
    with pytest.raises(ValueError, match="warmup_s|duration_s"):
        SimulatorConfig(url="u", **bad)


def test_request_log_grows_for_a_timed_closed_loop():
    log = RequestLog(SimulatorConfig(url="u", duration_s=1))
    log.record(3, float("nan"), 1.0, 2.0, 200, "")
    log.record(10_000, float("nan"), 1.5, 2.5, 200, "")  # beyond the first block
    assert log.capacity > 10_000
    assert list(log.run_requests()) == [3, 10_000]
    assert log.events_done == 2


def test_payloads_of_a_timed_run_do_not_depend_on_the_order_they_are_built():
    cfg = SimulatorConfig(url="u", run_id="s", random_seed=5, duration_s=1)
    ahead, in_order = BodyFactory(cfg), BodyFactory(cfg)
    late = render(ahead.template(20_000), 0.0)  # draws past the first blocks at once
    for i in range(0, 20_001, 1000):
        in_order.template(i)
    assert render(in_order.template(20_000), 0.0) == late


def test_phases_split_at_the_end_of_the_warmup():
    origin = np.array([10.0, 10.5, 10.999, 11.0, 12.0, np.nan])
    assert list(phases(origin, start=10.0, warmup_s=1.0)) == [
        "warmup", "warmup", "warmup", "measured", "measured", "measured"
    ]  # fmt: skip
