"""The embedded Apache Kafka broker, against real `java` processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka_helpers import home_with_classpath

from harness import cds, java
from harness.kafka import BROKER_JVM_OPTIONS_ENV, EmbeddedKafka, KafkaStartError, new_cluster_id
from harness.ports import free_port, port_in_use
from harness.processes import pid_alive

pytestmark = pytest.mark.kafka


def test_cluster_id_has_kafka_uuid_shape():
    ids = {new_cluster_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(len(i) == 22 and not i.startswith("-") for i in ids)


def test_produce_and_consume_1000_records_on_3_partitions(kafka, new_topic):
    topic = new_topic(partitions=3)
    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap_servers, linger_ms=5)
    futures = [producer.send(topic, f"record-{i}".encode()) for i in range(1000)]
    producer.flush(30)
    metadata = [f.get(timeout=30) for f in futures]
    producer.close()
    assert {m.partition for m in metadata} == {0, 1, 2}

    consumer = KafkaConsumer(
        bootstrap_servers=kafka.bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=10_000,
    )
    consumer.assign([TopicPartition(topic, p) for p in range(3)])
    values = set()
    for message in consumer:
        values.add(message.value.decode())
        if len(values) == 1000:
            break
    consumer.close()
    assert values == {f"record-{i}" for i in range(1000)}


# The three-broker cluster (replication, every broker process stopped with its context) is tested
# in tests/test_consumer_kafka.py, on the cluster that module starts anyway.


def test_context_stops_broker_even_when_body_raises(tmp_path, monkeypatch):
    # (and the broker takes the JVM options of $HARNESS_BROKER_JVM_OPTS, unless given its own)
    monkeypatch.setenv(BROKER_JVM_OPTIONS_ENV, "-XX:TieredStopAtLevel=1 -Dharness.probe='a b'")
    assert EmbeddedKafka(root=tmp_path, broker_jvm_options=[]).broker_jvm_options == []
    with pytest.raises(RuntimeError, match="boom"):
        with EmbeddedKafka(root=tmp_path) as broker:
            pids = broker.pids()
            argv = Path(f"/proc/{pids[0]}/cmdline").read_bytes().split(b"\0")
            raise RuntimeError("boom")
    assert pids and not any(pid_alive(pid) for pid in pids)
    assert b"-XX:TieredStopAtLevel=1" in argv and b"-Dharness.probe=a b" in argv


def test_a_broker_maps_the_class_archive_built_for_its_jars_and_java(tmp_path):
    """The archive `make setup` builds (harness/cds.py) is what a broker's JVM maps; other jars
    or another Java would need an archive of their own."""
    archive = cds.build()  # at once when `make setup` built it
    with EmbeddedKafka(root=tmp_path) as broker:
        maps = Path(f"/proc/{broker.pids()[0]}/maps").read_text()
    assert str(archive) in maps
    exe, classpath = java.check_java(), java.broker_classpath()
    assert cds.jvm_options(classpath, exe) == [f"-XX:SharedArchiveFile={archive}"]
    assert cds.jvm_options(classpath + os.pathsep + str(tmp_path), exe) == []
    assert cds.jvm_options(classpath, sys.executable) == []


def test_port_in_use_is_a_clear_error(kafka, tmp_path):
    taken = int(kafka.bootstrap_servers.split(",")[0].rsplit(":", 1)[1])
    with pytest.raises(KafkaStartError, match=f"Port {taken}.*already in use"):
        EmbeddedKafka(port=taken, root=tmp_path).start()


def test_broker_that_fails_to_start_shows_its_log(tmp_path):
    bad = EmbeddedKafka(
        root=tmp_path, broker_config={"num.network.threads": "-5"}, ready_timeout=60
    )
    with pytest.raises(KafkaStartError) as info:
        bad.start()
    assert "num.network.threads" in str(info.value)
    assert not bad.pids()


def _time_wait_ports(count: int = 3000) -> list[int]:
    """Leaves `count` client sockets in TIME-WAIT on ephemeral ports, as a busy run's closed
    connections do (the client closes first), and returns their ports."""
    import socket

    server = socket.create_server(("127.0.0.1", 0), backlog=512)
    ports = []
    try:
        for _ in range(count):
            client = socket.create_connection(server.getsockname())
            accepted, _ = server.accept()
            ports.append(client.getsockname()[1])
            client.close()  # the side that closes first keeps TIME-WAIT
            accepted.close()
    finally:
        server.close()
    return ports


def test_a_free_port_is_enough_right_after_a_busy_run(tmp_path):
    """`kafka start --port P` used to put the controller on P+1 without asking whether that was
    free; right after a run that closed thousands of connections, P+1 was often in TIME-WAIT.
    Here P is free and P+1 is such a port, on purpose."""
    waiting = [p for p in _time_wait_ports() if port_in_use(p) and not port_in_use(p - 1)]
    assert waiting, "no TIME-WAIT port next to a free one: the test could not set itself up"
    env = {"HARNESS_HOME": home_with_classpath(tmp_path), "PATH": _path()}
    cli = [sys.executable, "-m", "harness", "kafka"]
    for port in (w - 1 for w in waiting[:2]):
        start = subprocess.run([*cli, "start", "--port", str(port)], env=env,
                               capture_output=True, text=True, timeout=180)  # fmt: skip
        try:
            assert start.returncode == 0, start.stderr
            assert start.stdout.strip() == f"127.0.0.1:{port}"
        finally:
            stop = subprocess.run([*cli, "stop"], env=env, capture_output=True, timeout=60)
        assert stop.returncode == 0


def test_chosen_ports_taken_in_the_meantime_are_chosen_again(tmp_path):
    import socket

    broker = EmbeddedKafka(root=tmp_path)
    node = broker.nodes[0]
    squatter = socket.create_server(("127.0.0.1", node.controller_port))  # taken after the choice
    try:
        broker._check_ports()
        assert broker.nodes[0].controller_port != squatter.getsockname()[1]
        assert not port_in_use(broker.nodes[0].controller_port)
        given = EmbeddedKafka(root=tmp_path, controller_port=squatter.getsockname()[1])
        with pytest.raises(KafkaStartError, match="already in use.*--controller-port"):
            given._check_ports()
    finally:
        squatter.close()


def test_cli_start_status_stop(tmp_path):
    env = {"HARNESS_HOME": home_with_classpath(tmp_path), "PATH": _path()}
    cli = [sys.executable, "-m", "harness", "kafka"]
    port = free_port()

    status = subprocess.run([*cli, "status"], env=env, capture_output=True, text=True)
    assert status.returncode != 0

    start = subprocess.run(
        [*cli, "start", "--port", str(port)], env=env, capture_output=True, text=True, timeout=180
    )
    try:
        assert start.returncode == 0, start.stderr
        assert start.stdout.strip() == f"127.0.0.1:{port}"
        status = subprocess.run([*cli, "status"], env=env, capture_output=True, text=True)
        assert status.returncode == 0, status.stdout
        assert f"127.0.0.1:{port}" in status.stdout
    finally:
        stop = subprocess.run([*cli, "stop"], env=env, capture_output=True, text=True, timeout=60)
    assert stop.returncode == 0
    assert subprocess.run([*cli, "status"], env=env, capture_output=True).returncode != 0
    leftover = subprocess.run(["pgrep", "-f", f"{tmp_path}.*kafka.Kafka"], capture_output=True)
    assert leftover.returncode == 1, leftover.stdout


def test_cli_with_external_cluster_starts_nothing(kafka, tmp_path):
    env = {"HARNESS_HOME": home_with_classpath(tmp_path), "PATH": _path()}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness",
            "kafka",
            "start",
            "--bootstrap-servers",
            kafka.bootstrap_servers,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == kafka.bootstrap_servers
    assert "nothing started" in out.stderr
    assert not (tmp_path / "kafka").exists()


def _path() -> str:
    import os

    return os.environ["PATH"]
