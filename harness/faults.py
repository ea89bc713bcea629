"""Faults injected mid-run, at points measured at Kafka rather than by the clock.

A watcher thread polls the topic's end offsets and runs each step of a plan once the topic holds
that many records, so a fault lands mid-stream whatever the throughput:

| fault | what happens |
| --- | --- |
| `kill-broker` | at 1/2: SIGKILL the leader of partition 0 (needs replication >= 2) |
| `kill-broker-twice` | at 1/3: SIGKILL a leader, restart it, wait until every replica is back in sync; at 2/3: SIGKILL another broker |
| `kafka-outage` | at 1/3: freeze every broker (SIGSTOP) for `outage_s`, then let them run on (SIGCONT): Kafka answers nothing, connections hang, as in a network partition; recovery does not wait for a JVM restart (killed brokers are the kill-broker faults) |
| `kill-consumer` | at 1/2: SIGKILL consumer 0 and restart it |
| `restart-api` | at 1/2: SIGTERM the API (graceful) and restart it |
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from kafka import KafkaConsumer, TopicPartition

from harness import admin

Action = Callable[[], dict]


def topic_end_offset(consumer: KafkaConsumer, topic: str, partitions: int) -> int:
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    return sum(consumer.end_offsets(tps).values())


class FaultTrigger:
    """Runs `steps` [(records in the topic, action), ...] in order; a daemon thread, stoppable.

    Each action returns a dict for the run's report; an exception is recorded, not raised.
    """

    def __init__(
        self, bootstrap_servers: str, topic: str, partitions: int, steps: list[tuple[int, Action]]
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self.partitions = partitions
        self.steps = steps
        self.reports: list[dict] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="fault-trigger", daemon=True)

    def start(self) -> FaultTrigger:
        self._thread.start()
        return self

    def _watch(self) -> None:
        consumer = self._new_consumer()
        try:
            for threshold, action in self.steps:
                offset, consumer = self._wait_for(consumer, threshold)
                if offset is None:
                    return
                started, after_load = time.time(), self._stop.is_set()
                try:
                    report = {"at_offset": offset, "at": started, **action()}
                except Exception as exc:  # the run records it instead of dying
                    report = {"at_offset": offset, "at": started, "error": repr(exc)}
                report["took_s"] = round(time.time() - started, 3)
                report["after_load"] = after_load
                self.reports.append(report)
        finally:
            consumer.close()

    def _new_consumer(self) -> KafkaConsumer:
        return KafkaConsumer(
            bootstrap_servers=self.bootstrap_servers,
            request_timeout_ms=5000,
            # kafka-python backs off up to 30 s from a broker that refused connections: a restarted
            # broker would be ignored for most of a run.
            reconnect_backoff_max_ms=1000,
            client_id="harness-fault-trigger",
        )

    def _wait_for(self, consumer: KafkaConsumer, threshold: int):
        """(the topic's size once it reaches `threshold`, the consumer); (None, ...) if the run
        ended before it did.

        A step whose threshold was reached still runs after the load stopped (a slow machine
        can take longer to restart a broker than the run lasts); its report says `after_load`.
        """
        stopped_at = None
        while True:
            try:
                offset = topic_end_offset(consumer, self.topic, self.partitions)
            except Exception:  # brokers restarting or down: ask again with fresh metadata
                offset = -1
                consumer.close()
                consumer = self._new_consumer()
            if offset >= threshold:
                return offset, consumer
            if self._stop.is_set():
                stopped_at = stopped_at or time.monotonic()
                # Give up once the topic's size is known to fall short, or after a grace period.
                if offset >= 0 or time.monotonic() - stopped_at > 30:
                    return None, consumer
            self._stop.wait(0.05)

    def stop(self) -> list[dict]:
        """The load is over: run what is due, skip the rest, return the reports."""
        self._stop.set()
        self._thread.join(timeout=240)
        return self.reports


def partition_leader(bootstrap: str, topic: str, partition: int = 0) -> int:
    client = admin.admin_client(bootstrap)
    try:
        parts = admin.describe_topic(client, topic)["partitions"]
        return next(p["leader_id"] for p in parts if p["partition_index"] == partition)
    finally:
        client.close()


def wait_fully_replicated(bootstrap: str, topic: str, replicas: int, timeout: float = 60) -> float:
    """Until every partition has `replicas` in-sync replicas; returns the seconds it took."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            isr = admin.in_sync_replicas(bootstrap, topic)
            if isr and all(len(r) >= replicas for r in isr.values()):
                return round(time.monotonic() - start, 3)
        except Exception:  # a broker is still coming back
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{topic}: replicas not back in sync after {timeout} s")


def plan(cfg, kafka, consumers, api, topic: str, bootstrap: str) -> list[tuple[int, Action]]:
    """The steps of `cfg.fault` for one run (see the table above)."""
    events, nodes = cfg.planned_events(), range(1, cfg.brokers + 1)

    def kill_leader(avoid: int | None = None) -> dict:
        leader = partition_leader(bootstrap, topic)
        node = leader if leader in nodes and leader != avoid else next(n for n in nodes
                                                                      if n != avoid)  # fmt: skip
        kafka.kill_node(node)
        return {"fault": "kill-broker", "node": node}

    def kill_restart_leader() -> dict:
        report = kill_leader()
        kafka.start_node(report["node"])
        report["back_in_sync_s"] = wait_fully_replicated(bootstrap, topic, cfg.replication_factor)
        killed_first.append(report["node"])
        return report

    def outage() -> dict:
        for node in nodes:
            kafka.pause_node(node)
        time.sleep(cfg.outage_s)
        for node in nodes:
            kafka.resume_node(node)
        kafka.wait_ready()
        return {"fault": "kafka-outage", "down_s": cfg.outage_s}

    def kill_consumer() -> dict:
        consumers[0].kill()
        consumers[0].start()  # same log file: it repairs a torn last line and appends
        return {"fault": "kill-consumer", "consumer": 0}

    def restart_api() -> dict:
        api.stop()  # SIGTERM: in-flight requests finish, producers flush
        api.start()
        return {"fault": "restart-api"}

    killed_first: list[int] = []
    plans = {
        "none": [],
        "kill-broker": [(events // 2, kill_leader)],
        "kill-broker-twice": [
            (events // 3, kill_restart_leader),
            (2 * events // 3, lambda: kill_leader(avoid=killed_first[0] if killed_first else None)),
        ],
        "kafka-outage": [(events // 3, outage)],
        "kill-consumer": [(events // 2, kill_consumer)],
        "restart-api": [(events // 2, restart_api)],
    }
    return plans[cfg.fault]
