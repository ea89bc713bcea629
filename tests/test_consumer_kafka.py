"""The consumer as a real process (`python -m app.consumer`) against the real embedded broker."""

from __future__ import annotations

import itertools
import json
import re
import signal
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient
from kafka_helpers import count_lines, produce, wait_for_lines

from app.consumer import ConsumerSettings, EventSink, Member, Summary, commit_written, consume
from app.consumer_client import ClientConfig, make_client
from harness import admin
from harness.analysis import read_events_log
from harness.kafka import EmbeddedKafka, describe_cluster
from harness.processes import ManagedProcess, pid_alive

LINE = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3}) - (\{.*\})$")
CLIENTS = ["kafka-python", "confluent-kafka"]


# -- helpers ----------------------------------------------------------------------------------
def make_events(n: int) -> list[dict]:
    return [
        {"event": "purchase", "user_id": i, "event_id": uuid.uuid4().hex, "sent_at": time.time()}
        for i in range(n)
    ]


def produce_events(bootstrap: str, topic: str, events: list[dict]) -> None:
    produce(bootstrap, topic, [json.dumps(e).encode() for e in events])


def start_consumer(
    tmp_path: Path,
    bootstrap: str,
    topic: str,
    group: str,
    log_file: Path,
    client: str = "kafka-python",
    *extra: str,
    name: str = "consumer",
) -> ManagedProcess:
    cmd = [sys.executable, "-m", "app.consumer", "--bootstrap-servers", bootstrap]
    cmd += ["--topic", topic, "--group-id", group, "--log-file", str(log_file)]
    cmd += ["--client", client, "--poll-timeout", "0.2", *extra]
    out = tmp_path / f"{name}-{uuid.uuid4().hex[:6]}.out"
    return ManagedProcess(name, cmd, out, cwd=tmp_path, stop_timeout=20).start()


def wait_for_output(proc: ManagedProcess, text: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in proc.log_path.read_text():
            return
        if not proc.running():
            pytest.fail(f"consumer exited ({proc.returncode()}):\n{proc.log_tail()}")
        time.sleep(0.05)
    pytest.fail(f"no {text!r} within {timeout} s:\n{proc.log_tail()}")


def wait_for_partitions(proc: ManagedProcess, count: int, timeout: float = 60.0) -> None:
    """Until the consumer's latest assignment (ready/assignment line) has `count` partitions."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.findall(r"consumer (?:ready|assignment): partitions \[(.*)\]", proc.log_tail())
        if found and len([p for p in found[-1].split(",") if p.strip()]) == count:
            return
        time.sleep(0.05)
    pytest.fail(f"no assignment of {count} partitions within {timeout} s:\n{proc.log_tail()}")


def logged_ids(path: Path) -> set[str]:
    """The event ids in the log so far, read by the harness's own parser (which skips a line
    the consumer is still writing)."""
    return set(read_events_log([path])["event_id"])


def parse_log(path: Path) -> list[dict]:
    """Every line must match the seed's format; returns the JSON objects."""
    data = path.read_text()
    assert data == "" or data.endswith("\n"), "torn last line"
    docs = []
    for line in data.splitlines():
        match = LINE.match(line)
        assert match, f"line does not match the log format: {line!r}"
        docs.append(json.loads(match.group(2)))
    return docs


def largest_gap_s(docs: list[dict]) -> float:
    """The longest time between two consecutive events being read (a stall shows here)."""
    times = sorted(d["consumed_at"] for d in docs)
    return max((b - a for a, b in itertools.pairwise(times)), default=0.0)


def group_coordinator(bootstrap: str, group: str) -> int:
    """The broker that coordinates `group` (kafka-python's admin has no public call for it)."""
    client = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        return client._manager.run(client._find_coordinator_id, group)
    finally:
        client.close()


def committed_total(bootstrap: str, group: str) -> int:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        offsets = admin.list_group_offsets(group)[group]
    finally:
        admin.close()
    return sum(meta.offset for meta in offsets.values())


def stop_cleanly(proc: ManagedProcess) -> str:
    assert proc.stop() == 0, proc.log_tail()
    return proc.log_path.read_text()


# -- tests ------------------------------------------------------------------------------------
@pytest.mark.kafka
@pytest.mark.parametrize("client", CLIENTS)
def test_consumer_logs_every_event_in_the_seed_format(kafka, new_topic, tmp_path, client):
    bootstrap, topic, group = kafka.bootstrap_servers, new_topic(3), f"g-{uuid.uuid4().hex}"
    before, after = make_events(1500), make_events(1500)
    produce_events(bootstrap, topic, before)  # sent before it joined: earliest must catch them
    log = tmp_path / "logs" / "events.log"
    proc = start_consumer(tmp_path, bootstrap, topic, group, log, client)
    wait_for_output(proc, "consumer ready")
    produce_events(bootstrap, topic, after)
    wait_for_lines([log], 3000, [proc])
    out = stop_cleanly(proc)

    assert out.count("consumer ready") == 1
    assert "consumer ready: partitions [0, 1, 2]" in out  # ready means it holds partitions
    assert f"consumer client: {client} " in out
    assert "consumer stopped: events_written=3000 dead_letters=0" in out
    docs = parse_log(log)
    assert len(docs) == 3000
    sent = {e["event_id"]: e for e in before + after}
    assert {d["event_id"] for d in docs} == set(sent)
    for doc in docs:
        assert {k: doc[k] for k in sent[doc["event_id"]]} == sent[doc["event_id"]]
        assert doc["consumed_at"] >= doc["sent_at"]
        assert doc["partition"] in (0, 1, 2)
    assert len({(d["partition"], d["offset"]) for d in docs}) == 3000
    assert committed_total(bootstrap, group) == 3000
    assert (tmp_path / "logs" / "dead-letter.log").read_bytes() == b""


POLL_TIMEOUT_S = 5.0


@pytest.mark.kafka
@pytest.mark.parametrize("client", CLIENTS)
def test_a_poll_returns_once_records_are_there_not_at_its_timeout(kafka, new_topic, client):
    """At a trickle (far below max_records per poll timeout), a poll must hand over what arrived
    instead of waiting its whole timeout for a full batch: confluent-kafka's consume(n, timeout)
    did, and every event then waited up to 0.5 s before it was written (end-to-end latency)."""
    bootstrap, topic = kafka.bootstrap_servers, new_topic(3)
    consumer = make_client(client, ClientConfig(bootstrap, f"g-{uuid.uuid4().hex}"))
    assigned = threading.Event()
    consumer.subscribe(topic, lambda partitions: assigned.set(), lambda partitions: None)
    deadline = time.monotonic() + 60
    while not assigned.is_set() and time.monotonic() < deadline:
        consumer.poll(2000, 0.2)
    producer = BackgroundProducer(bootstrap, topic, make_events(150), per_second=50)
    producer.start()
    took, got = [], 0
    try:
        while got < 150 and time.monotonic() < deadline + 30:
            started = time.monotonic()
            records = consumer.poll(2000, POLL_TIMEOUT_S)
            if records:
                took.append(time.monotonic() - started)
                got += len(records)
    finally:
        producer.join(timeout=30)
        consumer.close()
    assert got == 150
    # Each poll waits for the next fetch (fetch.wait.max.ms 100 ms), not for 2000 records or its
    # timeout: measured against the timeout, which the fault made every poll wait, so that a
    # stall of the machine (this test shares it with the other xdist worker) cannot fail it.
    assert len(took) >= 5, took
    assert statistics.median(took) < POLL_TIMEOUT_S / 10 and max(took) < POLL_TIMEOUT_S / 2, took


class LeavesItsGroup:
    """A real client that, after its first batch, leaves the group and never asks to join again
    (what librdkafka did after a freeze, app.consumer.Member): its partitions are revoked, no
    assignment follows, and whatever it polls afterwards is dropped unwritten."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.left = False
        self.name = inner.name
        self.async_commit_failures = self.transient_errors = 0
        self._on_revoked = None

    def subscribe(self, topic, on_assigned, on_revoked) -> None:
        self._on_revoked = on_revoked
        self.inner.subscribe(topic, on_assigned, on_revoked)

    def poll(self, max_records, timeout_s):
        if self.left:
            try:  # serves the revoke callback; nothing of it reaches the log
                self.inner.poll(max_records, timeout_s)
            except Exception:  # an unsubscribed consumer may refuse to poll: that is the point
                time.sleep(timeout_s)
            return []
        records = self.inner.poll(max_records, timeout_s)
        if records:
            self.inner._consumer.unsubscribe()
            self.left = True
            # As after a session timeout (kafka-python's unsubscribe does not call it itself).
            self._on_revoked(sorted({partition for partition, _, _ in records}))
        return records

    def commit(self, offsets, asynchronous=False) -> None:
        if not self.left:
            self.inner.commit(offsets, asynchronous)

    def close(self) -> None:
        self.inner.close()


@pytest.mark.kafka
@pytest.mark.parametrize("client", CLIENTS)
def test_a_member_its_group_left_out_joins_again_with_a_new_client(
    kafka, new_topic, tmp_path, client
):
    bootstrap, topic, group = kafka.bootstrap_servers, new_topic(3), f"g-{uuid.uuid4().hex}"
    events = make_events(600)
    produce_events(bootstrap, topic, events[:300])
    settings = ConsumerSettings(bootstrap_servers=bootstrap, topic=topic, group_id=group,
                                log_file=tmp_path / "events.log", client=client,
                                poll_timeout_s=0.2, rejoin_after_s=3)  # fmt: skip
    built = []

    def new_client():
        real = make_client(client, settings.client_config())
        built.append(real if built else LeavesItsGroup(real))
        return built[-1]

    assigned = []
    summary = Summary()
    member = Member(new_client, topic, assigned.append, summary.forget, settings.rejoin_after_s)
    sink = EventSink(settings.log_file, settings.dead_letter_path, fsync=False)
    stop = threading.Event()
    loop = threading.Thread(target=consume, args=(member, sink, settings, stop, summary))
    member.subscribe()
    loop.start()
    try:
        deadline = time.monotonic() + 60
        while not (len(built) == 2 and assigned and assigned[-1]) and time.monotonic() < deadline:
            time.sleep(0.1)
        produce_events(bootstrap, topic, events[300:])  # after it was left out
        # Every event, not a line count: the new client re-reads from the last commit
        # (at-least-once), so 600 lines may come with duplicates before the last events.
        wanted = {e["event_id"] for e in events}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not wanted <= logged_ids(settings.log_file):
            time.sleep(0.1)
    finally:
        stop.set()
        loop.join(timeout=30)
        commit_written(member.client, summary)
        member.client.close()
        sink.close()
    assert built[0].left and summary.rejoins == 1, (built, summary)
    assert assigned[0] == [0, 1, 2] and assigned[-1] == [0, 1, 2]
    docs = parse_log(settings.log_file)
    assert {d["event_id"] for d in docs} == {e["event_id"] for e in events}  # nothing lost
    assert committed_total(bootstrap, group) == len(events)


@pytest.mark.kafka
@pytest.mark.parametrize("client", CLIENTS)
def test_invalid_records_go_to_the_dead_letter_file(kafka, new_topic, tmp_path, client):
    bootstrap, topic, group = kafka.bootstrap_servers, new_topic(1), f"g-{uuid.uuid4().hex}"
    events = make_events(4)
    values = [json.dumps(events[0]).encode(), b"not json {", json.dumps(events[1]).encode()]
    values += [b'["an", "array"]', json.dumps(events[2]).encode(), b"\xff\xfe", b"", b"7"]
    values += [json.dumps(events[3]).encode()]
    produce(bootstrap, topic, values)
    log, dead = tmp_path / "events.log", tmp_path / "dead.log"
    proc = start_consumer(
        tmp_path, bootstrap, topic, group, log, client, "--dead-letter-file", str(dead)
    )
    wait_for_lines([log, dead], len(values), [proc])
    out = stop_cleanly(proc)

    assert [d["event_id"] for d in parse_log(log)] == [e["event_id"] for e in events]
    dead_docs = parse_log(dead)
    assert [d["offset"] for d in dead_docs] == [1, 3, 5, 6, 7]
    assert [d["raw"] for d in dead_docs] == ["not json {", '["an", "array"]', "\\xff\\xfe", "", "7"]
    assert all(d["partition"] == 0 for d in dead_docs)
    assert "events_written=4 dead_letters=5" in out
    assert committed_total(bootstrap, group) == len(values)


@pytest.mark.kafka
def test_sigint_stops_cleanly_after_committing(kafka, new_topic, tmp_path):
    bootstrap, topic, group = kafka.bootstrap_servers, new_topic(2), f"g-{uuid.uuid4().hex}"
    produce_events(bootstrap, topic, make_events(500))
    log = tmp_path / "events.log"
    proc = start_consumer(tmp_path, bootstrap, topic, group, log, "confluent-kafka")
    wait_for_lines([log], 500, [proc])
    proc.signal(signal.SIGINT)  # Ctrl-C in the original two-terminal setup
    assert proc.proc.wait(timeout=30) == 0, proc.log_tail()
    assert "consumer stopped: events_written=500 dead_letters=0" in proc.log_path.read_text()
    assert "Traceback" not in proc.log_path.read_text()
    assert committed_total(bootstrap, group) == 500


@pytest.mark.kafka
def test_a_consumer_stopped_while_kafka_is_gone_exits_in_time(tmp_path):
    """SIGTERM after the broker died: the final commit and leaving the group cannot be answered,
    and the libraries wait without end for them (a confluent consumer hung in its final commit
    after a benchmark's broker was stopped). Each is given a few seconds, then the consumer exits
    cleanly: the written lines stay, their commit is counted as failed (re-delivered later)."""
    with EmbeddedKafka(brokers=1, root=tmp_path / "kafka") as broker:
        bootstrap = broker.bootstrap_servers
        admin.create_topic(bootstrap, "t", 3)
        produce_events(bootstrap, "t", make_events(300))
        procs = {
            client: start_consumer(
                tmp_path, bootstrap, "t", f"g-{client}", tmp_path / f"{client}.log", client
            )  # fmt: skip
            for client in CLIENTS
        }
        for client, proc in procs.items():
            wait_for_lines([tmp_path / f"{client}.log"], 300, [proc])
        broker.stop()
        stopped_at = time.monotonic()
        for proc in procs.values():
            proc.signal(signal.SIGTERM)
        codes = {client: proc.proc.wait(timeout=40) for client, proc in procs.items()}
        took = time.monotonic() - stopped_at
    for client, proc in procs.items():
        out = proc.log_path.read_text()
        assert codes[client] == 0, out
        assert "consumer stopped: events_written=300 dead_letters=0" in out, out
        assert len(parse_log(tmp_path / f"{client}.log")) == 300
    # COMMIT_TIMEOUT_S + CLOSE_TIMEOUT_S = 14 s at most each, in parallel: within the 20 s the
    # harness gives a consumer before SIGKILL.
    assert took < 20, f"{took:.1f} s"


class BackgroundProducer(threading.Thread):
    """Produces `events` at a steady pace, so that a kill lands mid-stream."""

    def __init__(self, bootstrap: str, topic: str, events: list[dict], per_second: int) -> None:
        super().__init__(daemon=True)
        self.bootstrap, self.topic, self.events = bootstrap, topic, events
        self.per_second = per_second
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            producer = KafkaProducer(bootstrap_servers=self.bootstrap, linger_ms=2)
            start = time.monotonic()
            for i, event in enumerate(self.events):
                producer.send(self.topic, json.dumps(event).encode())
                ahead = i / self.per_second - (time.monotonic() - start)
                if ahead > 0:
                    time.sleep(ahead)
            producer.flush(timeout=30)
            producer.close()
        except BaseException as exc:  # surfaced by the test
            self.error = exc


@pytest.mark.kafka
@pytest.mark.parametrize("client", CLIENTS)
def test_sigkill_mid_stream_then_restart_loses_nothing(kafka, new_topic, tmp_path, client):
    bootstrap, topic, group = kafka.bootstrap_servers, new_topic(3), f"g-{uuid.uuid4().hex}"
    events = make_events(4000)
    log = tmp_path / "events.log"
    # A short session: the restarted consumer's group does not wait 10 s for the dead member.
    fast = ("--session-timeout-ms", "6000")
    first = start_consumer(tmp_path, bootstrap, topic, group, log, client, *fast, name="first")
    wait_for_output(first, "consumer ready")
    producer = BackgroundProducer(bootstrap, topic, events, per_second=2000)
    producer.start()
    wait_for_lines([log], 1000, [first])
    first.kill()  # SIGKILL while events keep arriving
    killed_at = count_lines(log)
    # A kill can also land inside a write(): leave the torn line it would leave behind.
    with open(log, "ab") as fh:
        fh.write(b'2026-01-01 00:00:00,000 - {"event": "purchase", "user_')

    second = start_consumer(tmp_path, bootstrap, topic, group, log, client, *fast, name="second")
    producer.join(timeout=60)
    assert producer.error is None
    wait_for_lines([log], len(events), [second])
    deadline = time.monotonic() + 30  # lines may include duplicates: wait for every id
    wanted = {e["event_id"] for e in events}
    while not wanted <= {d["event_id"] for d in parse_log(log)} and time.monotonic() < deadline:
        time.sleep(0.2)
    stop_cleanly(second)

    docs = parse_log(log)  # every line parses: the torn one was cut
    assert wanted <= {d["event_id"] for d in docs}
    assert killed_at < len(events), "the kill did not land mid-stream"
    assert len(docs) >= len(events)  # duplicates allowed, losses not


@pytest.mark.kafka
@pytest.mark.parametrize("client", CLIENTS)
def test_two_consumers_in_a_group_split_the_partitions(kafka, new_topic, tmp_path, client):
    bootstrap, topic, group = kafka.bootstrap_servers, new_topic(4), f"g-{uuid.uuid4().hex}"
    logs = [tmp_path / "events-1.log", tmp_path / "events-2.log"]
    one = start_consumer(tmp_path, bootstrap, topic, group, logs[0], client, name="c1")
    wait_for_output(one, "consumer ready")
    two = start_consumer(tmp_path, bootstrap, topic, group, logs[1], client, name="c2")
    wait_for_output(two, "consumer ready")
    wait_for_partitions(one, 2)  # the first gave up half of its partitions
    wait_for_partitions(two, 2)
    events = make_events(4000)
    produce_events(bootstrap, topic, events)
    wait_for_lines(logs, len(events), [one, two])
    stop_cleanly(one)
    stop_cleanly(two)

    docs = [parse_log(p) for p in logs]
    assert all(docs), "each consumer must have logged part of the events"
    ids = [d["event_id"] for part in docs for d in part]
    assert sorted(ids) == sorted(e["event_id"] for e in events)  # every event exactly once
    partitions = [{d["partition"] for d in part} for part in docs]
    assert not partitions[0] & partitions[1] and partitions[0] | partitions[1] == {0, 1, 2, 3}


@pytest.mark.kafka
@pytest.mark.parametrize("client", CLIENTS)
def test_full_disk_stops_without_committing(kafka, new_topic, tmp_path, client):
    bootstrap, topic, group = kafka.bootstrap_servers, new_topic(2), f"g-{uuid.uuid4().hex}"
    produce_events(bootstrap, topic, make_events(100))
    ok = start_consumer(tmp_path, bootstrap, topic, group, tmp_path / "events.log", client)
    wait_for_lines([tmp_path / "events.log"], 100, [ok])
    stop_cleanly(ok)
    assert committed_total(bootstrap, group) == 100

    produce_events(bootstrap, topic, make_events(100))
    full = start_consumer(
        tmp_path, bootstrap, topic, group, Path("/dev/full"), client,
        "--dead-letter-file", str(tmp_path / "dead.log"),
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while full.running() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert full.returncode() == 1, full.log_tail()
    out = full.log_path.read_text()
    assert "cannot write /dev/full" in out and "errno 28 ENOSPC" in out
    assert committed_total(bootstrap, group) == 100  # nothing past what was written


def test_unwritable_log_path_exits_nonzero_before_consuming(tmp_path):
    # A directory where the file should be: fails at start, before any Kafka connection.
    (tmp_path / "events.log").mkdir()
    proc = start_consumer(
        tmp_path, "127.0.0.1:1", "events", "g", tmp_path / "events.log", name="bad"
    )
    deadline = time.monotonic() + 30
    while proc.running() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.returncode() == 1
    out = proc.log_path.read_text()
    assert f"cannot write {tmp_path / 'events.log'}" in out and "EISDIR" in out
    assert "consumer ready" not in out


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Three brokers of this module's own (RF 3, min ISR 2, as the reliability runs): the tests
    kill brokers, so they cannot share the session's broker. Leaving the context stops every
    broker process (checked here, once the module's tests are done with the cluster)."""
    root = tmp_path_factory.mktemp("cluster")
    with EmbeddedKafka(brokers=3, root=root, min_insync_replicas=2) as kafka_cluster:
        yield kafka_cluster
        pids = kafka_cluster.pids()
    assert pids and not any(pid_alive(pid) for pid in pids), "a broker process outlived its context"


@pytest.mark.kafka
@pytest.mark.cluster
def test_three_broker_cluster_replicates_with_three_isr(cluster):
    """The embedded Kafka's three-broker cluster (tests/test_kafka.py tests one broker); here, on
    this module's cluster before any broker is killed, so that one cluster start serves both."""
    info = describe_cluster(cluster.bootstrap_servers)
    assert sorted(b["broker_id"] for b in info["brokers"]) == [1, 2, 3]
    assert info["controller_id"] in (1, 2, 3)
    topic = f"replicated-{uuid.uuid4().hex[:8]}"
    admin.create_topic(cluster.bootstrap_servers, topic, 3, 3)
    isr = admin.in_sync_replicas(cluster.bootstrap_servers, topic)
    assert set(isr) == {0, 1, 2}
    assert all(sorted(replicas) == [1, 2, 3] for replicas in isr.values())
    assert len(cluster.pids()) == 3


@pytest.mark.kafka
@pytest.mark.cluster
@pytest.mark.timeout(420)
@pytest.mark.parametrize("client", CLIENTS)
def test_killing_the_group_coordinators_broker_does_not_stall_the_consumer(
    cluster, tmp_path, client
):
    """SIGKILL the broker that coordinates the group while events stream in: the consumer
    finds the new coordinator and logs every event. (kafka-python 3.0.12 used to raise
    ECONNREFUSED out of poll() here, and a commit per batch flooded the moving coordinator.)"""
    bootstrap, group = cluster.bootstrap_servers, f"g-{uuid.uuid4().hex}"
    topic = f"t-coordinator-kill-{uuid.uuid4().hex[:8]}"
    admin.create_topic(bootstrap, topic, 3, replication_factor=3)
    log = tmp_path / "events.log"
    proc = start_consumer(tmp_path, bootstrap, topic, group, log, client)
    wait_for_output(proc, "consumer ready")
    # ~10 s of events: the kill comes after 600 (~3 s), so they keep arriving for ~7 s after it,
    # past the killed broker's fencing (broker.session.timeout.ms 4 s) and the coordinator's move.
    events = make_events(2000)
    producer = BackgroundProducer(bootstrap, topic, events, per_second=200)
    producer.start()
    wait_for_lines([log], 600, [proc])
    victim = group_coordinator(bootstrap, group)
    cluster.kill_node(victim)
    try:
        producer.join(timeout=150)
        assert producer.error is None
        wait_for_lines([log], len(events), [proc], timeout=120)
        out = stop_cleanly(proc)
    finally:
        cluster.start_node(victim)  # the next test gets three brokers again

    docs = parse_log(log)
    assert {d["event_id"] for d in docs} == {e["event_id"] for e in events}
    # Failover takes the broker's session timeout (9 s) plus a coordinator load; librdkafka's
    # own 10 s session can expire meanwhile and rejoin (~20 s). Generous for a loaded machine.
    assert largest_gap_s(docs) < 60, f"stalled {largest_gap_s(docs):.1f} s"
    assert "max_in_flight" not in out  # commits no longer pile up on the coordinator
    assert "kafka client failed" not in out
    assert committed_total(bootstrap, group) == len(events)  # the final commit caught up
