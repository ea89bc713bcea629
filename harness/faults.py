"""Faults injected into a run: at a share of the events (counted at Kafka), or at a time.

**At a share of the events** (the default, and the only way for a closed loop of `events`): a
watcher thread polls the topic's end offsets and runs each step of a plan once the topic holds
that many records, so a fault lands mid-stream whatever the throughput:

| fault | when | what happens |
| --- | --- | --- |
| `kill-broker` | 1/2 | SIGKILL the leader of partition 0 (needs replication >= 2) |
| `kill-broker-twice` | 1/4, 2/3 | SIGKILL a leader, wait for the failover, restart it, wait until every replica is back in sync; then SIGKILL another broker |
| `kafka-outage` | 1/3 | freeze every broker (SIGSTOP) for `outage_s`, then let them run on (SIGCONT): Kafka answers nothing, connections hang, as in a network partition |
| `throttle-broker` | 1/3 | a grey failure: the leader of partition 0 paused and resumed in turn (SIGSTOP 100 ms, SIGCONT 100 ms) for `outage_s`: slow, not dead |
| `rolling-restart` | 1/4 | each broker in turn stopped gracefully (SIGTERM), restarted, and given time for its replicas to rejoin the ISR |
| `kill-consumer` | 1/2 | SIGKILL consumer 0 and restart it |
| `restart-api` | 1/2 | SIGTERM the API (graceful) and restart it |
| `kill-api` | 1/2 | SIGKILL the API and its workers (a crash: nothing is flushed) and restart it |

**In time** (`fault_at_s`: seconds into the measured window, which needs a run whose length is
known: an open loop or a timed run): `fault_cycles` cycles, `fault_every_s` apart (from one
cycle's start to the next, at least: each cycle waits for the last one's full recovery; unset, 5 s
after it). A cycle is complete: a killed broker is restarted, and the cycle waits until every
replica is back in sync (a killed consumer or API is restarted and ready) before the next.
`kill-broker-twice` is not offered in time: it is `kill-broker` with `fault_cycles: 2`.

Each fault instant's report says its `fault` (kind), `target` (which broker, consumer or API),
`cycle`, `at` (epoch s, when it began), `end` (when the harness's own disturbance was over: the
broker restarted or resumed, the API or consumer back), `recovered_at` (replicas back in sync),
and what it saw, so that a fault that did nothing shows: the exit code of what was killed or
stopped (-9: the SIGKILL ended it), after a broker kill the partition's new leader and in-sync
replicas (`failover_s`: how long the cluster took to notice), after a consumer kill the lines its
log held, and `after_load`: whether the load had already ended when it began. A cycle that could
not begin while the load ran is reported `missed` ("fault missed the load"): the run fails.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from kafka import KafkaConsumer, TopicPartition

from harness import admin
from harness.rundir import LogCounter

Action = Callable[[], dict | list[dict]]

# throttle-broker's duty cycle: paused this long, then running this long, for outage_s.
THROTTLE_PAUSE_S = 0.1
THROTTLE_RUN_S = 0.1
# With fault_cycles > 1 and no fault_every_s: the next cycle this long after the last recovered.
CYCLE_GAP_S = 5.0
MISSED = "fault missed the load"


def topic_end_offset(consumer: KafkaConsumer, topic: str, partitions: int) -> int:
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    return sum(consumer.end_offsets(tps).values())


def _reports(found: dict | list[dict]) -> list[dict]:
    return found if isinstance(found, list) else [found]


def _timed(action: Action) -> list[dict]:
    """The action's reports (one per fault instant), each with `at`, `end` and `took_s`; an
    exception is recorded, not raised."""
    started = time.time()
    try:
        reports = _reports(action())
    except Exception as exc:  # the run records it instead of dying
        reports = [{"error": repr(exc)}]
    ended = time.time()
    for report in reports:
        report.setdefault("at", started)
        report.setdefault("end", ended)
        report["took_s"] = round(report["end"] - report["at"], 3)
    return reports


class FaultTrigger:
    """Runs `steps` [(records in the topic, action), ...] in order; a daemon thread, stoppable.

    Each action returns a dict (or a list of them: one per fault instant) for the run's report.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        partitions: int,
        steps: list[tuple[int, Action]],
        client_config: dict | None = None,
    ) -> None:
        """`client_config`: the cluster's security settings, in kafka-python's names."""
        self.bootstrap_servers = bootstrap_servers
        self.client_config = dict(client_config or {})
        self.topic = topic
        self.partitions = partitions
        self.steps = steps
        self.reports: list[dict] = []
        self._ran = 0  # steps carried out
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="fault-trigger", daemon=True)

    def start(self) -> FaultTrigger:
        self._thread.start()
        return self

    def load_started(self, epoch: float) -> None:
        """(The time trigger's hook; a count trigger needs no clock.)"""

    def _watch(self) -> None:
        consumer = self._new_consumer()
        try:
            for threshold, action in self.steps:
                offset, consumer = self._wait_for(consumer, threshold)
                if offset is None:
                    return
                after_load = self._stop.is_set()
                self._ran += 1
                for report in _timed(action):
                    report.update(at_offset=offset, after_load=after_load)
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
            **self.client_config,
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
        """The load is over: run what is due, skip the rest, return the reports (a step that
        never ran is reported missed)."""
        self._stop.set()
        self._thread.join(timeout=240)
        for _ in range(len(self.steps) - self._ran):
            self.reports.append({"missed": True, "error": f"{MISSED}: not triggered, the run "
                                 "ended before the topic reached its share"})  # fmt: skip
        return self.reports


class TimeTrigger:
    """Runs `action` `cycles` times, the first `first_s` after the load's start, then
    `every_s` apart (at least: after the last cycle's `recover()`, which waits for the system's
    full recovery); CYCLE_GAP_S after the last recovery when `every_s` is None. A cycle due at
    or after the load's end (`load_s` after its start) is reported missed, not run."""

    def __init__(
        self,
        action: Action,
        recover: Callable[[], dict],
        cycles: int,
        first_s: float,
        every_s: float | None,
        load_s: float,
    ) -> None:
        self.action, self.recover = action, recover
        self.cycles, self.first_s, self.every_s, self.load_s = cycles, first_s, every_s, load_s
        self.reports: list[dict] = []
        self._started = threading.Event()
        self._stop = threading.Event()
        self._t0: float | None = None
        self._thread = threading.Thread(target=self._run, name="fault-timer", daemon=True)

    def start(self) -> TimeTrigger:
        self._thread.start()
        return self

    def load_started(self, epoch: float) -> None:
        """The simulator's first request is due now (epoch s): the clock starts."""
        self._t0 = epoch
        self._started.set()

    def _wait_until(self, epoch: float) -> bool:
        """Sleeps until `epoch`; False when the load ended first."""
        while (left := epoch - time.time()) > 0:
            if self._stop.wait(min(left, 0.05)):
                return False
        return not self._stop.is_set()

    def _run(self) -> None:
        while not self._started.wait(0.1):
            if self._stop.is_set():
                return
        load_end = self._t0 + self.load_s
        due = self._t0 + self.first_s
        for cycle in range(1, self.cycles + 1):
            if due >= load_end or not self._wait_until(due):
                self._missed(cycle, due)
                return
            reports = _timed(self.action)
            try:
                recovery = self.recover()
            except Exception as exc:
                recovery = {"recovery_error": repr(exc)}
            recovered = time.time()
            for report in reports:
                report.setdefault("recovered_at", recovered)
                report.update(cycle=cycle, after_load=report["at"] >= load_end, **recovery)
                self.reports.append(report)
            planned = self._t0 + self.first_s + cycle * self.every_s if self.every_s else 0.0
            due = max(planned, recovered) if self.every_s else recovered + CYCLE_GAP_S

    def _missed(self, cycle: int, due: float) -> None:
        for k in range(cycle, self.cycles + 1):
            self.reports.append({"cycle": k, "missed": True, "due": due,
                                 "error": f"{MISSED}: cycle {k} was due at "
                                          f"{due - self._t0:.1f} s, after the load's "
                                          f"{self.load_s:.1f} s"})  # fmt: skip

    def stop(self) -> list[dict]:
        """The load is over: a cycle in progress finishes (its recovery too), later ones are
        reported missed; returns the reports."""
        self._stop.set()
        self._thread.join(timeout=300)
        if not self._started.is_set():
            self.reports.append({"cycle": 1, "missed": True, "error": f"{MISSED}: the load "
                                 "never started"})  # fmt: skip
        return self.reports


def missed(reports: list[dict]) -> list[dict]:
    """The reports of fault instants that did not land while the load ran."""
    return [r for r in reports if r.get("missed") or r.get("after_load")]


def partition_state(bootstrap: str, topic: str, partition: int = 0) -> tuple[int, list[int]]:
    """(leader, in-sync replicas) of one partition."""
    client = admin.admin_client(bootstrap)
    try:
        parts = admin.describe_topic(client, topic)["partitions"]
        part = next(p for p in parts if p["partition_index"] == partition)
        return part["leader_id"], list(part["isr_nodes"])
    finally:
        client.close()


def partition_leader(bootstrap: str, topic: str, partition: int = 0) -> int:
    return partition_state(bootstrap, topic, partition)[0]


# KRaft fences a dead broker after broker.session.timeout.ms (4 s on the embedded cluster).
FAILOVER_TIMEOUT_S = 30.0


def wait_failover(
    bootstrap: str, topic: str, dead: int, timeout: float = FAILOVER_TIMEOUT_S
) -> dict:
    """Until partition 0 is led by another broker than `dead`, with `dead` out of its in-sync
    replicas: the cluster noticed the kill. `leader_after` is None when it did not in time."""
    start = time.monotonic()
    leader, isr = None, None
    while time.monotonic() - start < timeout:
        try:
            leader, isr = partition_state(bootstrap, topic)
            if leader not in (dead, -1) and dead not in isr:
                return {"leader_after": leader, "isr_after": isr,
                        "failover_s": round(time.monotonic() - start, 3)}  # fmt: skip
        except Exception:  # metadata from the dead broker, a timeout: ask again
            pass
        time.sleep(0.2)
    return {"leader_after": None, "isr_after": isr, "failover_s": None}


def wait_fully_replicated(bootstrap: str, topic: str, replicas: int, timeout: float = 90) -> float:
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


class Faults:
    """The faults of one run (see the table above), each an action returning its report(s)."""

    def __init__(self, cfg, kafka, consumers, api, topic: str, bootstrap: str) -> None:
        self.cfg, self.kafka, self.consumers, self.api = cfg, kafka, consumers, api
        self.topic, self.bootstrap = topic, bootstrap
        self.nodes = list(range(1, cfg.brokers + 1))
        self.killed_first: list[int] = []

    def _leader(self, avoid: int | None = None) -> int:
        leader = partition_leader(self.bootstrap, self.topic)
        if leader in self.nodes and leader != avoid:
            return leader
        return next(n for n in self.nodes if n != avoid)

    def _isr_nodes(self) -> list[int] | None:
        """The brokers in the in-sync replicas of any partition of the run's topic (None when
        the cluster did not say)."""
        try:
            isr = admin.in_sync_replicas(self.bootstrap, self.topic)
        except Exception:
            return None
        return sorted({n for nodes in isr.values() for n in nodes})

    def _in_sync(self) -> float:
        return wait_fully_replicated(self.bootstrap, self.topic, self.cfg.replication_factor)

    def kill_leader(self, avoid: int | None = None, restart: bool = False) -> dict:
        """SIGKILL the leader of partition 0 and wait for the failover; with `restart`, start it
        again once the cluster went on without it."""
        node = self._leader(avoid)
        at = time.time()
        code = self.kafka.kill_node(node)
        report = {"fault": "kill-broker", "target": f"broker {node}", "node": node, "at": at,
                  "exit_code": code, **wait_failover(self.bootstrap, self.topic, node)}  # fmt: skip
        if restart:
            self.kafka.start_node(node)
            report["end"] = time.time()
        return report

    def kill_restart_leader(self) -> dict:
        report = self.kill_leader(restart=True)
        report["back_in_sync_s"] = self._in_sync()
        report["recovered_at"] = time.time()
        self.killed_first.append(report["node"])
        return report

    def outage(self) -> dict:
        at = time.time()
        for node in self.nodes:
            self.kafka.pause_node(node)
        time.sleep(self.cfg.outage_s)
        for node in self.nodes:
            self.kafka.resume_node(node)
        end = time.time()
        self.kafka.wait_ready()
        return {"fault": "kafka-outage", "target": "every broker", "at": at, "end": end,
                "down_s": self.cfg.outage_s}  # fmt: skip

    def throttle(self) -> dict:
        """Pause and resume one broker in turn for outage_s: it answers, late.

        The pauses start on a fixed grid (one every THROTTLE_PAUSE_S + THROTTLE_RUN_S from the
        start): on a busy machine each step took longer than it says, and sleeping a fixed time
        after it had stretched the cycle by a half (9 pauses in 3 s instead of 15). A late step
        now shortens the running phase after it, down to half its length."""
        node = self._leader()
        at = time.time()
        start = time.monotonic()
        period = THROTTLE_PAUSE_S + THROTTLE_RUN_S
        pauses = 0
        try:
            pause_at = start
            while pause_at - start < self.cfg.outage_s:
                time.sleep(max(0.0, pause_at - time.monotonic()))
                self.kafka.pause_node(node)
                pauses += 1
                time.sleep(THROTTLE_PAUSE_S)
                self.kafka.resume_node(node)
                pause_at = max(pause_at + period, time.monotonic() + THROTTLE_RUN_S / 2)
            time.sleep(max(0.0, start + self.cfg.outage_s - time.monotonic()))  # its last run
        finally:
            self.kafka.resume_node(node)
        return {"fault": "throttle-broker", "target": f"broker {node}", "node": node, "at": at,
                "end": time.time(), "pauses": pauses,
                "duty": f"{THROTTLE_PAUSE_S * 1000:g} ms paused, {THROTTLE_RUN_S * 1000:g} ms "
                        "running"}  # fmt: skip

    def rolling_restart(self) -> list[dict]:
        """Each broker in turn: SIGTERM (a controlled shutdown moves its leaderships away),
        start it again, and wait until every replica is back in sync before the next."""
        reports = []
        for node in self.nodes:
            at = time.time()
            code = self.kafka.stop_node(node)
            stopped = time.time()
            isr_while_down = self._isr_nodes()
            self.kafka.start_node(node)
            end = time.time()
            in_sync_s = self._in_sync()
            reports.append({"fault": "rolling-restart", "target": f"broker {node}", "node": node,
                            "at": at, "exit_code": code, "stopped_s": round(stopped - at, 3),
                            "isr_while_down": isr_while_down,
                            "end": end, "back_in_sync_s": in_sync_s,
                            "recovered_at": time.time()})  # fmt: skip
        return reports

    def kill_consumer(self) -> dict:
        at = time.time()
        code = self.consumers[0].kill()
        logged = LogCounter([self.consumers[0].log_file]).poll()  # all the killed one wrote
        self.consumers[0].start()  # same log file: it repairs a torn last line and appends
        return {"fault": "kill-consumer", "target": "consumer 0", "consumer": 0, "at": at,
                "exit_code": code, "lines_logged_at_kill": logged}  # fmt: skip

    def restart_api(self) -> dict:
        at = time.time()
        code = self.api.stop()  # SIGTERM: in-flight requests finish, producers flush
        self.api.start()
        return {"fault": "restart-api", "target": "api", "at": at, "exit_code": code}

    def kill_api(self) -> dict:
        at = time.time()
        code = self.api.kill()  # no flush: what `async` delivery had only queued is gone
        self.api.start()
        return {"fault": "kill-api", "target": "api", "at": at, "exit_code": code}

    def action(self, timed: bool) -> Action:
        """The fault's action; in time (`timed`) a killed broker is restarted, so that each
        cycle ends with the cluster whole."""
        return {
            "kill-broker": lambda: self.kill_leader(restart=timed),
            "kafka-outage": self.outage,
            "throttle-broker": self.throttle,
            "rolling-restart": self.rolling_restart,
            "kill-consumer": self.kill_consumer,
            "restart-api": self.restart_api,
            "kill-api": self.kill_api,
        }[self.cfg.fault]

    def recover(self) -> dict:
        """After a cycle: until every replica of the run's topic is back in sync (the services
        a fault restarts are ready before its action returns)."""
        if self.kafka is None or self.cfg.fault not in BROKER_ACTIONS:
            return {}
        return {"back_in_sync_s": self._in_sync()}

    def plan(self) -> list[tuple[int, Action]]:
        """The steps at shares of the run's events (see the table above)."""
        events = self.cfg.planned_events()
        second = lambda: self.kill_leader(avoid=self.killed_first[0] if self.killed_first  # noqa: E731
                                          else None)  # fmt: skip
        plans = {
            "none": [],
            "kill-broker": [(events // 2, self.kill_leader)],
            "kill-broker-twice": [
                (events // 4, self.kill_restart_leader),
                (2 * events // 3, second),
            ],
            "kafka-outage": [(events // 3, self.outage)],
            "throttle-broker": [(events // 3, self.throttle)],
            "rolling-restart": [(events // 4, self.rolling_restart)],
            "kill-consumer": [(events // 2, self.kill_consumer)],
            "restart-api": [(events // 2, self.restart_api)],
            "kill-api": [(events // 2, self.kill_api)],
        }
        return plans[self.cfg.fault]


BROKER_ACTIONS = ("kill-broker", "kafka-outage", "throttle-broker", "rolling-restart")


def trigger(cfg, kafka, consumers, api, topic: str, bootstrap: str, client_config: dict):
    """The run's fault trigger, started: in time (fault_at_s) or at shares of the events."""
    faults = Faults(cfg, kafka, consumers, api, topic, bootstrap)
    if cfg.fault_at_s is None:
        return FaultTrigger(bootstrap, topic, cfg.partitions, faults.plan(), client_config).start()
    return TimeTrigger(faults.action(timed=True), faults.recover, cfg.fault_cycles,
                       cfg.measured_start_s() + cfg.fault_at_s, cfg.fault_every_s,
                       cfg.load_s()).start()  # fmt: skip
