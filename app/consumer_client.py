"""Two Kafka consumer libraries behind one small interface: kafka-python (default), confluent-kafka.

The consumer loop only needs: subscribe with an "assigned" callback, poll a batch of
(partition, offset, value) records, commit explicit offsets, close. Auto-commit is off in both, and
a fresh group starts from the earliest offset, so a run's events are never skipped.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Protocol

from app.eventlog import Record

CLIENTS = ("kafka-python", "confluent-kafka")

# Generic security setting -> each library's own name (pass-through for external clusters).
_KAFKA_PYTHON_SECURITY = {
    "security_protocol": "security_protocol",
    "sasl_mechanism": "sasl_mechanism",
    "sasl_username": "sasl_plain_username",
    "sasl_password": "sasl_plain_password",
    "ssl_cafile": "ssl_cafile",
    "ssl_certfile": "ssl_certfile",
    "ssl_keyfile": "ssl_keyfile",
}
_CONFLUENT_SECURITY = {
    "security_protocol": "security.protocol",
    "sasl_mechanism": "sasl.mechanism",
    "sasl_username": "sasl.username",
    "sasl_password": "sasl.password",
    "ssl_cafile": "ssl.ca.location",
    "ssl_certfile": "ssl.certificate.location",
    "ssl_keyfile": "ssl.key.location",
}

OnAssigned = Callable[[list[int]], None]


class CommitFailed(Exception):
    """The group rejected a commit (e.g. it rebalanced): the records will be delivered again."""


class ConsumerClient(Protocol):
    name: str  # library and version, printed at start

    def subscribe(self, topic: str, on_assigned: OnAssigned) -> None: ...

    def poll(self, max_records: int, timeout_s: float) -> list[Record]: ...

    def commit(self, offsets: Mapping[int, int]) -> None:
        """Commit `partition -> next offset to read`; raises CommitFailed."""

    def close(self) -> None:
        """Leave the group without committing anything."""


class KafkaPythonClient:
    def __init__(
        self,
        bootstrap_servers: str,
        group_id: str,
        security: Mapping[str, str],
        max_records: int,
    ) -> None:
        import kafka

        config = {_KAFKA_PYTHON_SECURITY[k]: v for k, v in security.items() if v}
        self._consumer = kafka.KafkaConsumer(
            bootstrap_servers=bootstrap_servers.split(","),
            group_id=group_id,
            client_id="events-consumer",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=max_records,
            **config,
        )
        self.name = f"kafka-python {kafka.__version__}"
        self._topic = ""

    def subscribe(self, topic: str, on_assigned: OnAssigned) -> None:
        from kafka import ConsumerRebalanceListener

        class Listener(ConsumerRebalanceListener):
            def on_partitions_revoked(self, revoked):
                pass  # every batch is committed before the next poll: nothing is pending

            def on_partitions_assigned(self, assigned):
                on_assigned(sorted(tp.partition for tp in assigned))

        self._topic = topic
        self._consumer.subscribe([topic], listener=Listener())

    def poll(self, max_records: int, timeout_s: float) -> list[Record]:
        polled = self._consumer.poll(timeout_ms=int(timeout_s * 1000), max_records=max_records)
        return [(tp.partition, r.offset, r.value) for tp, recs in polled.items() for r in recs]

    def commit(self, offsets: Mapping[int, int]) -> None:
        from kafka import OffsetAndMetadata, TopicPartition
        from kafka.errors import KafkaError

        try:
            self._consumer.commit(
                {TopicPartition(self._topic, p): OffsetAndMetadata(o) for p, o in offsets.items()}
            )
        except KafkaError as exc:
            raise CommitFailed(f"{type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        self._consumer.close(autocommit=False)


class ConfluentClient:
    def __init__(
        self,
        bootstrap_servers: str,
        group_id: str,
        security: Mapping[str, str],
        max_records: int,
    ) -> None:
        import confluent_kafka

        config = {
            "bootstrap.servers": bootstrap_servers,
            "group.id": group_id,
            "client.id": "events-consumer",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": False,
        }
        config.update({_CONFLUENT_SECURITY[k]: v for k, v in security.items() if v})
        self._consumer = confluent_kafka.Consumer(config)
        self.name = (
            f"confluent-kafka {confluent_kafka.version()[0]} "
            f"(librdkafka {confluent_kafka.libversion()[0]})"
        )
        self._topic = ""
        self._errors_seen: set[str] = set()

    def subscribe(self, topic: str, on_assigned: OnAssigned) -> None:
        def on_assign(consumer, partitions):
            on_assigned(sorted(tp.partition for tp in partitions))

        self._topic = topic
        self._consumer.subscribe([topic], on_assign=on_assign)

    def poll(self, max_records: int, timeout_s: float) -> list[Record]:
        from confluent_kafka import KafkaException

        records = []
        for msg in self._consumer.consume(num_messages=max_records, timeout=timeout_s):
            err = msg.error()
            if err is None:
                records.append((msg.partition(), msg.offset(), msg.value()))
            elif err.fatal():
                raise KafkaException(err)
            elif err.str() not in self._errors_seen:  # transient (e.g. topic not there yet)
                self._errors_seen.add(err.str())
                print(f"consumer: kafka error (continuing): {err.str()}", file=sys.stderr)
        return records

    def commit(self, offsets: Mapping[int, int]) -> None:
        from confluent_kafka import KafkaException, TopicPartition

        try:
            self._consumer.commit(
                offsets=[TopicPartition(self._topic, p, o) for p, o in offsets.items()],
                asynchronous=False,
            )
        except KafkaException as exc:
            raise CommitFailed(str(exc)) from exc

    def close(self) -> None:
        self._consumer.close()


def make_client(
    name: str,
    bootstrap_servers: str,
    group_id: str,
    security: Mapping[str, str] | None = None,
    max_records: int = 2000,
) -> ConsumerClient:
    """The consumer of library `name` (one of CLIENTS), not yet subscribed."""
    kinds = {"kafka-python": KafkaPythonClient, "confluent-kafka": ConfluentClient}
    if name not in kinds:
        raise ValueError(f"unknown Kafka client {name!r}; choose one of {', '.join(CLIENTS)}")
    return kinds[name](bootstrap_servers, group_id, dict(security or {}), max_records)


def next_offsets(records: list[Record]) -> dict[int, int]:
    """partition -> the offset after the last record of that partition (what to commit).

    Both libraries deliver a partition's records in offset order, so the last one wins.
    """
    return {partition: offset + 1 for partition, offset, _ in records}
