"""Pure logic of the load generator: config, payloads, batch answers, summaries."""

from __future__ import annotations

import math
import pickle

import numpy as np
import orjson
import pandas as pd
import pytest

from harness.loadgen.clock import Clock
from harness.loadgen.config import SimulatorConfig
from harness.loadgen.drive import share
from harness.loadgen.generators import Worker, _merge
from harness.loadgen.payload import BodyFactory, render
from harness.loadgen.records import phases, warmup_end
from harness.loadgen.requestlog import RequestLog
from harness.loadgen.responses import MISSING, EventOutcomes, batch_outcomes
from harness.loadgen.result import event_counts, latency_summary
from harness.loadgen.schedule import due_offsets

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


# The schedules the generators split: one entry per shape of `due_offsets` (SimulatorConfig's
# settings of that shape); every one must split exactly.
SHAPES = [
    pytest.param({"rate": 500.0, "events": 1001}, id="uniform"),
    pytest.param(
        {"rate": 2000.0, "endpoint": "batch", "events_per_request": 7, "events": 1000},
        id="uniform-batch",
    ),  # fmt: skip
    pytest.param({"rate": 300.0, "warmup_s": 1.0, "duration_s": 2.0}, id="uniform-timed"),
    pytest.param(
        {"rate": 500.0, "events": 1001, "arrivals": "poisson", "run_id": "p1"}, id="poisson"
    ),  # fmt: skip
    pytest.param(
        {"stages": ((1.0, 200.0), (2.0, 900.0), (0.0, 100.0), (1.5, 100.0)), "warmup_s": 0.5},
        id="stages",
    ),  # fmt: skip
    pytest.param(
        {
            "stages": ((2.0, 400.0), (1.0, 50.0)),
            "arrivals": "poisson",
            "random_seed": 7,
            "endpoint": "batch",
            "events_per_request": 3,
        },
        id="stages-poisson-batch",
    ),  # fmt: skip
]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("count", [1, 2, 3])
def test_the_generators_schedules_together_are_the_single_schedule(shape, count):
    cfg = SimulatorConfig(url="u", **shape)
    single = due_offsets(cfg)
    # each generator gets the config as it was pickled through Dask: the same schedule there
    parts = [share(pickle.loads(pickle.dumps(cfg)), k, count) for k in range(count)]
    ids = np.concatenate([np.asarray(p.request_ids, dtype=np.int64) for p in parts])
    due = np.concatenate([p.due for p in parts])
    order = np.argsort(ids, kind="stable")
    # request for request: every request once; instant for instant: bit for bit the same
    assert np.array_equal(ids[order], np.arange(len(single)))
    assert np.array_equal(due[order], single)
    for k, part in enumerate(parts):  # request i goes to generator i mod N
        assert np.array_equal(np.asarray(part.request_ids) % count, np.full(len(part.due), k))


@pytest.mark.parametrize(("threads", "count"), [(200, 1), (200, 3), (5, 2), (2, 2), (7, 3)])
@pytest.mark.parametrize("events", [101, None])  # None: a timed closed loop (an endless range)
def test_closed_loop_senders_and_requests_are_divided_among_the_generators(threads, count, events):
    timed = {"duration_s": 1.0} if events is None else {"events": events}
    cfg = SimulatorConfig(url="u", threads=threads, generators=count, **timed)
    parts = [share(cfg, k, count) for k in range(count)]
    assert sum(p.threads for p in parts) == threads
    assert all(p.threads >= 1 for p in parts) and all(p.due is None for p in parts)
    first = sorted(i for p in parts for i in p.request_ids[:200])
    assert first[: min(200, events or 200)] == list(range(min(200, events or 200)))
    if events is not None:
        assert sorted(i for p in parts for i in p.request_ids) == list(range(events))


def test_more_generators_than_closed_loop_senders_is_refused():
    with pytest.raises(ValueError, match="without a sender"):
        SimulatorConfig(url="u", threads=2, generators=3)
    SimulatorConfig(url="u", threads=2, generators=3, rate=100.0)  # open loop: no senders


def _filled_log(cfg: SimulatorConfig) -> RequestLog:
    """A log of every request answered (odd events of a batch refused), as a generator has it."""
    log = RequestLog(cfg)
    for i in range(cfg.requests):
        events = list(cfg.request_events(i))
        log.record_bytes(i, [80 + e % 9 for e in events])
        outcomes = None
        if cfg.batch_size > 1:
            accepted = [e % 2 == 0 for e in events]
            outcomes = EventOutcomes(accepted, ["" if a else "no" for a in accepted],
                                     [False] * len(events))  # fmt: skip
        log.record(i, 10.0 + i, 10.5 + i, 10.75 + i, 200 if i % 5 else 503, "" if i % 5 else "x",
                   outcomes)  # fmt: skip
    return log


@pytest.mark.parametrize("endpoint", ["single", "batch"])
def test_generators_parts_merge_into_the_log_one_process_would_have(endpoint):
    cfg = SimulatorConfig(url="u", events=23, endpoint=endpoint, events_per_request=4, rate=10.0)
    whole = _filled_log(cfg)
    clock = Clock.from_base(1000.0, 0.0)  # epoch = perf + 1000
    merged = RequestLog(cfg)
    for k in range(3):
        merged.merge_arrow(whole.to_arrow(share(cfg, k, 3).request_ids, clock), k)
    n = cfg.requests
    assert np.array_equal(merged.sent[:n], whole.sent[:n] + 1000.0)
    assert np.array_equal(merged.done[:n], whole.done[:n] + 1000.0)
    assert np.array_equal(merged.status[:n], whole.status[:n])
    assert list(merged.error[:n]) == list(whole.error[:n])
    assert np.array_equal(merged.event_bytes, whole.event_bytes)
    assert merged.outcomes == whole.outcomes and merged.events_done == whole.events_done == 23
    assert list(merged.generator[:n]) == [i % 3 for i in range(n)]


def test_a_generator_that_handed_nothing_back_keeps_its_requests_unsent_and_its_own():
    """A dead generator's part never comes back: its requests read as not sent, and are still
    its own in the `generator` column (the split's), not the first generator's."""
    cfg = SimulatorConfig(url="u", events=20, rate=10.0)
    whole, clock = _filled_log(cfg), Clock.from_base(0.0, 0.0)
    workers = [Worker(f"tcp://w{k}", "h", k, 0.0, 0.001) for k in range(3)]
    parts = [{"index": k, "records": whole.to_arrow(share(cfg, k, 3).request_ids, clock),
              "start": 5.0, "end": 40.0, "busy": 0.1, "cpu_s": 1.0, "late_start_ms": 0.0,
              "cap_waits": 0, "max_in_flight": 1, "taken": 7, "stopped": False}
             for k in (0, 2)]  # fmt: skip
    fan = _merge(cfg, parts, workers, 5.0)
    ids = np.arange(cfg.requests)
    assert list(fan.log.generator[ids]) == [i % 3 for i in ids]
    assert np.isnan(fan.log.sent[ids % 3 == 1]).all() and (fan.log.status[ids % 3 == 1] == 0).all()
    assert np.array_equal(fan.log.sent[ids % 3 != 1], whole.sent[ids % 3 != 1])
    assert [g["returned"] for g in fan.generators] == [True, False, True] and fan.stats.stopped


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
    end = warmup_end(origin, start=10.0, warmup_s=1.0)
    assert end == 11.0
    assert list(phases(origin, end)) == [
        "warmup", "warmup", "warmup", "measured", "measured", "measured"
    ]  # fmt: skip


def test_a_capped_warmup_takes_at_most_its_share_of_the_requests():
    # 10 requests in 1 s: a 3 s warm-up would take them all; capped at 20% it takes the first 2.
    origin = 10.0 + np.arange(10) * 0.1
    end = warmup_end(origin, start=10.0, warmup_s=3.0, share=0.2)
    assert list(phases(origin, end)).count("warmup") == 2
    assert phases(origin, end)[2] == "measured"
    # The cap never lengthens a short warm-up, and a tiny run keeps every request measured.
    assert warmup_end(origin, start=10.0, warmup_s=0.05, share=0.2) == pytest.approx(10.05)
    assert list(phases(origin[:4], warmup_end(origin[:4], 10.0, 3.0, share=0.2))) == [
        "measured"] * 4  # fmt: skip


def test_the_uniform_schedule_is_evenly_spaced_at_the_request_rate():
    from harness.loadgen.schedule import due_offsets

    cfg = SimulatorConfig(url="u", events=1000, rate=500, endpoint="batch", events_per_request=10)
    offsets = due_offsets(cfg)
    assert len(offsets) == cfg.requests == 100
    assert np.allclose(np.diff(offsets), 1 / 50)  # 500 events/s in requests of 10
    assert offsets[0] == 0.0
    with pytest.raises(ValueError, match="open loop"):
        due_offsets(SimulatorConfig(url="u", events=10))
