"""Two Kafka client libraries behind one small interface.

    client = make_client(settings)
    pending = client.send([value_bytes, ...])    # queue records (may block on metadata)
    pending = client.send(values, keys=[key_bytes, ...])   # with record keys (`key` setting)
    errors = client.wait(pending, deadline)      # per record: None = acknowledged, else why not
    client.flush(timeout); client.ping(timeout); client.close(timeout)

A request's records are sent together and waited for together: one wake-up per request, not one
per record (a `threading.Event` per record cost confluent-kafka ~6x its own CPU per record).

`kafka-python` (pure Python, the default) and `confluent-kafka` (librdkafka) differ in how results
arrive: kafka-python resolves futures on its sender thread; librdkafka only runs delivery callbacks
inside poll()/flush(), so `ConfluentClient` runs a poll thread of its own.

Under gevent workers (`--server gunicorn-gevent`, where `threading` is monkey-patched) kafka-python
just works: its sockets, threads and events become cooperative. librdkafka's calls block in C, and
would stall every greenlet of the worker, so there `ConfluentClient` polls without blocking from a
greenlet (delivery callbacks then run in the worker's own thread, where gevent's locks are safe),
flushes the same way, and sends its metadata ping from gevent's native thread pool.

Delivery failures are counted in `stats` and logged for records sent with `watch=True` (async
delivery, where nobody waits for them).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Protocol

from app.settings import ProducerSettings

log = logging.getLogger(__name__)


class KafkaUnavailable(RuntimeError):
    """The producer could not be created or could not queue a record in time."""


TIMED_OUT = "not acknowledged by Kafka within the delivery timeout"


class Pending:
    """The records of one send(): the first `queued` were queued; the rest failed with `error`."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.queued = 0
        self.error: str | None = None

    def unqueued_errors(self) -> list[str | None]:
        """Per record: None when it was queued, else why not (what async delivery answers)."""
        return [None] * self.queued + [self.error] * (self.total - self.queued)


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

    def send(
        self, values: Sequence[bytes], watch: bool = True, keys: Sequence[bytes] | None = None
    ) -> Pending: ...

    def wait(self, pending: Pending, deadline: float) -> list[str | None]: ...

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


def gevent_patched() -> bool:
    """True in a gevent worker: `threading` was monkey-patched (threads are greenlets)."""
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and monkey.is_module_patched("threading")


# ---------------------------------------------------------------- kafka-python


def kafka_python_config(settings: ProducerSettings, connect_timeout: float) -> dict:
    timeout_ms = int(settings.delivery_timeout_s * 1000)
    config = {
        "bootstrap_servers": settings.bootstrap_servers.split(","),
        "acks": -1 if settings.acks == "all" else int(settings.acks),
        # Set explicitly, so that kafka-python raises on a conflict instead of silently turning
        # idempotence off (ProducerSettings refuses the conflicts first; unset follows acks).
        "enable_idempotence": settings.enable_idempotence,
        "max_in_flight_requests_per_connection": settings.max_in_flight,
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
    config.update(settings.security.for_client("kafka-python"))
    return config


class _Futures(Pending):
    def __init__(self, total: int) -> None:
        super().__init__(total)
        self.futures: list = []


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

    def send(
        self, values: Sequence[bytes], watch: bool = True, keys: Sequence[bytes] | None = None
    ) -> Pending:
        from kafka.errors import KafkaError

        pending = _Futures(len(values))
        send = self._producer.send
        for index, value in enumerate(values):
            key = None if keys is None else keys[index]
            try:
                future = send(self.topic, value=value, key=key)
            except KafkaError as exc:  # the metadata wait timed out, the buffer stayed full...
                pending.error = f"Kafka unavailable: cannot queue the record: {exc}"
                break
            if watch:  # a callback per record costs; callers that wait() see failures anyway
                future.add_errback(self.stats.add_failed)
            pending.futures.append(future)
        pending.queued = len(pending.futures)
        self.stats.add_sent(pending.queued)
        return pending

    def wait(self, pending: Pending, deadline: float) -> list[str | None]:
        errors: list[str | None] = []
        for future in pending.futures:
            try:
                # get() also follows a future that a split batch rebound to a new batch.
                future.get(_remaining(deadline))
                errors.append(None)
            except Exception as exc:  # the future's own error, whatever kafka-python raised
                errors.append(f"delivery failed: {exc}" if future.is_done else TIMED_OUT)
        return errors + pending.unqueued_errors()[pending.queued :]

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
        "enable.idempotence": settings.enable_idempotence,
        "max.in.flight.requests.per.connection": settings.max_in_flight,
        "linger.ms": settings.linger_ms,
        "batch.size": settings.batch_size,
        "compression.type": settings.compression,
        "message.timeout.ms": int(settings.delivery_timeout_s * 1000),
        "reconnect.backoff.max.ms": 1000,
    }
    config.update(settings.security.for_client("confluent-kafka"))
    return config


_WAITING = object()


class _Deliveries(Pending):
    """One request's records in librdkafka: delivery callbacks fill `results`; the last one to
    arrive releases the latch the request thread waits on (a bare lock: cheaper than an Event)."""

    def __init__(self, total: int, stats: DeliveryStats, watch: bool) -> None:
        super().__init__(total)
        self.results: list = [_WAITING] * total
        self._outstanding = total
        self._count_lock = threading.Lock()  # callbacks can run on the poll thread and in flush()
        self._latch = threading.Lock()
        self._latch.acquire()
        self._stats = stats
        self._watch = watch

    def delivered(self, index: int, err, msg) -> None:
        if err is not None:
            self.results[index] = f"delivery failed: {err.str()}"
            if self._watch:
                self._stats.add_failed(err.str())
        else:
            self.results[index] = None
        self._count_down(1)

    def stop_queueing(self, error: str) -> None:
        """The records from `queued` on will never be produced."""
        self.error = error
        self._count_down(self.total - self.queued)

    def _count_down(self, n: int) -> None:
        with self._count_lock:
            self._outstanding -= n
            last = self._outstanding == 0 and n > 0
        if last:
            self._latch.release()

    def wait(self, timeout: float) -> list[str | None]:
        if self.total:
            self._latch.acquire(timeout=timeout)
        results = [TIMED_OUT if r is _WAITING else r for r in self.results[: self.queued]]
        return results + self.unqueued_errors()[self.queued :]


class ConfluentClient:
    def __init__(self, settings: ProducerSettings, extra: dict | None = None) -> None:
        """`extra`: librdkafka settings on top of `confluent_config(settings)` (e.g. a test's
        `debug: conf`, to read the effective configuration back from librdkafka's log)."""
        from confluent_kafka import Producer

        self.topic = settings.topic
        self.stats = DeliveryStats()
        self._timeout = settings.delivery_timeout_s
        self._producer = Producer({**confluent_config(settings), **(extra or {})}, logger=log)
        self._closing = threading.Event()
        self._cooperative = gevent_patched()
        loop = self._poll_cooperatively if self._cooperative else self._poll_loop
        self._poller = threading.Thread(target=loop, name="rdkafka-poll", daemon=True)
        self._poller.start()

    def _poll_loop(self) -> None:
        # poll() blocks in C without the GIL and returns as soon as a callback ran.
        while not self._closing.is_set():
            self._producer.poll(0.1)

    def _poll_cooperatively(self) -> None:
        # A greenlet: poll(0) never blocks; between polls the worker serves its connections.
        # Every 0.5 ms while records are in flight (their acks come after linger_ms anyway),
        # every 5 ms when idle.
        while not self._closing.is_set():
            self._producer.poll(0)
            time.sleep(0.0005 if len(self._producer) else 0.005)

    def _flush_cooperatively(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while len(self._producer) and time.monotonic() < deadline:
            self._producer.poll(0)
            time.sleep(0.0005)
        return len(self._producer)

    def send(
        self, values: Sequence[bytes], watch: bool = True, keys: Sequence[bytes] | None = None
    ) -> Pending:
        pending = _Deliveries(len(values), self.stats, watch)
        produce, topic, delivered = self._producer.produce, self.topic, pending.delivered
        deadline = time.monotonic() + self._timeout
        for index, value in enumerate(values):
            key = None if keys is None else keys[index]  # None: no key, as produce's default
            while True:
                try:
                    produce(topic, value, key, on_delivery=partial(delivered, index))
                    break
                except BufferError:
                    # The local queue is full (the broker is slow or gone): wait for room, bounded.
                    if time.monotonic() >= deadline:
                        pending.stop_queueing("Kafka unavailable: the producer queue stayed full")
                        self.stats.add_sent(pending.queued)
                        return pending
                    time.sleep(0.01)
            pending.queued = index + 1
        self.stats.add_sent(pending.queued)
        return pending

    def wait(self, pending: Pending, deadline: float) -> list[str | None]:
        return pending.wait(_remaining(deadline))

    def flush(self, timeout: float) -> bool:
        if self._cooperative:
            return self._flush_cooperatively(timeout) == 0
        return self._producer.flush(timeout) == 0

    def ping(self, timeout: float) -> bool:
        from confluent_kafka import KafkaException

        list_topics = partial(self._producer.list_topics, self.topic, timeout=timeout)
        try:
            if self._cooperative:  # a metadata request serves no callbacks: a native thread may
                import gevent

                gevent.get_hub().threadpool.apply(list_topics)
            else:
                list_topics()
            return True
        except KafkaException:
            return False

    def close(self, timeout: float) -> None:
        remaining = (
            self._flush_cooperatively(timeout)
            if self._cooperative
            else self._producer.flush(timeout)
        )
        if remaining:
            log.error("%d records still undelivered at close", remaining)
        self._closing.set()
        self._poller.join(timeout=1)
