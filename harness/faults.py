"""Faults injected halfway through a run: kill a broker, kill a consumer, restart the API.

"Halfway" is measured at Kafka, not by the clock: a watcher thread polls the topic's end offsets
and fires once half of the run's events have been written, so the fault lands mid-stream whatever
the throughput.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from kafka import KafkaConsumer, TopicPartition


def topic_end_offset(consumer: KafkaConsumer, topic: str, partitions: int) -> int:
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    return sum(consumer.end_offsets(tps).values())


class HalfwayTrigger:
    """Calls `action()` once the topic holds `threshold` records; a daemon thread, stoppable."""

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        partitions: int,
        threshold: int,
        action: Callable[[], dict],
        client_config: dict | None = None,
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self.partitions = partitions
        self.threshold = threshold
        self.action = action
        self.client_config = client_config or {}
        self.report: dict = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="fault-trigger", daemon=True)

    def start(self) -> HalfwayTrigger:
        self._thread.start()
        return self

    def _watch(self) -> None:
        consumer = KafkaConsumer(
            bootstrap_servers=self.bootstrap_servers,
            request_timeout_ms=5000,
            client_id="harness-fault-trigger",
            **self.client_config,
        )
        try:
            while not self._stop.is_set():
                try:
                    offset = topic_end_offset(consumer, self.topic, self.partitions)
                except Exception:  # a broker may be restarting; try again
                    offset = -1
                if offset >= self.threshold:
                    started = time.time()
                    try:
                        self.report = {"at_offset": offset, "at": started, **self.action()}
                    except Exception as exc:  # the run records it instead of dying
                        self.report = {"at_offset": offset, "at": started, "error": repr(exc)}
                    self.report["took_s"] = round(time.time() - started, 3)
                    return
                self._stop.wait(0.05)
        finally:
            consumer.close()

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join(timeout=120)
        return self.report
