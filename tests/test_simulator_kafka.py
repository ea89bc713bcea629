"""The simulator against the real API (gunicorn) in front of the real embedded broker."""

from __future__ import annotations

import pandas as pd
import pytest
from api_helpers import read_topic

from app.settings import ProducerSettings
from harness.services import ApiService
from harness.simulator import SimulatorConfig, measure_ceiling, simulate


@pytest.mark.kafka
@pytest.mark.parametrize(("endpoint", "events"), [("single", 300), ("batch", 600)])
def test_simulated_events_reach_the_topic(kafka, new_topic, tmp_path, endpoint, events):
    topic = new_topic(3)
    settings = ProducerSettings(bootstrap_servers=kafka.bootstrap_servers, topic=topic)
    with ApiService(settings, tmp_path / "api.log", workers=2, worker_threads=8) as api:
        cfg = SimulatorConfig(url=api.url, events=events, threads=20, endpoint=endpoint,
                              events_per_request=50, run_id=f"k{endpoint}")  # fmt: skip
        result = simulate(cfg, tmp_path, progress=False)
    assert (result.accepted, result.rejected, result.failed) == (events, 0, 0)

    values = read_topic(kafka.bootstrap_servers, topic, events)
    by_id = {v["event_id"]: v for v in values}
    assert sorted(by_id) == sorted(f"k{endpoint}-{i}" for i in range(events))
    records = pd.read_parquet(tmp_path / "client_records.parquet").set_index("event_id")
    assert records["accepted"].all() and (records["status"] == 202).all()
    for event_id, value in by_id.items():
        assert value["sent_at"] == pytest.approx(records.loc[event_id, "sent_at"], abs=1e-6)
        # The client's epoch-mapped clock and the API's time.time() agree (same machine).
        assert value["received_at"] >= value["sent_at"] - 0.005
        assert value["received_at"] <= records.loc[event_id, "done_at"] + 0.005


def test_ceiling_against_the_noop_api(tmp_path):
    # noop delivery answers without Kafka: the bare HTTP path the ceiling is meant to measure.
    settings = ProducerSettings(bootstrap_servers="127.0.0.1:9", topic="unused", delivery="noop")
    with ApiService(settings, tmp_path / "api.log", workers=2, worker_threads=8) as api:
        ceiling = measure_ceiling(api.url, threads=20, events=400, repeats=1, min_requests=400)
        batch = measure_ceiling(api.url, threads=4, endpoint="batch", events_per_request=20,
                                events=400, repeats=1, min_requests=40)  # fmt: skip
    assert ceiling > 50
    assert batch > 5
