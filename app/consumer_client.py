"""Two Kafka consumer libraries behind one small interface: kafka-python (default), confluent-kafka.

The consumer loop only needs: subscribe with assigned/revoked callbacks, poll a batch of
(partition, offset, value) records, commit explicit offsets (asynchronously, or waiting), close.
Auto-commit is off in both, and a fresh group starts from the earliest offset, so a run's events
are never skipped.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from app.commit_flight import CommitFlight
from app.eventlog import Record
from app.settings import CLIENTS, KafkaSecurity

OnPartitions = Callable[[list[int]], None]


@dataclass(frozen=True)
class ClientConfig:
    bootstrap_servers: str
    group_id: str
    security: KafkaSecurity = KafkaSecurity()
    max_records: int = 2000
    # How long the group waits for a member that vanished (SIGKILL) before handing its
    # partitions to the others. Kafka's default is 45 s; 10 s was the default before 3.0.
    session_timeout_ms: int = 10_000
    # A fetch answers once this many bytes are ready or the wait passed (the libraries' defaults
    # are 1 byte / 500 ms: under load every poll then fetches, writes and commits a few records,
    # and each fetch and commit costs the broker, on the cores the API needs).
    fetch_min_bytes: int = 64 * 1024
    fetch_max_wait_ms: int = 100

    @property
    def heartbeat_interval_ms(self) -> int:
        return min(3000, self.session_timeout_ms // 3)

    @property
    def max_poll_interval_ms(self) -> int:
        """Also the group's rebalance timeout: how long a rebalance waits for members to rejoin.
        The libraries' 5 minutes outlasted any drain after a broker outage (a consumer whose
        session timed out during the outage waited that long for its new assignment); this loop
        polls at least every second, so 30 s is ample."""
        return max(30_000, 3 * self.session_timeout_ms)

    @property
    def rejoin_timeout_ms(self) -> int:
        """How long a member may wait for an assignment after losing its partitions: a member
        in the group is given one within a rebalance (the rebalance timeout), and learns it was
        dropped within a session timeout."""
        return self.max_poll_interval_ms + self.session_timeout_ms


class CommitFailed(Exception):
    """The group rejected a commit (e.g. it rebalanced): the records will be delivered again."""


class ConsumerClient(Protocol):
    name: str  # library and version, printed at start
    async_commit_failures: int  # asynchronous commits the group rejected (seen so far)
    transient_errors: int  # retriable errors met while polling (retried, not fatal)

    def subscribe(
        self, topic: str, on_assigned: OnPartitions, on_revoked: OnPartitions
    ) -> None: ...

    def poll(self, max_records: int, timeout_s: float) -> list[Record]: ...

    def commit(self, offsets: Mapping[int, int], asynchronous: bool = False) -> None:
        """Commit `partition -> next offset to read`.

        Waiting, it raises CommitFailed; asynchronously, a failure is counted when it is seen.
        """

    def close(self) -> None:
        """Leave the group without committing anything."""


def _report_async_failure(error: object) -> None:
    print(f"consumer: async commit failed (retried with the next commit): {error}", file=sys.stderr)


def _report_transient(error: object) -> None:
    print(f"consumer: kafka error (retrying): {error}", file=sys.stderr, flush=True)


def _kafka_python_consumer(cfg: ClientConfig):
    import kafka

    return kafka.KafkaConsumer(
        bootstrap_servers=cfg.bootstrap_servers.split(","),
        group_id=cfg.group_id,
        client_id="events-consumer",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=cfg.max_records,
        fetch_min_bytes=cfg.fetch_min_bytes,
        fetch_max_wait_ms=cfg.fetch_max_wait_ms,
        session_timeout_ms=cfg.session_timeout_ms,
        heartbeat_interval_ms=cfg.heartbeat_interval_ms,
        max_poll_interval_ms=cfg.max_poll_interval_ms,
        # kafka-python backs off up to 30 s from a broker that refused connections; a killed
        # broker that restarts (and may lead partitions again) would wait that long. 1 s is
        # the Java client's default.
        reconnect_backoff_max_ms=1000,
        **cfg.security.for_client("kafka-python"),
    )


class KafkaPythonClient:
    def __init__(self, cfg: ClientConfig, consumer=None) -> None:
        """`consumer`: a ready kafka.KafkaConsumer (tests); None builds one from `cfg`."""
        import kafka

        self._consumer = consumer if consumer is not None else _kafka_python_consumer(cfg)
        self.name = f"kafka-python {kafka.__version__}"
        self.async_commit_failures = 0
        self.transient_errors = 0  # retriable errors raised by poll(), retried
        self._topic = ""
        self._commits = CommitFlight(self._send_commit)

    def subscribe(self, topic: str, on_assigned: OnPartitions, on_revoked: OnPartitions) -> None:
        from kafka import ConsumerRebalanceListener

        # kafka-python runs these on its event loop: they must not block (nor commit).
        commits = self._commits

        class Listener(ConsumerRebalanceListener):
            def on_partitions_revoked(self, revoked):
                commits.forget(tp.partition for tp in revoked)
                on_revoked(sorted(tp.partition for tp in revoked))

            def on_partitions_assigned(self, assigned):
                on_assigned(sorted(tp.partition for tp in assigned))

        self._topic = topic
        self._consumer.subscribe([topic], listener=Listener())
        # Know the topic's partitions before the first join (in poll): otherwise kafka-python
        # joins with empty metadata, gets no partitions, and rebalances again when the metadata
        # arrives; when that update races the join, it stays without partitions for minutes.
        self._consumer.partitions_for_topic(topic)

    def poll(self, max_records: int, timeout_s: float) -> list[Record]:
        from kafka.errors import KafkaError

        try:
            polled = self._consumer.poll(timeout_ms=int(timeout_s * 1000), max_records=max_records)
        except KafkaError as exc:
            # kafka-python 3.0.12 lets some broker failures escape poll(): when finding a new
            # group coordinator fails and the metadata refresh it triggers fails too (a broker
            # just died: ECONNREFUSED), ensure_coordinator_ready raises instead of retrying.
            # The consumer itself is intact: back off briefly and poll again.
            if not exc.retriable:
                raise
            self._on_transient(exc)
            time.sleep(min(timeout_s, 0.2))
            return []
        finally:
            self._commits.flush()  # answered commits freed the slot: send what waits
        return [(tp.partition, r.offset, r.value) for tp, recs in polled.items() for r in recs]

    def _on_transient(self, exc: Exception) -> None:
        self.transient_errors += 1
        if self.transient_errors <= 20 or self.transient_errors % 100 == 0:  # bounded output
            _report_transient(f"{type(exc).__name__}: {exc} (#{self.transient_errors})")

    def commit(self, offsets: Mapping[int, int], asynchronous: bool = False) -> None:
        from kafka.errors import KafkaError

        if asynchronous:
            self._commits.add(offsets)
            return
        try:
            self._consumer.commit(self._topic_offsets(offsets))
        except KafkaError as exc:
            raise CommitFailed(f"{type(exc).__name__}: {exc}") from exc

    def _topic_offsets(self, offsets: Mapping[int, int]) -> dict:
        from kafka import OffsetAndMetadata, TopicPartition

        return {TopicPartition(self._topic, p): OffsetAndMetadata(o) for p, o in offsets.items()}

    def _send_commit(self, offsets: dict[int, int], done: Callable) -> None:
        """One asynchronous commit for CommitFlight; kafka-python answers it inside poll()."""

        def answered(_offsets, response) -> None:
            failed = response if isinstance(response, Exception) else None
            if failed is not None:
                self.async_commit_failures += 1
                _report_async_failure(f"{type(failed).__name__}: {failed}")
            done(failed)

        self._consumer.commit_async(self._topic_offsets(offsets), callback=answered)

    def close(self) -> None:
        self._consumer.close(autocommit=False)


class ConfluentClient:
    def __init__(self, cfg: ClientConfig) -> None:
        import confluent_kafka

        config = {
            "bootstrap.servers": cfg.bootstrap_servers,
            "group.id": cfg.group_id,
            "client.id": "events-consumer",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": False,
            "fetch.min.bytes": cfg.fetch_min_bytes,
            "fetch.wait.max.ms": cfg.fetch_max_wait_ms,
            "session.timeout.ms": cfg.session_timeout_ms,
            "heartbeat.interval.ms": cfg.heartbeat_interval_ms,
            "max.poll.interval.ms": cfg.max_poll_interval_ms,
            "on_commit": self._on_commit,  # results of asynchronous commits, seen in consume()
        }
        config.update(cfg.security.for_client("confluent-kafka"))
        self._consumer = confluent_kafka.Consumer(config)
        self.name = (
            f"confluent-kafka {confluent_kafka.version()} "
            f"(librdkafka {confluent_kafka.libversion()[0]})"
        )
        self.async_commit_failures = 0
        self.transient_errors = 0
        self._topic = ""
        self._errors_seen: set[str] = set()
        self._waiting_commit = False

    def subscribe(self, topic: str, on_assigned: OnPartitions, on_revoked: OnPartitions) -> None:
        def on_assign(consumer, partitions):
            on_assigned(sorted(tp.partition for tp in partitions))

        def on_revoke(consumer, partitions):
            on_revoked(sorted(tp.partition for tp in partitions))

        self._topic = topic
        self._consumer.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke)

    def poll(self, max_records: int, timeout_s: float) -> list[Record]:
        from confluent_kafka import KafkaException

        # consume(n, timeout) returns only once it has n messages or the timeout passed: below
        # n / timeout events/s (4,000 with 2000 and 0.5 s) every event waited up to the whole
        # timeout before it was written, which the runs measured as end-to-end latency. So: wait
        # for the first message, then take what is already fetched without waiting.
        messages = self._consumer.consume(num_messages=1, timeout=timeout_s)
        if messages and max_records > 1:
            messages += self._consumer.consume(num_messages=max_records - 1, timeout=0)
        records = []
        for msg in messages:
            err = msg.error()
            if err is None:
                records.append((msg.partition(), msg.offset(), msg.value()))
            elif err.fatal():
                raise KafkaException(err)
            else:  # transient (a broker down, the topic not there yet): librdkafka retries
                self.transient_errors += 1
                if err.str() not in self._errors_seen:
                    self._errors_seen.add(err.str())
                    _report_transient(err.str())
        return records

    def commit(self, offsets: Mapping[int, int], asynchronous: bool = False) -> None:
        from confluent_kafka import KafkaException, TopicPartition

        tps = [TopicPartition(self._topic, p, o) for p, o in offsets.items()]
        if asynchronous:
            self._consumer.commit(offsets=tps, asynchronous=True)
            return
        self._waiting_commit = True  # its result is raised here, not counted by _on_commit
        try:
            self._consumer.commit(offsets=tps, asynchronous=False)
        except KafkaException as exc:
            raise CommitFailed(str(exc)) from exc
        finally:
            self._waiting_commit = False

    def _on_commit(self, error, partitions) -> None:
        failed = error or next((tp.error for tp in partitions if tp.error), None)
        if failed and not self._waiting_commit:
            self.async_commit_failures += 1
            _report_async_failure(failed)

    def close(self) -> None:
        self._consumer.close()


def make_client(name: str, cfg: ClientConfig) -> ConsumerClient:
    """The consumer of library `name` (one of CLIENTS), not yet subscribed."""
    kinds = {"kafka-python": KafkaPythonClient, "confluent-kafka": ConfluentClient}
    if name not in kinds:
        raise ValueError(f"unknown Kafka client {name!r}; choose one of {', '.join(CLIENTS)}")
    return kinds[name](cfg)


def next_offsets(records: list[Record]) -> dict[int, int]:
    """partition -> the offset after the last record of that partition (what to commit).

    Both libraries deliver a partition's records in offset order, so the last one wins.
    """
    return {partition: offset + 1 for partition, offset, _ in records}
