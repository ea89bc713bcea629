"""Two Kafka client libraries behind one small interface.

    client = make_client(settings)
    handles = [client.send(value_bytes, key) for ...]   # queue records (may block on metadata)
    errors = client.wait(handles, deadline)             # None = acknowledged, else why not
    client.flush(timeout); client.ping(timeout); client.close(timeout)

`kafka-python` (pure Python, the default) and `confluent-kafka` (librdkafka) differ in how results
arrive: kafka-python resolves futures on its sender thread; librdkafka only runs delivery callbacks
inside poll()/flush(), so `ConfluentClient` runs a poll thread of its own.

Delivery failures are counted in `stats` and logged for records sent with `watch=True` (async
delivery, where nobody waits for them).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from app.settings import ProducerSettings

log = logging.getLogger(__name__)


class KafkaUnavailable(RuntimeError):
    """The producer could not be created or could not queue a record in time."""


@dataclass
class DeliveryStats:
    sent: int = 0
    failed: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def add_sent(self, n: int = 1) -> None:
        with self._lock:
            self.sent += n

    def add_failed(self, error: object) -> None:
        with self._lock:
            self.failed += 1
            failed = self.failed
        # Log the first few failures and then every 1000th, so a dead broker cannot flood the log.
        if failed <= 10 or failed % 1000 == 0:
            log.error("delivery failed (%d failures so far): %s", failed, error)


class ProducerClient(Protocol):
    stats: DeliveryStats

    def send(self, value: bytes, key: bytes | None = None, watch: bool = True) -> object: ...

    def wait(self, handles: Sequence[object], deadline: float) -> list[str | None]: ...

    def flush(self, timeout: float) -> bool: ...

    def ping(self, timeout: float) -> bool: ...

    def close(self, timeout: float) -> None: ...


def make_client(settings: ProducerSettings, connect_timeout: float | None = None) -> ProducerClient:
    """The client library `settings.client` names (this may connect: call it after the fork).

    `connect_timeout` bounds the initial connection (kafka-python bootstraps in its constructor);
    it defaults to the delivery timeout.
    """
    if connect_timeout is None:
        connect_timeout = settings.delivery_timeout_s
    if settings.client == "confluent-kafka":
        return ConfluentClient(settings)
    return KafkaPythonClient(settings, connect_timeout)


def _remaining(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())


# ---------------------------------------------------------------- kafka-python


def kafka_python_config(settings: ProducerSettings, connect_timeout: float) -> dict:
    timeout_ms = int(settings.delivery_timeout_s * 1000)
    config = {
        "bootstrap_servers": settings.bootstrap_servers.split(","),
        "acks": -1 if settings.acks == "all" else int(settings.acks),
        # Idempotence needs acks=all; with acks 0/1 it is turned off explicitly, not by a warning.
        "enable_idempotence": settings.acks == "all",
        "linger_ms": settings.linger_ms,
        "batch_size": settings.batch_size,
        "compression_type": None if settings.compression == "none" else settings.compression,
        # Every wait is bounded: the bootstrap in the constructor by the caller's budget, the
        # metadata wait inside send() and each record's whole delivery by the delivery timeout.
        "bootstrap_timeout_ms": max(1, int(connect_timeout * 1000)),
        "max_block_ms": timeout_ms,
        "delivery_timeout_ms": timeout_ms,
        "request_timeout_ms": max(1, timeout_ms - settings.linger_ms),
        "reconnect_backoff_max_ms": 1000,
    }
    security = {
        "security_protocol": settings.security_protocol,
        "sasl_mechanism": settings.sasl_mechanism,
        "sasl_plain_username": settings.sasl_username,
        "sasl_plain_password": settings.sasl_password,
        "ssl_cafile": settings.ssl_cafile,
        "ssl_certfile": settings.ssl_certfile,
        "ssl_keyfile": settings.ssl_keyfile,
    }
    config.update({k: v for k, v in security.items() if v is not None})
    return config


class KafkaPythonClient:
    def __init__(self, settings: ProducerSettings, connect_timeout: float) -> None:
        from kafka import KafkaProducer
        from kafka.errors import KafkaError

        self.topic = settings.topic
        self.stats = DeliveryStats()
        try:
            self._producer = KafkaProducer(**kafka_python_config(settings, connect_timeout))
        except KafkaError as exc:
            raise KafkaUnavailable(f"cannot connect to Kafka: {exc}") from exc

    def send(self, value: bytes, key: bytes | None = None, watch: bool = True) -> object:
        from kafka.errors import KafkaError

        try:
            future = self._producer.send(self.topic, value=value, key=key)
        except KafkaError as exc:
            raise KafkaUnavailable(f"cannot queue the record: {exc}") from exc
        if watch:  # a callback per record costs; callers that wait() see failures anyway
            future.add_errback(self.stats.add_failed)
        self.stats.add_sent()
        return future

    def wait(self, handles: Sequence[object], deadline: float) -> list[str | None]:
        errors: list[str | None] = []
        for future in handles:
            try:
                # get() also follows a future that a split batch rebound to a new batch.
                future.get(_remaining(deadline))
                errors.append(None)
            except Exception as exc:  # the future's own error, whatever kafka-python raised
                if future.is_done:
                    errors.append(f"delivery failed: {exc}")
                else:
                    errors.append("not acknowledged by Kafka within the delivery timeout")
        return errors

    def flush(self, timeout: float) -> bool:
        from kafka.errors import KafkaTimeoutError

        try:
            self._producer.flush(timeout=timeout)
            return True
        except KafkaTimeoutError:
            return False

    def ping(self, timeout: float) -> bool:
        """A metadata round trip on the producer's own connection manager.

        This is what KafkaProducer itself does to wait on metadata: request an update and wake the
        sender thread, which performs it. It proves a broker answers, not only that a socket opens.
        """
        done = threading.Event()
        future = self._producer._metadata.request_update()
        future.add_both(lambda *_: done.set())
        self._producer._sender.wakeup()
        return done.wait(timeout) and future.succeeded()

    def close(self, timeout: float) -> None:
        from kafka.errors import KafkaError

        if not self.flush(timeout):
            log.error("records still undelivered at close")
        try:
            self._producer.close(timeout=1)
        except KafkaError as exc:  # close() flushes again and raises when that times out
            log.error("closing the producer: %s", exc)


# ---------------------------------------------------------------- confluent-kafka


def confluent_config(settings: ProducerSettings) -> dict:
    config = {
        "bootstrap.servers": settings.bootstrap_servers,
        "acks": settings.acks,
        "enable.idempotence": settings.acks == "all",
        "linger.ms": settings.linger_ms,
        "batch.size": settings.batch_size,
        "compression.type": settings.compression,
        "message.timeout.ms": int(settings.delivery_timeout_s * 1000),
        "reconnect.backoff.max.ms": 1000,
    }
    security = {
        "security.protocol": settings.security_protocol,
        "sasl.mechanism": settings.sasl_mechanism,
        "sasl.username": settings.sasl_username,
        "sasl.password": settings.sasl_password,
        "ssl.ca.location": settings.ssl_cafile,
        "ssl.certificate.location": settings.ssl_certfile,
        "ssl.key.location": settings.ssl_keyfile,
    }
    config.update({k: v for k, v in security.items() if v is not None})
    return config


class _Delivery:
    """One record's outcome, set by librdkafka's delivery callback on the poll thread."""

    __slots__ = ("done", "error", "_stats")

    def __init__(self, stats: DeliveryStats) -> None:
        self.done = threading.Event()
        self.error: str | None = None
        self._stats = stats

    def __call__(self, err, msg) -> None:
        if err is not None:
            self.error = f"delivery failed: {err.str()}"
            self._stats.add_failed(err.str())
        self.done.set()


class ConfluentClient:
    def __init__(self, settings: ProducerSettings) -> None:
        from confluent_kafka import Producer

        self.topic = settings.topic
        self.stats = DeliveryStats()
        self._timeout = settings.delivery_timeout_s
        self._producer = Producer(confluent_config(settings), logger=log)
        self._closing = threading.Event()
        self._poller = threading.Thread(target=self._poll_loop, name="rdkafka-poll", daemon=True)
        self._poller.start()

    def _poll_loop(self) -> None:
        # poll() blocks in C without the GIL and returns as soon as a callback ran.
        while not self._closing.is_set():
            self._producer.poll(0.1)

    def send(self, value: bytes, key: bytes | None = None, watch: bool = True) -> object:
        delivery = _Delivery(self.stats)  # counts failures only: as cheap as not watching
        deadline = time.monotonic() + self._timeout
        while True:
            try:
                self._producer.produce(self.topic, value=value, key=key, on_delivery=delivery)
                break
            except BufferError:
                # The local queue is full (the broker is slow or gone): wait for room, bounded.
                if time.monotonic() >= deadline:
                    raise KafkaUnavailable("the producer queue stayed full") from None
                time.sleep(0.01)
        self.stats.add_sent()
        return delivery

    def wait(self, handles: Sequence[object], deadline: float) -> list[str | None]:
        errors: list[str | None] = []
        for delivery in handles:
            if delivery.done.wait(_remaining(deadline)):
                errors.append(delivery.error)
            else:
                errors.append("not acknowledged by Kafka within the delivery timeout")
        return errors

    def flush(self, timeout: float) -> bool:
        return self._producer.flush(timeout) == 0

    def ping(self, timeout: float) -> bool:
        from confluent_kafka import KafkaException

        try:
            self._producer.list_topics(self.topic, timeout=timeout)
            return True
        except KafkaException:
            return False

    def close(self, timeout: float) -> None:
        remaining = self._producer.flush(timeout)
        if remaining:
            log.error("%d records still undelivered at close", remaining)
        self._closing.set()
        self._poller.join(timeout=1)
