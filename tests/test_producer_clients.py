"""Both Kafka client libraries against the real embedded broker: produce, acknowledge, ping."""

from __future__ import annotations

import time

import orjson
import pytest
from api_helpers import read_topic
from kafka_helpers import stored_batches

from app.producer_client import KafkaUnavailable, make_client
from app.settings import ACKS, COMPRESSIONS, ProducerSettings
from harness import admin, faults
from harness.kafka import EmbeddedKafka
from harness.ports import free_port

CLIENTS = ["kafka-python", "confluent-kafka"]

pytestmark = pytest.mark.kafka


def settings_for(kafka, topic, **kw):
    return ProducerSettings(bootstrap_servers=kafka.bootstrap_servers, topic=topic, **kw)


@pytest.mark.parametrize("client_name", CLIENTS)
def test_client_produces_acknowledged_records(kafka, new_topic, client_name):
    topic = new_topic(3)
    client = make_client(settings_for(kafka, topic, client=client_name))
    try:
        assert client.ping(5)
        values = [orjson.dumps({"event": "e", "n": i}) for i in range(200)]
        pending = client.send(values[:150])
        single = client.send(values[150:151], watch=False)
        rest = client.send(values[151:])
        assert client.wait(pending, time.monotonic() + 10) == [None] * 150
        assert client.wait(single, time.monotonic() + 10) == [None]
        assert client.wait(rest, time.monotonic() + 10) == [None] * 49
        assert client.stats.sent == 200 and client.stats.failed == 0
    finally:
        client.close(5)
    got = read_topic(kafka.bootstrap_servers, topic, 200)
    assert sorted(e["n"] for e in got) == list(range(200))


# A batch header's codec (the low bits of its attributes), per setting.
CODECS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


def test_the_codec_table_names_every_setting():
    assert set(CODECS) == set(COMPRESSIONS)


@pytest.mark.parametrize("client_name", CLIENTS)
@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_every_compression_codec_reaches_the_broker(kafka, new_topic, client_name, compression):
    """The codec is read back from the batches the broker stored: a client that ignored the
    setting would still deliver every record, but not in batches of that codec."""
    topic = new_topic(1)
    client = make_client(settings_for(kafka, topic, client=client_name, compression=compression))
    try:
        pending = client.send([orjson.dumps({"event": "c", "n": i}) for i in range(20)])
        assert client.wait(pending, time.monotonic() + 10) == [None] * 20
    finally:
        client.close(5)
    assert len(read_topic(kafka.bootstrap_servers, topic, 20)) == 20
    batches = stored_batches(kafka, topic)
    assert batches and {b.compression_type for b in batches} == {CODECS[compression]}


@pytest.mark.parametrize("client_name", CLIENTS)
def test_the_default_producer_is_idempotent_on_the_wire(kafka, new_topic, client_name):
    """Idempotence as the broker sees it: an idempotent producer asks the broker for a producer
    id and numbers its batches; one without stores producer id -1. Read from the batches the
    built client wrote, not from the settings we give it."""
    idempotent, plain = new_topic(1), new_topic(1)
    for topic, acks in ((idempotent, ProducerSettings.acks), (plain, "1")):
        client = make_client(settings_for(kafka, topic, client=client_name, acks=acks))
        try:
            if client_name == "kafka-python":  # the built client's own configuration too
                assert client._producer.config["enable_idempotence"] is (acks == "all")
            pending = client.send([b'{"event": "i"}'] * 10)
            assert client.wait(pending, time.monotonic() + 10) == [None] * 10
        finally:
            client.close(5)
    assert ProducerSettings.acks == "all"
    batches = stored_batches(kafka, idempotent)
    assert batches and all(b.producer_id >= 0 and b.base_sequence >= 0 for b in batches), [
        (b.producer_id, b.base_sequence) for b in batches]  # fmt: skip
    assert {b.producer_id for b in stored_batches(kafka, plain)} == {-1}


def deliver_one(settings: ProducerSettings, value: bytes) -> str | None:
    """None when the producer was told the record was delivered, else why not."""
    client = make_client(settings)
    try:
        (outcome,) = client.wait(client.send([value]), time.monotonic() + 5)
    finally:
        client.close(2)
    return outcome


# acks, told apart by what the producer hears back. A client that sent another acks than the
# one set fails one of the two tests below.
BIG = orjson.dumps({"event": "big", "pad": "x" * 1000})


@pytest.mark.parametrize("client_name", CLIENTS)
@pytest.mark.parametrize("acks", ACKS)
def test_acks_0_is_never_told_of_a_refused_record(kafka, new_topic, client_name, acks):
    """A record over the topic's size limit: the broker refuses it; with acks=0 the producer
    is not told (and the record is not stored either)."""
    topic = new_topic(1, config={"max.message.bytes": "200"})
    settings = settings_for(kafka, topic, client=client_name, acks=acks, delivery_timeout_s=2)
    outcome = deliver_one(settings, BIG)
    assert (outcome is None) is (acks == "0"), outcome
    assert read_topic(kafka.bootstrap_servers, topic, 1, timeout=1) == []


@pytest.mark.cluster
def test_acks_all_waits_for_the_in_sync_replicas_acks_1_does_not(tmp_path):
    """A partition with 2 replicas and min.insync.replicas 2 whose follower died: the leader
    refuses acks=all (NOT_ENOUGH_REPLICAS) and takes acks=1 and 0. Three brokers, so that the
    controllers keep a quorum without the dead one; every client and acks on one cluster."""
    with EmbeddedKafka(brokers=3, root=tmp_path / "kafka") as cluster:
        bootstrap = cluster.bootstrap_servers
        admin.create_topic(bootstrap, "acks", 1, 2, config={"min.insync.replicas": "2"})
        leader, isr = faults.partition_state(bootstrap, "acks")
        (follower,) = set(isr) - {leader}
        cluster.kill_node(follower)
        assert faults.wait_failover(bootstrap, "acks", follower)["isr_after"] == [leader]
        outcomes = {
            (client_name, acks): deliver_one(
                ProducerSettings(bootstrap_servers=bootstrap, topic="acks", client=client_name,
                                 acks=acks, delivery_timeout_s=2),
                b'{"event": "a"}',
            )
            for client_name in CLIENTS
            for acks in ACKS
        }  # fmt: skip
    refused = {key for key, outcome in outcomes.items() if outcome is not None}
    assert refused == {(client_name, "all") for client_name in CLIENTS}, outcomes


def test_flush_delivers_everything_sent(kafka, new_topic):
    topic = new_topic(2)
    client = make_client(settings_for(kafka, topic, linger_ms=200))
    try:
        pending = client.send([b'{"event": "f"}'] * 50)
        assert client.flush(10)
        # After flush every record is resolved: waiting costs nothing.
        assert client.wait(pending, time.monotonic()) == [None] * 50
    finally:
        client.close(5)


def test_kafka_python_gives_up_connecting_within_its_budget():
    dead = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(KafkaUnavailable):
        make_client(
            ProducerSettings(bootstrap_servers=dead, client="kafka-python"), connect_timeout=1.0
        )
    assert time.monotonic() - started < 5


def test_confluent_ping_and_delivery_fail_in_time_without_a_broker():
    dead = f"127.0.0.1:{free_port()}"
    client = make_client(
        ProducerSettings(bootstrap_servers=dead, client="confluent-kafka", delivery_timeout_s=1)
    )
    try:
        started = time.monotonic()
        assert not client.ping(0.5)
        pending = client.send([b'{"event": "lost"}'])
        (error,) = client.wait(pending, time.monotonic() + 5)
        assert error is not None and "delivery failed" in error
        assert time.monotonic() - started < 5
        assert client.stats.failed == 1
    finally:
        client.close(1)
