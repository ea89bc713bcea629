"""A timed run with a warm-up, end to end against the real broker, API and consumer: its figures
cover the measured window only, its counts the whole run, and both can be redone from the run
directory's files."""

from __future__ import annotations

import numpy as np
import pytest

from harness.analysis import read_client_records, read_events_log
from harness.analysis.latency import summarize
from harness.params import RunConfig
from harness.run import run_experiment

# Alone on the machine under xdist (conftest.py): the senders' deadline is checked to 0.1 s.
pytestmark = [pytest.mark.kafka, pytest.mark.exclusive]


def test_timed_run_with_warmup_measures_the_window_and_counts_everything(kafka, tmp_path):
    cfg = RunConfig(bootstrap_servers=kafka.bootstrap_servers, threads=20, warmup_s=1.0,
                    duration_s=2.0, drain_timeout_s=60)  # fmt: skip
    m = run_experiment(cfg, tmp_path / "run", progress=False)

    records = read_client_records(tmp_path / "run")
    log = read_events_log(tmp_path / "run")
    warm = records["phase"] == "warmup"
    measured = records[~warm]
    # The senders stopped at the deadline: 3 s of sends, both phases present.
    t = records["sent_at"] - records["sent_at"].min()
    assert 2.5 < t.max() < 3.0
    assert t[warm].max() < 1.0 <= t[~warm].min() + 0.01

    counts, window = m["counts"], m["window"]
    assert counts["sent"] == len(records) == window["events_measured"] + window["events_warmup"]
    assert window["events_warmup"] == warm.sum() > 0 and window["warmup_s"] == 1.0
    assert counts["accepted"] == counts["unique_consumed"] == counts["sent"]  # warm-up included
    assert counts["lost"] == 0

    # The figures, redone from the files over the measured phase only.
    first_consumed = log.groupby("event_id")["consumed_at"].min()
    consumed_measured = first_consumed.reindex(measured["event_id"])
    start, end = measured["sent_at"].min(), consumed_measured.max()
    assert (window["start"], window["end"]) == (pytest.approx(start), pytest.approx(end))
    assert m["duration_s"] == pytest.approx(end - start)
    assert m["throughput_eps"] == pytest.approx(consumed_measured.notna().sum() / (end - start))
    http = (measured["done_at"] - measured["sent_at"]).to_numpy() * 1000.0
    assert m["latency_ms"]["http"] == pytest.approx(summarize(http))
    e2e = (consumed_measured.to_numpy() - measured["sent_at"].to_numpy()) * 1000.0
    assert m["latency_ms"]["e2e"] == pytest.approx(summarize(e2e[np.isfinite(e2e)]))
    # ... and not over the whole run: the warm-up's events are in no figure.
    assert m["latency_ms"]["http"]["mean"] != pytest.approx(
        (records["done_at"] - records["sent_at"]).mean() * 1000.0, rel=1e-9
    )
    steadiness = m["steadiness"]
    assert steadiness["steady"] is None  # a 2 s window is too short to judge
    assert any("fewer than 5" in reason for reason in steadiness["reasons"])
