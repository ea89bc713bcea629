"""ProducerSettings: environment parsing, overrides, checks; and the client configs built from it."""

from __future__ import annotations

import pytest

from app.producer import build_parser, settings_from_args
from app.producer_client import confluent_config, kafka_python_config
from app.settings import ENV_VARS, KafkaSecurity, ProducerSettings


def test_defaults():
    s = ProducerSettings.from_env({})
    assert (s.bootstrap_servers, s.topic, s.client, s.acks, s.delivery) == (
        "127.0.0.1:9092",
        "events",
        "confluent-kafka",
        "all",
        "ack",
    )
    assert s.delivery_timeout_s == 10.0
    assert s.max_body_bytes == 1024 * 1024 and s.max_batch_events == 1000
    assert s.api_key is None


def test_env_is_read_and_converted():
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": "h1:1,h2:2",
        "EVENTS_TOPIC": "t",
        "KAFKA_CLIENT": "confluent-kafka",
        "PRODUCER_ACKS": "1",
        "PRODUCER_LINGER_MS": "20",
        "PRODUCER_COMPRESSION": "zstd",
        "DELIVERY_MODE": "async",
        "DELIVERY_TIMEOUT_S": "2.5",
        "MAX_BATCH_EVENTS": "7",
        "API_KEY": "k",
    }
    s = ProducerSettings.from_env(env)
    assert s.bootstrap_servers == "h1:1,h2:2" and s.topic == "t"
    assert s.client == "confluent-kafka" and s.acks == "1" and s.linger_ms == 20
    assert s.compression == "zstd" and s.delivery == "async"
    assert s.delivery_timeout_s == 2.5 and s.max_batch_events == 7 and s.api_key == "k"


def test_overrides_win_and_none_falls_through():
    s = ProducerSettings.from_env(
        {"EVENTS_TOPIC": "from-env", "PRODUCER_ACKS": "0"}, topic="from-flag", acks=None
    )
    assert s.topic == "from-flag" and s.acks == "0"


@pytest.mark.parametrize(
    "env,word",
    [
        ({"PRODUCER_ACKS": "2"}, "acks"),
        ({"KAFKA_CLIENT": "pykafka"}, "client"),
        ({"PRODUCER_COMPRESSION": "brotli"}, "compression"),
        ({"DELIVERY_MODE": "maybe"}, "delivery"),
        ({"PRODUCER_LINGER_MS": "soon"}, "PRODUCER_LINGER_MS"),
        ({"DELIVERY_TIMEOUT_S": "0"}, "delivery_timeout_s"),
        ({"MAX_BATCH_EVENTS": "0"}, "max_batch_events"),
    ],
)
def test_invalid_values_are_refused_with_their_name(env, word):
    with pytest.raises(ValueError, match=word):
        ProducerSettings.from_env(env)


def test_to_env_round_trips():
    s = ProducerSettings(
        topic="x",
        client="confluent-kafka",
        linger_ms=3,
        api_key="k",
        security=KafkaSecurity(sasl_password="p", ssl_cafile="/ca.pem"),
        delivery="flush",
    )
    assert ProducerSettings.from_env(s.to_env()) == s
    assert set(s.to_env()) <= set(ENV_VARS)


def test_flags_override_env(monkeypatch):
    monkeypatch.setenv("EVENTS_TOPIC", "env-topic")
    monkeypatch.setenv("DELIVERY_MODE", "async")
    args = build_parser().parse_args(["--topic", "flag-topic", "--acks", "1"])
    s = settings_from_args(args)
    assert (s.topic, s.delivery, s.acks) == ("flag-topic", "async", "1")


def test_kafka_python_config():
    s = ProducerSettings(
        acks="1",
        linger_ms=7,
        compression="none",
        delivery_timeout_s=2,
        security=KafkaSecurity(
            security_protocol="SASL_SSL",
            sasl_mechanism="PLAIN",
            sasl_username="u",
            sasl_password="p",
        ),
    )
    c = kafka_python_config(s, connect_timeout=0.5)
    assert c["acks"] == 1 and c["enable_idempotence"] is False
    assert c["compression_type"] is None and c["linger_ms"] == 7
    assert c["max_block_ms"] == 2000 and c["delivery_timeout_ms"] == 2000
    # kafka-python refuses delivery_timeout_ms < linger_ms + request_timeout_ms
    assert c["delivery_timeout_ms"] >= c["linger_ms"] + c["request_timeout_ms"]
    assert c["bootstrap_timeout_ms"] == 500
    assert c["sasl_plain_username"] == "u" and c["sasl_plain_password"] == "p"
    assert kafka_python_config(ProducerSettings(), 1)["acks"] == -1
    assert kafka_python_config(ProducerSettings(compression="lz4"), 1)["compression_type"] == "lz4"


def test_confluent_config():
    s = ProducerSettings(
        acks="all",
        linger_ms=2,
        compression="snappy",
        delivery_timeout_s=3,
        security=KafkaSecurity(ssl_cafile="/ca.pem"),
    )
    c = confluent_config(s)
    assert c["acks"] == "all" and c["enable.idempotence"] is True
    assert c["linger.ms"] == 2 and c["compression.type"] == "snappy"
    assert c["message.timeout.ms"] == 3000 and c["ssl.ca.location"] == "/ca.pem"
    assert "sasl.password" not in c


def test_the_api_keeps_freed_heap_on_glibc():
    """glibc's mallopt is there (the API's batch path relies on it, app/producer.py)."""
    from app.producer import keep_freed_heap

    assert keep_freed_heap()
