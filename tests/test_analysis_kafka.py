"""Analysis of what the real consumer logged from the real broker: exact counts end to end."""

from __future__ import annotations

import json
import time
import uuid

import numpy as np
import pytest
from analysis_synth import records
from kafka_helpers import produce, wait_for_lines

from harness.analysis import compute_metrics, per_second, read_events_log
from harness.services import ConsumerService


@pytest.mark.kafka
def test_counts_from_a_real_consumer_log(kafka, new_topic, tmp_path):
    topic = new_topic(partitions=3)
    now = time.time()
    ids = [f"run-{i}" for i in range(200)]
    sent = now + np.arange(200) * 0.001
    recs = records(ids, sent, sent + 0.002)
    events = [
        {"event": "purchase", "user_id": i, "event_id": ids[i], "sent_at": sent[i]}
        for i in range(200)
    ]
    produced = [json.dumps(e).encode() for e in events[:190]]  # the last 10 are lost
    produced += [json.dumps(e).encode() for e in events[:5]]  # 5 redeliveries
    produced.append(json.dumps({"event_id": "someone-else", "sent_at": now}).encode())
    produced.append(b"[not an object]")  # goes to dead-letter.log

    log_path = tmp_path / "events.log"
    with ConsumerService(
        kafka.bootstrap_servers, topic, f"g-{uuid.uuid4().hex[:8]}", log_path, tmp_path / "c.out"
    ) as consumer:
        produce(kafka.bootstrap_servers, topic, produced)
        wait_for_lines([log_path], 196, [consumer.process])

    log = read_events_log(tmp_path)
    metrics = compute_metrics(recs, log, {"partitions": 3}, {})
    assert metrics["counts"] == {
        "sent": 200,
        "accepted": 200,
        "rejected": 0,
        "failed": 0,
        "consumed": 195,
        "unique_consumed": 190,
        "lost": 10,
        "duplicates": 5,
    }
    assert metrics["unexpected"] == 1 and metrics["dead_letters"] == 1
    assert metrics["unparsed_lines"] == 0
    assert sorted(log["partition"].unique()) == [0, 1, 2]
    assert 0 < metrics["latency_ms"]["e2e"]["p50"] < 60_000
    assert per_second(recs, log)["consumed_eps"].sum() == 195
