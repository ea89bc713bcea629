"""Your events, not the seed's (issue 21), against the real broker, API and consumer: exact byte
accounting, an events file's round trip, key routing, skew, partition balance, the per-key order
audit (clean, and with a planted violation), and idempotence / max_in_flight as each client
library holds them. The pure logic is in tests/test_events_units.py."""

from __future__ import annotations

import json
import time

import numpy as np
import orjson
import pandas as pd
import pytest
from api_helpers import post
from client_config import build_client, effective_config
from confluent_kafka import Consumer, Producer, TopicPartition

from app.eventlog import ADDED_FIELDS
from app.settings import CLIENTS, STAMPED_FIELDS, ProducerSettings
from harness import audit
from harness.analysis import read_client_records
from harness.analysis.order import audit_order
from harness.loadgen.payload import zipf_cdf
from harness.params import RunConfig
from harness.run import run_experiment
from harness.services import ApiService

pytestmark = pytest.mark.kafka

PREFIX = 26  # "2025-07-06 23:18:56,847 - "
CONSUMER_FIELDS = set(ADDED_FIELDS)
STAMPED = set(STAMPED_FIELDS) | CONSUMER_FIELDS  # what the API and the consumer add


def _run(kafka, out, **params) -> dict:
    params.setdefault("warmup_s", 0)  # every event in the figures
    params.setdefault("keep_topic", True)  # the tests read the run's records back from its topic
    cfg = RunConfig(bootstrap_servers=kafka.bootstrap_servers, drain_timeout_s=60, **params)
    return run_experiment(cfg, out, progress=False)


def log_objects(run_dir) -> list[tuple[bytes, dict]]:
    lines = (run_dir / "events.log").read_bytes().splitlines(keepends=True)
    return [(line, json.loads(line[PREFIX:])) for line in lines]


def read_records(bootstrap: str, topic: str, expected: int, timeout_s: float = 30.0) -> list:
    """(partition, offset, key, value) of every record of `topic`, read by a consumer of our own."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"t-{time.time_ns()}",
                         "enable.auto.commit": False})  # fmt: skip
    meta = consumer.list_topics(topic, timeout=10).topics[topic]
    consumer.assign([TopicPartition(topic, p, 0) for p in meta.partitions])
    out, deadline = [], time.monotonic() + timeout_s
    try:
        while len(out) < expected and time.monotonic() < deadline:
            for msg in consumer.consume(5000, timeout=0.5):
                if msg.error() is None:
                    out.append((msg.partition(), msg.offset(), msg.key(), msg.value()))
    finally:
        consumer.close()
    return out


def _mean_max(values) -> dict:
    return {"mean": float(np.mean(values)), "max": float(np.max(values))}


# ---------------------------------------------------------------- bytes


@pytest.mark.parametrize("endpoint, size", [("batch", 1000), ("single", 100)])
def test_every_logged_event_has_the_requested_size_and_bytes_match_the_log(
    kafka, tmp_path, endpoint, size
):
    metrics = _run(kafka, tmp_path, events=2000, threads=20, event_bytes=size, endpoint=endpoint,
                   events_per_request=50, random_seed=3)  # fmt: skip
    assert metrics["counts"]["unique_consumed"] == 2000 and metrics["counts"]["lost"] == 0
    logged = log_objects(tmp_path)
    assert len(logged) == 2000
    event_sizes, record_sizes = [], []
    for _, obj in logged:
        event = {k: v for k, v in obj.items() if k not in STAMPED}
        event_sizes.append(len(orjson.dumps(event)))
        record_sizes.append(len(orjson.dumps({k: v for k, v in obj.items()
                                              if k not in CONSUMER_FIELDS})))  # fmt: skip
    assert set(event_sizes) == {size}
    assert metrics["bytes"] == {"event": _mean_max(event_sizes), "record": _mean_max(record_sizes),
                                "line": _mean_max([len(line) for line, _ in logged])}  # fmt: skip
    # MB/s is the measured events' bytes over the same window as events/s
    assert metrics["throughput_mbps"] == pytest.approx(metrics["throughput_eps"] * size / 1e6)


# ---------------------------------------------------------------- events file


SAMPLES = [
    {"event": "inscription", "device_id": "dév-1", "user": {"name": "Zoë", "tags": ["α", "β"]}},
    {"event": "purchase", "device_id": "d-2", "amount": 12.5, "qty": 3, "paid": True,
     "coupon": None, "big": 2**62, "tiny": 1e-7, "neg": -40, "event_id": "theirs",
     "sent_at": 12},
    {"event": "nested", "device_id": "d-3", "a": [{"b": [{"c": [1, 2.25, None, False]}]}], "e": {}},
    {"event": "😀 emoji", "device_id": "d-1", "text": "line\nbreak \"quoted\" \\ tab\t"},
]  # fmt: skip


def test_an_events_file_reaches_the_log_unchanged_and_is_keyed(kafka, tmp_path):
    path = tmp_path / "mine.jsonl"
    path.write_text("\n".join(json.dumps(e, ensure_ascii=False) for e in SAMPLES) + "\n\n",
                    encoding="utf-8")  # fmt: skip
    metrics = _run(kafka, tmp_path / "run", events=40, threads=4, events_file=str(path),
                   key="device_id")  # fmt: skip
    assert metrics["counts"]["unique_consumed"] == 40 and metrics["counts"]["lost"] == 0
    run_id = json.loads((tmp_path / "run" / "config.json").read_text())["run_id"]
    logged = log_objects(tmp_path / "run")
    for _, obj in logged:
        seq = int(obj["event_id"].removeprefix(f"{run_id}-"))
        expected = {k: v for k, v in SAMPLES[seq % len(SAMPLES)].items()
                    if k not in ("event_id", "sent_at")}  # fmt: skip
        assert {k: v for k, v in obj.items()
                if k not in STAMPED | {"event_id", "sent_at"}} == expected  # fmt: skip
        assert isinstance(obj["sent_at"], float)
    assert len(logged) == 40
    topic = metrics["run"]["topic"]
    records = read_records(kafka.bootstrap_servers, topic, 40)
    assert len(records) == 40
    for _, _, key, value in records:
        assert key.decode() == orjson.loads(value)["device_id"]
    assert metrics["order"]["audited"] and metrics["order"]["violations"] == 0
    # keyed, the run read its topic: record sizes are Kafka's own, non-ASCII text included
    assert metrics["bytes"]["record"] == _mean_max([len(value) for *_, value in records])


# ---------------------------------------------------------------- keys, skew, order


USERS, SKEW, EVENTS = 10_000, 1.1, 20_000


@pytest.fixture(scope="module")
def skewed(kafka, tmp_path_factory):
    """One keyed run with hot users, and its topic read back by a consumer of our own."""
    out = tmp_path_factory.mktemp("skewed")
    metrics = _run(kafka, out, events=EVENTS, threads=100, key="user_id", users=USERS,
                   key_skew=SKEW, random_seed=21, partitions=3)  # fmt: skip
    records = read_records(kafka.bootstrap_servers, metrics["run"]["topic"], EVENTS)
    return out, metrics, records


def test_every_record_is_keyed_by_its_user_and_each_user_keeps_one_partition(skewed):
    _, metrics, records = skewed
    assert metrics["counts"]["unique_consumed"] == EVENTS and len(records) == EVENTS
    partitions_of: dict[bytes, set[int]] = {}
    for partition, _, key, value in records:
        assert key == str(orjson.loads(value)["user_id"]).encode()
        partitions_of.setdefault(key, set()).add(partition)
    assert all(len(p) == 1 for p in partitions_of.values())
    assert len({next(iter(p)) for p in partitions_of.values()}) == 3  # users spread over all


def test_skew_gives_the_hottest_users_the_zipf_share_and_the_imbalance_is_the_topics(skewed):
    _, metrics, records = skewed
    users = np.array([orjson.loads(value)["user_id"] for *_, value in records])
    hottest = np.sort(np.bincount(users))[::-1][: USERS // 100].sum() / len(users)
    predicted = zipf_cdf(USERS, SKEW)[USERS // 100 - 1]
    assert abs(hottest / predicted - 1) < 0.10, (hottest, predicted)
    per_partition = np.bincount([p for p, *_ in records], minlength=3)
    assert metrics["partitions"]["records"] == per_partition.tolist()
    assert metrics["partitions"]["imbalance"] == pytest.approx(per_partition.max()
                                                               / per_partition.mean())  # fmt: skip
    assert metrics["partitions"]["source"] == "end offsets"


def test_a_clean_keyed_run_keeps_the_order_per_key(skewed):
    _, metrics, _ = skewed
    order = metrics["order"]
    assert order["audited"] and order["key"] == "user_id" and order["events"] == EVENTS
    assert order["pairs_checked"] > EVENTS and order["violations"] == 0
    assert order["first_violations"] == []


def test_the_order_audit_reports_exactly_a_planted_violation(kafka, skewed):
    out, metrics, records = skewed
    topic, start = metrics["run"]["topic"], metrics["run"]["topic_audit"]["start_offsets"]
    run_id = metrics["run"]["run_id"]
    partition, _, key, _ = records[0]
    client = read_client_records(out)
    t0 = float(client["done_at"].max()) + 1.0
    first, second = f"{run_id}-{EVENTS}", f"{run_id}-{EVENTS + 1}"
    # the client saw `first` answered before it sent `second`; Kafka holds `second` first
    producer = Producer({"bootstrap.servers": kafka.bootstrap_servers})
    for event_id in (second, first):
        value = orjson.dumps({"event": "planted", "user_id": int(key), "event_id": event_id,
                              "sent_at": t0})  # fmt: skip
        producer.produce(topic, value, key, partition=partition)
        producer.flush(10)
    planted = pd.DataFrame({"event_id": [first, second], "sent_at": [t0, t0 + 0.2],
                            "done_at": [t0 + 0.1, t0 + 0.3], "accepted": True})  # fmt: skip
    with_planted = pd.concat([client, planted], ignore_index=True)
    found = audit.audit_topic(kafka.bootstrap_servers, topic, {int(p): o for p, o in start.items()},
                              set(with_planted["event_id"]), 30, run_id=run_id, keys=True)  # fmt: skip
    order = audit_order(with_planted, found, "user_id")
    assert order["violations"] == 1
    (violation,) = order["first_violations"]
    assert violation["key"] == key.decode()
    assert violation["earlier"]["event_id"] == first and violation["later"]["event_id"] == second
    assert violation["earlier"]["partition"] == violation["later"]["partition"] == partition
    assert violation["earlier"]["offset"] == violation["later"]["offset"] + 1
    assert order["pairs_checked"] > metrics["order"]["pairs_checked"]


# ---------------------------------------------------------------- the API's key


@pytest.mark.parametrize("client", CLIENTS)
def test_the_api_keys_records_and_refuses_an_event_without_the_field(kafka, new_topic, tmp_path,
                                                                      client):  # fmt: skip
    topic = new_topic()
    settings = ProducerSettings(bootstrap_servers=kafka.bootstrap_servers, topic=topic,
                                client=client, key="user_id")  # fmt: skip
    with ApiService(settings, tmp_path / "api.log", workers=1, worker_threads=4) as api:
        status, body = post(api.url + "/register_event", {"event": "no-user"})
        assert status == 400 and "'user_id' is required" in body["error"]
        assert post(api.url + "/register_event", {"event": "a", "user_id": 7})[0] == 202
        status, body = post(api.url + "/events", [
            {"event": "b", "user_id": "u-9"}, {"event": "c"}, {"event": "d", "user_id": 7.0},
        ])  # fmt: skip
        assert status == 202 and [r["status"] for r in body["results"]] == [
            "accepted", "rejected", "accepted"]  # fmt: skip
        assert "'user_id' is required" in body["results"][1]["error"]
    records = read_records(kafka.bootstrap_servers, topic, 3)
    keys = {orjson.loads(value)["event"]: (partition, key) for partition, _, key, value in records}
    assert {e: k for e, (_, k) in keys.items()} == {"a": b"7", "b": b"u-9", "d": b"7.0"}


# ---------------------------------------------------------------- idempotence, in flight


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("params, idempotent, in_flight", [
    ({}, True, 5),
    ({"idempotence": False, "max_in_flight": 3}, False, 3),
    ({"acks": "1", "max_in_flight": 9}, False, 9),
])  # fmt: skip
def test_idempotence_and_max_in_flight_reach_the_clients_effective_config(
    kafka, new_topic, client, params, idempotent, in_flight
):
    cfg = RunConfig(bootstrap_servers=kafka.bootstrap_servers, client=client, **params)
    # the API's process reads its settings from the environment the harness gives it
    env = cfg.producer_settings(kafka.bootstrap_servers, new_topic(partitions=1)).to_env()
    built = build_client(ProducerSettings.from_env(env))
    try:
        found = effective_config(built, producer_id=True)
    finally:
        built.close(2)
    assert found["enable_idempotence"] is idempotent
    assert found["max_in_flight"] == in_flight
    # the broker's side: an idempotent producer was given a producer id, another one none
    assert (found["producer_id"] is not None and found["producer_id"] >= 0) is idempotent
