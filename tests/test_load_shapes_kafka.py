"""Load over time against the real API and broker: a stage run with Poisson arrivals offers what
its schedule says, the simulator sends it on time, the system answers it, and the timeline adds
up (the schedule's own exactness is tests/test_schedule.py's)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from harness.loadgen.schedule import due_offsets
from harness.params import RunConfig
from harness.run import run_experiment
from harness.rundir import CONFIG_FILE, TIMELINE_FILE

# Alone on the machine under xdist (conftest.py): every 0.5 s bin must send what its schedule
# offered, within 15%; beside two other workers (load ~9 on 2 cores) the generator once fell 0.07 s
# behind at 800/s and failed it.
pytestmark = [pytest.mark.kafka, pytest.mark.exclusive]


def test_a_stage_run_with_poisson_arrivals_is_offered_sent_and_answered_as_scheduled(
    kafka, tmp_path
):
    """1 s warm-up at 200/s, a ramp to 800/s over 3 s, 2 s at 800/s: 3,300 events."""
    cfg = RunConfig(stages="0:200,3:800,2:800", warmup_s=1, arrivals="poisson", random_seed=5,
                    bin_s=0.5, bootstrap_servers=kafka.bootstrap_servers)  # fmt: skip
    metrics = run_experiment(cfg, tmp_path / "run", progress=False)
    c = metrics["counts"]
    assert c["sent"] == cfg.planned_events() == 3300 and c["lost"] == 0, c
    assert json.loads((tmp_path / "run" / CONFIG_FILE).read_text())["stages"] == "0:200,3:800,2:800"
    tl = pd.read_parquet(tmp_path / "run" / TIMELINE_FILE)
    # offered per bin is the schedule's (the bins start at the first request due)
    offsets = due_offsets(cfg.simulator_config("http://x", metrics["run"]["run_id"]))
    expected = np.bincount(np.floor((offsets - offsets[0]) / 0.5).astype(int))
    assert tl["offered"].to_numpy()[: len(expected)].tolist() == expected.tolist()
    assert tl["offered"].sum() == tl["sent"].sum() == c["sent"]
    # the ramp shows: the last second offers about 4x the warm-up's
    assert tl["offered"].iloc[-4:-2].sum() > 3 * tl["offered"].iloc[:2].sum(), tl["offered"]
    # sent on time and answered: in every busy bin the simulator sent what was due and the API
    # accepted it (a stalled generator or a refusing API fails this)
    busy = tl[tl["offered"] >= 50]
    assert (abs(busy["sent"] - busy["offered"]) <= 0.15 * busy["offered"]).all(), busy
    assert (busy["accepted"] == busy["offered"]).all(), busy
    assert metrics["latency_ms"]["send_delay"]["p50"] < 50, metrics["latency_ms"]["send_delay"]
    assert tl["logged"].sum() == c["unique_consumed"] and tl["accepted"].sum() == c["accepted"]
