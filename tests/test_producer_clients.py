"""Both Kafka client libraries against the real embedded broker: produce, acknowledge, ping."""

from __future__ import annotations

import time

import orjson
import pytest
from api_helpers import read_topic

from app.producer_client import KafkaUnavailable, make_client
from app.settings import COMPRESSIONS, ProducerSettings
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


@pytest.mark.parametrize("client_name", CLIENTS)
@pytest.mark.parametrize("compression", [c for c in COMPRESSIONS if c != "none"])
def test_every_compression_codec_works(kafka, new_topic, client_name, compression):
    topic = new_topic(1)
    client = make_client(settings_for(kafka, topic, client=client_name, compression=compression))
    try:
        pending = client.send([orjson.dumps({"event": "c", "n": i}) for i in range(20)])
        assert client.wait(pending, time.monotonic() + 10) == [None] * 20
    finally:
        client.close(5)
    assert len(read_topic(kafka.bootstrap_servers, topic, 20)) == 20


@pytest.mark.parametrize("client_name", CLIENTS)
@pytest.mark.parametrize("acks", ["0", "1"])
def test_weaker_acks_still_deliver(kafka, new_topic, client_name, acks):
    topic = new_topic(1)
    client = make_client(settings_for(kafka, topic, client=client_name, acks=acks))
    try:
        pending = client.send([b'{"event": "a"}'] * 10)
        assert client.wait(pending, time.monotonic() + 10) == [None] * 10
    finally:
        client.close(5)
    assert len(read_topic(kafka.bootstrap_servers, topic, 10)) == 10


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
