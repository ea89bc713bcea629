"""The delivery modes and the lazy producer of `Publisher`, against a scripted fake client.

Pure logic only: the real clients against the real broker are in test_producer_clients.py.
"""

from __future__ import annotations

import threading
import time

import pytest

from app.breaker import CircuitBreaker
from app.delivery import REBUILD_AFTER_FAILURES, Publisher
from app.producer_client import DeliveryStats, KafkaUnavailable, Pending
from app.settings import ProducerSettings

# Alone on the machine under xdist (conftest.py): waits timed to a tenth of a second.
pytestmark = pytest.mark.exclusive


class FakeClient:
    def __init__(self, ack_errors=None, ping_ok=True, send_fails_after=None):
        self.stats = DeliveryStats()
        self.sent: list[bytes] = []
        self.wait_calls: list[int] = []
        self.watched: list[bool] = []
        self.flushes = 0
        self.pings = 0
        self.closed_with: float | None = None
        self.ack_errors = ack_errors or {}
        self.ping_ok = ping_ok
        self.send_fails_after = send_fails_after

    def send(self, values, watch=True, keys=None):
        self.watched.append(watch)
        pending = Pending(len(values))
        for value in values:
            if self.send_fails_after is not None and len(self.sent) >= self.send_fails_after:
                pending.error = "Kafka unavailable: metadata timeout"
                break
            self.sent.append(value)
            pending.queued += 1
        pending.first = len(self.sent) - pending.queued
        return pending

    def wait(self, pending, deadline):
        self.wait_calls.append(pending.queued)
        acked = [self.ack_errors.get(pending.first + i) for i in range(pending.queued)]
        return acked + pending.unqueued_errors()[pending.queued :]

    def flush(self, timeout):
        self.flushes += 1
        return True

    def ping(self, timeout):
        self.pings += 1
        return self.ping_ok

    def close(self, timeout):
        self.closed_with = timeout


def publisher(delivery="ack", client=None, factory=None, **kw):
    settings = ProducerSettings(delivery=delivery, **kw)
    fake = client or FakeClient()
    built = []

    def default_factory(s, connect_timeout):
        built.append(connect_timeout)
        return fake

    return Publisher(settings, factory or default_factory), fake, built


def soon(seconds=5.0):
    return time.monotonic() + seconds


def test_nothing_is_built_until_first_use():
    pub, _, built = publisher()
    assert built == []
    pub.publish([b"a"], soon())
    pub.publish([b"b"], soon())
    assert len(built) == 1


def test_noop_never_builds_a_producer():
    pub, fake, built = publisher("noop")
    assert pub.publish([b"a", b"b"], soon()) == [None, None]
    assert pub.health() == (True, "Kafka not used (noop delivery)")
    assert built == [] and fake.sent == []


def test_ack_waits_once_for_the_whole_batch_and_reports_each_event():
    pub, fake, _ = publisher("ack", FakeClient(ack_errors={1: "delivery failed: boom"}))
    assert pub.publish([b"a", b"b", b"c"], soon()) == [None, "delivery failed: boom", None]
    assert fake.wait_calls == [3]  # one wait for all three futures, not one per event


def test_async_answers_without_waiting_and_has_the_client_watch_failures():
    pub, fake, _ = publisher("async")
    assert pub.publish([b"a", b"b"], soon()) == [None, None]
    assert fake.sent == [b"a", b"b"] and fake.wait_calls == [] and fake.flushes == 0
    assert fake.watched == [True]


def test_waiting_modes_do_not_ask_the_client_to_watch():
    for mode in ("ack", "flush"):
        pub, fake, _ = publisher(mode)
        pub.publish([b"a"], soon())
        assert fake.watched == [False]


def test_flush_mode_flushes_per_request_then_reads_the_results():
    pub, fake, _ = publisher("flush")
    assert pub.publish([b"a"], soon()) == [None]
    assert fake.flushes == 1 and fake.wait_calls == [1]


def test_a_send_failure_fails_that_event_and_the_rest_but_not_the_queued_ones():
    pub, fake, _ = publisher("ack", FakeClient(send_fails_after=2))
    result = pub.publish([b"a", b"b", b"c", b"d"], soon())
    assert result[:2] == [None, None]
    assert all("metadata timeout" in r for r in result[2:])
    assert fake.wait_calls == [2]
    # In async mode the unqueued ones fail too; the queued ones are accepted.
    pub, fake, _ = publisher("async", FakeClient(send_fails_after=1))
    assert pub.publish([b"a", b"b"], soon()) == [None, "Kafka unavailable: metadata timeout"]


def test_a_failed_build_answers_errors_and_the_next_request_retries():
    attempts = []
    fake = FakeClient()

    def factory(settings, connect_timeout):
        attempts.append(connect_timeout)
        if len(attempts) == 1:
            raise KafkaUnavailable("cannot connect to Kafka: refused")
        return fake

    pub, _, _ = publisher("ack", factory=factory)
    assert (
        pub.publish([b"a", b"b"], soon())
        == ["Kafka unavailable: cannot connect to Kafka: refused"] * 2
    )
    assert pub.publish([b"c"], soon()) == [None]
    assert len(attempts) == 2 and fake.sent == [b"c"]


def test_build_gets_the_request_budget_and_waiters_give_up_at_their_deadline():
    release = threading.Event()

    def slow_factory(settings, connect_timeout):
        release.wait(5)
        return FakeClient()

    pub, _, _ = publisher("ack", factory=slow_factory)
    builder = threading.Thread(target=pub.publish, args=([b"a"], soon()))
    builder.start()
    time.sleep(0.05)
    started = time.monotonic()
    result = pub.publish([b"b"], time.monotonic() + 0.2)
    waited = time.monotonic() - started
    release.set()
    builder.join()
    assert result == ["Kafka unavailable: the Kafka producer is still connecting"]
    assert 0.15 <= waited < 1.0


def test_health_probes_at_most_once_per_cache_period():
    pub, fake, _ = publisher("ack", health_cache_s=60)
    for _ in range(5):
        assert pub.health() == (True, "Kafka reachable")
    assert fake.pings == 1


def test_health_reports_an_unreachable_broker():
    pub, fake, _ = publisher("ack", FakeClient(ping_ok=False), health_cache_s=0)
    ok, detail = pub.health()
    assert not ok and "unreachable" in detail
    fake.ping_ok = True
    assert pub.health()[0]  # no cache: the next probe sees the broker back


def test_health_when_the_producer_cannot_be_built():
    def factory(settings, connect_timeout):
        raise KafkaUnavailable("cannot connect to Kafka: refused")

    pub, _, _ = publisher("ack", factory=factory, health_timeout_s=0.5)
    ok, detail = pub.health()
    assert not ok and "refused" in detail


def test_close_flushes_through_the_client_and_refuses_new_work():
    pub, fake, _ = publisher("async", delivery_timeout_s=3)
    pub.publish([b"a"], soon())
    pub.close()
    assert fake.closed_with == 3
    with pytest.raises(KafkaUnavailable, match="shutting down"):
        pub.client(soon())


# -- confluent-kafka's per-request latch (pure logic: callbacks are called by hand) ----------------


class _Err:
    def __init__(self, text):
        self.text = text

    def str(self):
        return self.text


def test_deliveries_release_the_waiter_once_every_record_is_reported():
    from app.producer_client import _Deliveries

    stats = DeliveryStats()
    pending = _Deliveries(3, stats, watch=True)
    pending.queued = 3
    pending.delivered(2, None, None)
    pending.delivered(0, _Err("broker said no"), None)
    threading.Timer(0.05, pending.delivered, args=(1, None, None)).start()
    started = time.monotonic()
    assert pending.wait(5) == [
        None if i != 0 else "delivery failed: broker said no" for i in range(3)
    ]
    assert time.monotonic() - started < 1  # woken by the last callback, not by the timeout
    assert stats.failed == 1


def test_deliveries_time_out_per_record_and_report_unqueued_ones():
    from app.producer_client import TIMED_OUT, _Deliveries

    pending = _Deliveries(4, DeliveryStats(), watch=False)
    pending.queued = 2
    pending.delivered(0, None, None)
    pending.stop_queueing("queue full")
    started = time.monotonic()
    assert pending.wait(0.2) == [None, TIMED_OUT, "queue full", "queue full"]
    assert 0.15 < time.monotonic() - started < 1


def test_deliveries_with_nothing_queued_do_not_wait():
    from app.producer_client import _Deliveries

    pending = _Deliveries(2, DeliveryStats(), watch=False)
    pending.stop_queueing("queue full")
    started = time.monotonic()
    assert pending.wait(5) == ["queue full", "queue full"]
    assert time.monotonic() - started < 0.5


class FailsEverything(dict):
    """ack_errors for a client whose every delivery fails."""

    def get(self, key, default=None):
        return "delivery failed: wedged"


def test_a_producer_whose_deliveries_keep_failing_is_rebuilt():
    """REBUILD_AFTER_FAILURES requests in a row whose every record failed drop the producer, and
    the next request builds a new one: a client wedged for good (kafka-python's idempotent
    producer could stay so after Kafka froze) does not keep its worker answering 503 for ever."""
    wedged, fresh = FakeClient(), FakeClient()
    wedged.ack_errors = FailsEverything()
    clients = [wedged, fresh]
    pub, _, _ = publisher(factory=lambda settings, timeout: clients.pop(0))
    pub.breaker = CircuitBreaker(cooldown_s=0.0)  # each request a probe: no cool-down to wait
    outcomes = [pub.publish([b"e"], soon())[0] for _ in range(REBUILD_AFTER_FAILURES + 1)]
    assert all(outcomes[:REBUILD_AFTER_FAILURES]) and outcomes[-1] is None, outcomes
    assert clients == [] and fresh.sent == [b"e"]
    deadline = soon()  # the wedged producer is closed in the background
    while wedged.closed_with is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert wedged.closed_with is not None
