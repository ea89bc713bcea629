"""Delivery modes and the lazily built Kafka producer a worker process owns.

- `ack`: answer after the broker acknowledged every record (a batch waits once, for all of them);
- `async`: answer once the records are queued in the producer; failures are counted and logged;
- `flush`: the seed's way, send then flush() per request (a baseline);
- `noop`: validate and answer without touching Kafka (the bare HTTP ceiling).

The producer is built on first use, never at import or app-creation time, so that each gunicorn
worker gets its own after the fork. Every wait is bounded by the request's deadline: a dead broker
costs a request its delivery timeout at most, never a hang.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from app.breaker import CircuitBreaker
from app.producer_client import KafkaUnavailable, ProducerClient, make_client
from app.settings import ProducerSettings

log = logging.getLogger(__name__)

ClientFactory = Callable[[ProducerSettings, float], ProducerClient]
# Requests in a row whose every record failed before the producer is rebuilt (several probes).
REBUILD_AFTER_FAILURES = 10


def _remaining(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())


class Publisher:
    def __init__(
        self, settings: ProducerSettings, client_factory: ClientFactory = make_client
    ) -> None:
        self.settings = settings
        self._factory = client_factory
        self._client: ProducerClient | None = None
        self._client_lock = threading.Lock()
        self._closed = False
        self._health_lock = threading.Lock()
        self._health: tuple[float, bool, str] | None = None  # (checked_at, ok, detail)
        # Requests that wait for Kafka fail fast while it is known to be down (no thread pile-up).
        self.breaker = CircuitBreaker(
            cooldown_s=1.0, probe_timeout_s=settings.delivery_timeout_s + 1
        )

    @property
    def uses_kafka(self) -> bool:
        return self.settings.delivery != "noop"

    def client(self, deadline: float) -> ProducerClient:
        """The producer, built now if needed; KafkaUnavailable when that fails by `deadline`."""
        client = self._client
        if client is not None:
            return client
        if not self._client_lock.acquire(timeout=_remaining(deadline)):
            raise KafkaUnavailable("the Kafka producer is still connecting")
        try:
            if self._closed:
                raise KafkaUnavailable("the API is shutting down")
            if self._client is None:
                started = time.monotonic()
                self._client = self._factory(self.settings, max(0.1, _remaining(deadline)))
                log.info(
                    "Kafka producer (%s) ready in %.2fs",
                    self.settings.client,
                    time.monotonic() - started,
                )
            return self._client
        except KafkaUnavailable as exc:
            log.warning("Kafka producer not available: %s", exc)
            raise
        finally:
            self._client_lock.release()

    def warm_in_background(self) -> None:
        """Build the producer in a thread, so that a worker's first request need not wait."""
        if not self.uses_kafka:
            return

        def warm() -> None:
            try:
                self.client(time.monotonic() + self.settings.delivery_timeout_s)
            except Exception as exc:  # requests will retry and answer 503 meanwhile
                log.warning("producer warm-up failed: %s", exc)

        threading.Thread(target=warm, name="producer-warmup", daemon=True).start()

    def publish(
        self, values: Sequence[bytes], deadline: float, keys: Sequence[bytes] | None = None
    ) -> list[str | None]:
        """Send `values` (with their record `keys`, when the API keys records) per the delivery
        mode; per value None (accepted) or why it failed."""
        mode = self.settings.delivery
        if mode == "noop":
            return [None] * len(values)
        waits = mode != "async"
        if waits and not self.breaker.allow():
            return [
                "Kafka unavailable: recent requests failed; retry in "
                f"{self.breaker.retry_after_s():.1f} s"
            ] * len(values)
        try:
            failures = self._send(mode, values, deadline, keys)
        except BaseException:
            if waits:
                self.breaker.failure()  # a probe must always report, or the breaker stays shut
            raise
        if waits:
            if values and all(failures):
                self.breaker.failure()
                if self.breaker.consecutive_failures % REBUILD_AFTER_FAILURES == 0:
                    self._rebuild_client()
            else:
                self.breaker.success()
        return failures

    def _rebuild_client(self) -> None:
        """Drop a producer whose deliveries keep failing; the next request builds a new one.

        After Kafka stopped answering mid-request (a freeze, a partition), kafka-python's idempotent
        producer can stay wedged once Kafka is back (its expired batches left the broker's sequence
        numbers ahead of its own); a new producer starts a new sequence. What the old one still
        holds was answered 503 already, so nothing accepted is dropped.
        """
        with self._client_lock:
            old, self._client = self._client, None
        if old is not None:
            log.warning("rebuilding the Kafka producer: deliveries kept failing")
            threading.Thread(target=old.close, args=(1.0,), daemon=True).start()

    def _send(
        self, mode: str, values: Sequence[bytes], deadline: float, keys: Sequence[bytes] | None
    ) -> list[str | None]:
        try:
            client = self.client(deadline)
        except KafkaUnavailable as exc:
            return [f"Kafka unavailable: {exc}"] * len(values)
        # Async delivery has nobody waiting, so the client counts and logs its failures.
        pending = client.send(values, watch=mode == "async", keys=keys)
        if mode == "async" or not pending.queued:
            return pending.unqueued_errors()
        if mode == "flush":
            client.flush(_remaining(deadline))
        return client.wait(pending, deadline)

    def health(self) -> tuple[bool, str]:
        """(Kafka reachable, detail); one probe per `health_cache_s`, each bounded in time."""
        if not self.uses_kafka:
            return True, "Kafka not used (noop delivery)"
        cached = self._fresh_health()
        if cached is not None:
            return cached
        # One probe at a time; callers that waited for it reuse its result.
        if not self._health_lock.acquire(timeout=self.settings.health_timeout_s * 2):
            return False, "Kafka probe still running"
        try:
            cached = self._fresh_health()
            if cached is not None:
                return cached
            ok, detail = self._probe()
            self._health = (time.monotonic(), ok, detail)
            return ok, detail
        finally:
            self._health_lock.release()

    def _fresh_health(self) -> tuple[bool, str] | None:
        health = self._health
        if health is not None and time.monotonic() - health[0] < self.settings.health_cache_s:
            return health[1], health[2]
        return None

    def _probe(self) -> tuple[bool, str]:
        deadline = time.monotonic() + self.settings.health_timeout_s
        try:
            client = self.client(deadline)
        except KafkaUnavailable as exc:
            return False, f"Kafka unreachable: {exc}"
        if client.ping(max(0.05, _remaining(deadline))):
            return True, "Kafka reachable"
        return False, "Kafka unreachable: no metadata answer within the probe timeout"

    def stats(self) -> dict:
        client = self._client
        counts = {"sent": 0, "failed": 0} if client is None else {
            "sent": client.stats.sent, "failed": client.stats.failed}  # fmt: skip
        return {**counts, "fast_failed": self.breaker.rejected, "breaker": self.breaker.state}

    def close(self, timeout: float | None = None) -> None:
        """Flush what was accepted and close the producer (worker exit, SIGTERM)."""
        timeout = self.settings.delivery_timeout_s if timeout is None else timeout
        with self._client_lock:
            self._closed = True
            client, self._client = self._client, None
        if client is not None:
            client.close(timeout)
            log.info(
                "Kafka producer closed: %s",
                {"sent": client.stats.sent, "failed": client.stats.failed},
            )
