"""The topic audit against the real broker: exact counts from Kafka, the same as the consumer's log."""

from __future__ import annotations

import json
import time
import uuid

import numpy as np
import pytest
from analysis_synth import records
from confluent_kafka import KafkaError, KafkaException, Producer
from kafka_helpers import wait_for_lines

from harness import audit
from harness.analysis import compute_metrics, read_events_log
from harness.ports import free_port
from harness.services import ConsumerService

# Beside quiet tests only under xdist (conftest.py): the audit's timeouts are timed.
pytestmark = pytest.mark.quiet

RUN = "ab12"
PLAINTEXT = {"security.protocol": "PLAINTEXT"}  # the security hook, as an open cluster takes it


def _value(event_id: str, sent_at: float) -> bytes:
    return json.dumps(
        {
            "event": "click",
            "user_id": 7,
            "event_id": event_id,
            "sent_at": sent_at,
            "received_at": sent_at + 0.001,
        }  # fmt: skip
    ).encode()


def _produce(bootstrap: str, topic: str, values: list[bytes], timestamp_ms: int = 0) -> None:
    """Values round-robin over the partitions, each acknowledged before this returns."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    partitions = len(producer.list_topics(topic, timeout=10).topics[topic].partitions)
    for i, value in enumerate(values):
        producer.produce(topic, value, partition=i % partitions, timestamp=timestamp_ms)
    assert producer.flush(30) == 0


@pytest.mark.kafka
def test_topic_audit_counts_agree_with_the_consumer_log(kafka, new_topic, tmp_path):
    bootstrap = kafka.bootstrap_servers
    topic = new_topic(partitions=3)
    now = time.time()
    # this run's events from an earlier load: before the recorded offsets, never counted
    _produce(bootstrap, topic, [_value(f"{RUN}-{100 + i}", now) for i in range(4)])
    offsets = audit.start_offsets(bootstrap, topic, security=PLAINTEXT)
    assert sorted(offsets) == [0, 1, 2] and sum(offsets.values()) == 4

    ids = [f"{RUN}-{i}" for i in range(22)]
    sent = now + np.arange(len(ids)) * 0.001
    status = [200] * 21 + [0]  # the last timed out at the client, yet reached Kafka
    recs = records(ids, sent, sent + 0.002, status=status)
    in_topic = [i for i in range(22) if i != 20]  # RUN-20 was accepted and is lost
    run_values = [_value(ids[i], sent[i]) for i in in_topic] + [
        _value(ids[3], sent[3]),  # producer retries: duplicates in the topic itself
        _value(ids[7], sent[7]),
    ]
    other = [_value(f"other-{i}", now) for i in range(5)]
    other += [_value(f"{RUN}3-1", now), json.dumps({"event": "no id"}).encode()]
    not_json = [b"[not an object]"]
    values = run_values + other + not_json
    _produce(bootstrap, topic, values[::2] + values[1::2])  # interleaved over the partitions

    accepted = set(recs.loc[recs["accepted"], "event_id"])
    calls = []
    started = time.monotonic()
    topic_log = audit.audit_topic(
        bootstrap, topic, offsets, accepted, timeout_s=2.0, run_id=RUN,
        progress=lambda found, expected: calls.append((found, expected)), security=PLAINTEXT,
    )  # fmt: skip
    took = time.monotonic() - started
    facts = topic_log.attrs[audit.AUDIT_ATTR]

    assert 2.0 <= took < 4.0, "the timeout path returns promptly"
    assert facts["drained"] is False and facts["missing"] == 1
    assert facts["missing_samples"] == [f"{RUN}-20"]
    assert facts["records_read"] == len(values)
    assert facts["other_traffic"] == len(other) and facts["not_json"] == len(not_json)
    assert facts["events_kept"] == len(run_values) == len(topic_log)
    assert calls[-1] == (len(accepted) - 1, len(accepted))

    metrics = compute_metrics(recs, topic_log, {}, {})
    assert metrics["counts"] == {
        "sent": 22, "accepted": 21, "rejected": 0, "failed": 1,
        "consumed": len(run_values), "unique_consumed": len(in_topic), "lost": 1, "duplicates": 2,
    }  # fmt: skip
    assert metrics["unexpected"] == 0 and metrics["consumed_unaccepted"] == 1
    assert metrics["dead_letters"] == 1

    # the app's consumer, reading the same topic from the same offsets, logs the same account
    log_path = tmp_path / "events.log"
    with ConsumerService(
        bootstrap, topic, f"g-{uuid.uuid4().hex[:8]}", log_path, tmp_path / "c.out"
    ) as consumer:
        wait_for_lines([log_path], 4 + len(values) - len(not_json), [consumer.process])
    log = read_events_log(log_path)
    log = log[log["offset"].ge(log["partition"].map(offsets))].reset_index(drop=True)
    from_log = compute_metrics(recs, log, {}, {})
    assert from_log["counts"] == metrics["counts"]
    assert from_log["consumed_unaccepted"] == metrics["consumed_unaccepted"]
    assert list(topic_log.columns) == list(log.columns)
    assert topic_log.dtypes.astype(str).to_dict() == log.dtypes.astype(str).to_dict()
    pairs = lambda df: sorted(zip(df["event_id"], df["partition"], df["offset"], strict=True))  # noqa: E731
    assert pairs(topic_log) == pairs(log[log["event_id"].str.startswith(f"{RUN}-", na=False)])


@pytest.mark.kafka
def test_drained_audit_stops_early_and_reads_to_the_end(kafka, new_topic):
    bootstrap = kafka.bootstrap_servers
    topic = new_topic(partitions=2)
    offsets = audit.start_offsets(bootstrap, topic)
    ids = [f"{RUN}-{i}" for i in range(10)]
    _produce(bootstrap, topic, [_value(i, time.time()) for i in ids])

    started = time.monotonic()
    found = audit.audit_topic(bootstrap, topic, offsets, set(ids[:3]), timeout_s=30.0, run_id=RUN)
    assert time.monotonic() - started < 10.0
    facts = found.attrs[audit.AUDIT_ATTR]
    assert facts["drained"] and facts["missing"] == 0 and "reason" not in facts
    # once all accepted ids are found it reads on to the end: every record of the run is there
    assert sorted(found["event_id"]) == sorted(ids)

    nothing_expected = audit.audit_topic(bootstrap, topic, offsets, set(), 30.0, run_id=RUN)
    assert len(nothing_expected) == len(ids)
    assert nothing_expected.attrs[audit.AUDIT_ATTR]["drained"]


@pytest.mark.kafka
@pytest.mark.parametrize("kind", ["LogAppendTime", "CreateTime"])
def test_consumed_at_is_the_broker_timestamp_of_the_reported_type(kafka, new_topic, kind):
    bootstrap = kafka.bootstrap_servers
    topic = new_topic(partitions=1, config={"message.timestamp.type": kind})
    offsets = audit.start_offsets(bootstrap, topic)
    created_ms = int(time.time() * 1000) - 3_600_000  # an hour ago, by the producer's clock
    ids = [f"{RUN}-{i}" for i in range(5)]
    before = time.time()
    _produce(bootstrap, topic, [_value(i, before) for i in ids], timestamp_ms=created_ms)
    after = time.time()

    found = audit.audit_topic(bootstrap, topic, offsets, set(ids), 30.0, run_id=RUN)
    assert found.attrs[audit.AUDIT_ATTR]["timestamp_type"] == kind
    consumed_at = found["consumed_at"].to_numpy()
    if kind == "CreateTime":
        assert (consumed_at == created_ms / 1000).all()
    else:  # the broker's clock when it appended them (same host: the test's clock)
        assert ((consumed_at >= before - 0.001) & (consumed_at <= after + 0.001)).all()
    local = found["log_time"].dt.strftime("%Y-%m-%d %H:%M:%S").tolist()
    assert local == [time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) for t in consumed_at]


@pytest.mark.kafka
def test_a_missing_topic_is_a_clear_error(kafka):
    with pytest.raises(audit.AuditError, match="no-such-topic.*create it"):
        audit.start_offsets(kafka.bootstrap_servers, f"no-such-topic-{uuid.uuid4().hex[:6]}")


def test_an_unreachable_cluster_is_a_clear_error():
    started = time.monotonic()
    with pytest.raises(audit.AuditError, match="reachable"):
        audit.start_offsets(f"127.0.0.1:{free_port()}", "events", timeout_s=1.0)
    assert time.monotonic() - started < 5.0


class _Answers:
    """A consumer whose watermark answers are given: a KafkaError raises, a number is the end."""

    def __init__(self, *answers) -> None:
        self.answers, self.asked = list(answers), 0

    def get_watermark_offsets(self, tp, timeout, cached):
        self.asked += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, KafkaError):
            raise KafkaException(answer)
        return 0, answer


def test_end_offsets_asks_again_while_a_leader_is_not_ready_and_no_longer():
    not_leader = KafkaError(KafkaError.NOT_LEADER_FOR_PARTITION)
    moving = _Answers(not_leader, KafkaError(KafkaError.LEADER_NOT_AVAILABLE), 42)
    assert audit._end_offsets(moving, "t", [0], timeout_s=5.0) == {0: 42}
    assert moving.asked == 3
    # still moving at the deadline: the error, said
    with pytest.raises(audit.AuditError, match="t\\[0\\].*Not leader"):
        audit._end_offsets(_Answers(not_leader), "t", [0], timeout_s=0.5)
    # not transient: at once
    refused = _Answers(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED), 42)
    with pytest.raises(audit.AuditError, match="t\\[0\\]"):
        audit._end_offsets(refused, "t", [0], timeout_s=5.0)
    assert refused.asked == 1


def test_security_settings_cannot_change_what_the_audit_reads():
    config = audit.consumer_config(
        "b:9092", {"security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN"}
    )
    assert config["security.protocol"] == "SASL_SSL" and config["enable.auto.commit"] is False
    with pytest.raises(ValueError, match="group.id.*audit sets them itself"):
        audit.consumer_config("b:9092", {"group.id": "mine", "security.protocol": "SSL"})
