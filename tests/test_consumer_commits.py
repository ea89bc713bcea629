"""Unit tests of the consumer's commit and retry logic, without a broker.

CommitFlight: one asynchronous commit in flight, the rest merged and retried. KafkaPythonClient
over a stand-in for kafka.KafkaConsumer: retriable errors escaping poll() are retried, and a
stream of batches leads to one commit at a time.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from kafka import TopicPartition
from kafka.errors import KafkaConnectionError, NotCoordinatorError, UnsupportedVersionError

from app.commit_flight import CommitFlight
from app.consumer_client import ClientConfig, KafkaPythonClient


class Coordinator:
    """Records what was sent; the test answers each commit when it chooses."""

    def __init__(self) -> None:
        self.sent: list[dict[int, int]] = []
        self.answers: list = []

    def send(self, offsets, done) -> None:
        self.sent.append(dict(offsets))
        self.answers.append(done)

    def answer(self, i: int, error: BaseException | None = None) -> None:
        self.answers[i](error)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_batches_wait_while_a_commit_is_out_and_go_together():
    coord = Coordinator()
    flight = CommitFlight(coord.send)
    flight.add({0: 10, 1: 5})
    flight.add({0: 20})
    flight.add({0: 30, 2: 7})
    assert coord.sent == [{0: 10, 1: 5}]  # one request, the others wait
    assert flight.waiting == {0: 30, 2: 7}
    coord.answer(0)
    assert coord.sent == [{0: 10, 1: 5}]  # an answer alone sends nothing: the loop flushes
    flight.flush()
    assert coord.sent[1] == {0: 30, 2: 7}
    assert flight.waiting == {} and flight.in_flight


def test_idle_flush_sends_nothing_twice():
    coord = Coordinator()
    flight = CommitFlight(coord.send)
    flight.add({0: 1})
    coord.answer(0)
    flight.flush()
    flight.flush()
    assert coord.sent == [{0: 1}] and not flight.in_flight


def test_a_failed_commit_is_retried_at_the_next_flush():
    coord = Coordinator()
    flight = CommitFlight(coord.send)
    flight.add({0: 10, 1: 5})
    coord.answer(0, RuntimeError("NotCoordinatorError"))
    assert not flight.in_flight and flight.waiting == {0: 10, 1: 5}
    flight.flush()
    assert coord.sent == [{0: 10, 1: 5}, {0: 10, 1: 5}]


def test_a_failed_commit_never_moves_a_waiting_offset_back():
    coord = Coordinator()
    flight = CommitFlight(coord.send)
    flight.add({0: 10, 1: 5})
    flight.add({0: 20})  # waits
    coord.answer(0, RuntimeError("timeout"))
    assert flight.waiting == {0: 20, 1: 5}


def test_a_failure_answered_after_a_newer_commit_is_not_requeued():
    clock = Clock()
    coord = Coordinator()
    flight = CommitFlight(coord.send, stale_after_s=15, clock=clock)
    flight.add({0: 10})
    clock.now += 16  # the first went unanswered: it no longer holds the next
    flight.add({0: 20})
    assert coord.sent == [{0: 10}, {0: 20}]
    coord.answer(1)  # the newer one landed
    coord.answer(0, RuntimeError("late timeout"))  # the older fails afterwards
    assert flight.waiting == {}  # 10 must not be sent after 20 was committed
    assert not flight.in_flight


def test_a_late_answer_does_not_free_the_slot_of_a_newer_commit():
    clock = Clock()
    coord = Coordinator()
    flight = CommitFlight(coord.send, stale_after_s=15, clock=clock)
    flight.add({0: 10})
    clock.now += 16
    flight.add({0: 20})
    coord.answer(0)  # the stale one answers: the newer is still out
    flight.add({0: 30})
    assert coord.sent == [{0: 10}, {0: 20}] and flight.waiting == {0: 30}


def test_an_unanswered_commit_holds_the_next_until_stale():
    clock = Clock()
    coord = Coordinator()
    flight = CommitFlight(coord.send, stale_after_s=15, clock=clock)
    flight.add({0: 10})
    clock.now += 14
    flight.add({0: 20})
    assert coord.sent == [{0: 10}]
    clock.now += 2
    flight.flush()
    assert coord.sent == [{0: 10}, {0: 20}]


def test_revoked_partitions_are_never_sent_nor_requeued():
    coord = Coordinator()
    flight = CommitFlight(coord.send)
    flight.add({0: 10, 1: 5})
    flight.add({0: 20, 1: 9})  # waits
    flight.forget([1])  # a rebalance gave partition 1 to another member
    coord.answer(0, RuntimeError("RebalanceInProgress"))
    flight.flush()
    assert coord.sent == [{0: 10, 1: 5}, {0: 20}]


def test_a_send_that_raises_frees_the_slot_and_keeps_the_offsets():
    calls = []

    def send(offsets, done):
        calls.append(dict(offsets))
        if len(calls) == 1:
            raise RuntimeError("commit_async refused")

    flight = CommitFlight(send)
    with pytest.raises(RuntimeError):
        flight.add({0: 10})
    assert not flight.in_flight and flight.waiting == {0: 10}
    flight.flush()
    assert calls == [{0: 10}, {0: 10}]


class FakeKafkaConsumer:
    """kafka.KafkaConsumer's surface as the client uses it; commit answers arrive inside poll()."""

    def __init__(self, results: list) -> None:
        self.results = list(results)  # each poll: {TopicPartition: [record]} or an exception
        self.commits: list[dict[int, int]] = []
        self.unanswered: list = []
        self.refuse_commits = 0  # how many of the next commits the coordinator rejects

    def poll(self, timeout_ms: int, max_records: int):
        for answer in self.unanswered:  # as kafka-python: completed commits' callbacks first
            answer()
        self.unanswered = []
        result = self.results.pop(0) if self.results else {}
        if isinstance(result, Exception):
            raise result
        return result

    def commit_async(self, offsets, callback) -> None:
        self.commits.append({tp.partition: meta.offset for tp, meta in offsets.items()})
        response = NotCoordinatorError("g") if self.refuse_commits > 0 else None
        self.refuse_commits -= 1
        self.unanswered.append(lambda: callback(offsets, response))


def batch(topic: str, partition: int, first: int, n: int) -> dict:
    records = [SimpleNamespace(offset=o, value=b"{}") for o in range(first, first + n)]
    return {TopicPartition(topic, partition): records}


def client_over(fake: FakeKafkaConsumer) -> KafkaPythonClient:
    client = KafkaPythonClient(ClientConfig("127.0.0.1:1", "g"), consumer=fake)
    client._topic = "t"
    return client


def test_a_retriable_error_escaping_poll_is_retried_not_fatal(capsys):
    # kafka-python 3.0.12 raises this from poll() when a coordinator lookup's metadata refresh
    # hits the broker that just died.
    refused = KafkaConnectionError("111 ECONNREFUSED")
    fake = FakeKafkaConsumer([refused, refused, batch("t", 0, 0, 3)])
    client = client_over(fake)
    assert client.poll(100, 0.01) == []
    assert client.poll(100, 0.01) == []
    assert client.poll(100, 0.01) == [(0, 0, b"{}"), (0, 1, b"{}"), (0, 2, b"{}")]
    assert client.transient_errors == 2
    assert "kafka error (retrying): KafkaConnectionError" in capsys.readouterr().err


def test_a_non_retriable_error_from_poll_stays_fatal():
    client = client_over(FakeKafkaConsumer([UnsupportedVersionError("too old")]))
    with pytest.raises(UnsupportedVersionError):
        client.poll(100, 0.01)


def test_batches_polled_while_a_commit_is_out_share_the_next_commit():
    fake = FakeKafkaConsumer([batch("t", 0, 0, 2), batch("t", 0, 2, 2), {}, {}])
    client = client_over(fake)
    client.commit({0: 2}, asynchronous=True)  # sent at once
    client.commit({0: 4}, asynchronous=True)  # waits: one is out
    client.commit({0: 6, 1: 1}, asynchronous=True)
    assert fake.commits == [{0: 2}]
    client.poll(100, 0.01)  # the first is answered, the merged rest goes out
    assert fake.commits == [{0: 2}, {0: 6, 1: 1}]
    client.poll(100, 0.01)
    client.poll(100, 0.01)  # idle: nothing sent twice
    assert fake.commits == [{0: 2}, {0: 6, 1: 1}]
    assert client.async_commit_failures == 0


def test_a_rejected_commit_is_counted_and_sent_again_when_idle(capsys):
    fake = FakeKafkaConsumer([{}, {}, {}])
    fake.refuse_commits = 1  # the coordinator moved: the first answer is NotCoordinator
    client = client_over(fake)
    client.commit({0: 5, 2: 9}, asynchronous=True)
    client.poll(100, 0.01)  # rejected; retried right away, with nothing new written
    client.poll(100, 0.01)  # accepted
    client.poll(100, 0.01)
    assert fake.commits == [{0: 5, 2: 9}, {0: 5, 2: 9}]
    assert client.async_commit_failures == 1
    assert "async commit failed (retried with the next commit): NotCoordinatorError" in (
        capsys.readouterr().err
    )
