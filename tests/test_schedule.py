"""The open loop's schedule on its own (no server): stages follow their targets second by second,
Poisson arrivals are exponential at the offered mean rate, and the schedule is a pure, seeded
function of the simulator's settings (every load generator of a run computes the same one)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from harness.loadgen.config import SimulatorConfig
from harness.loadgen.schedule import RateProfile, due_offsets, parse_stages, stages_text
from harness.params import RunConfig

URL = "http://127.0.0.1:9"


def config(**kwargs) -> SimulatorConfig:
    return SimulatorConfig(url=URL, **kwargs)


def per_second(offsets: np.ndarray, seconds: int) -> np.ndarray:
    return np.bincount(np.floor(offsets).astype(int), minlength=seconds)[:seconds]


@pytest.mark.parametrize(
    "stages, warmup_s",
    [("10:1000,20:4000,10:1000", 3.0), ("0:50,10:1500,0:300,5:300,8:50", 2.0), ("5:80", 0.0)],
)
def test_every_full_second_of_a_stage_run_offers_its_target_within_2_percent(stages, warmup_s):
    cfg = config(stages=parse_stages(stages), warmup_s=warmup_s)
    offsets = due_offsets(cfg)
    profile = RateProfile.of(warmup_s, cfg.stages)
    seconds = int(math.floor(cfg.total_s))
    edges = np.arange(seconds + 1, dtype=float)
    target = np.diff(profile.cumulative(edges))  # the mean of the ramp over each second
    offered = per_second(offsets, seconds)
    assert np.all(np.abs(offered - target) <= 0.02 * target), np.c_[offered, target]
    assert len(offsets) == cfg.requests == cfg.planned_events
    assert np.all(np.diff(offsets) >= 0) and offsets[-1] < cfg.total_s
    # the warm-up holds the first stage's rate; the first stage then holds it too
    first_rate = cfg.stages[0][1]
    assert np.allclose(profile.rate_at(np.array([0.0, warmup_s])), first_rate)


def test_a_ramp_moves_linearly_between_the_stages_targets():
    profile = RateProfile.of(2.0, parse_stages("0:100,10:1100"))
    assert profile.rate_at(np.array([1.0, 2.0, 7.0, 12.0])).tolist() == [100, 100, 600, 1100]
    assert profile.total() == pytest.approx(2 * 100 + 10 * 600)


@pytest.mark.parametrize("stages", [None, "5:500,10:3000,5:500"])
def test_poisson_gaps_are_exponential_at_the_offered_mean_rate(stages):
    """A Kolmogorov-Smirnov test at alpha = 0.01 (seeded, so it cannot flake), and the mean
    rate within 2%. With stages the process is time-changed: its gaps in the cumulative offered
    load are the unit exponentials."""
    if stages is None:
        cfg = config(rate=2000, events=20_000, arrivals="poisson", random_seed=7)
        gaps = np.diff(due_offsets(cfg))
        scale = 1 / cfg.rate
    else:
        cfg = config(stages=parse_stages(stages), warmup_s=2, arrivals="poisson", random_seed=7)
        load = RateProfile.of(cfg.warmup_s, cfg.stages).cumulative(due_offsets(cfg))
        gaps = np.diff(load)
        scale = 1.0
    assert stats.kstest(gaps, "expon", args=(0, scale)).pvalue > 0.01
    offsets = due_offsets(cfg)
    mean_rate = (len(offsets) - 1) / (offsets[-1] - offsets[0])
    assert mean_rate == pytest.approx(cfg.mean_rate, rel=0.02)
    # and they are not evenly spaced: the KS test tells the two apart
    uniform = np.diff(due_offsets(config(rate=2000, events=20_000)))
    assert stats.kstest(uniform, "expon", args=(0, 1 / 2000)).pvalue < 0.01


def test_the_schedule_is_a_pure_seeded_function_of_the_settings():
    base = dict(rate=500, events=5000, arrivals="poisson", run_id="abcd1234")
    one, again = due_offsets(config(**base)), due_offsets(config(**base))
    assert np.array_equal(one, again)  # no seed: the run id seeds it, the same in every process
    assert not np.array_equal(one, due_offsets(config(**{**base, "run_id": "ffff0000"})))
    seeded = due_offsets(config(**{**base, "random_seed": 3}))
    assert np.array_equal(seeded, due_offsets(config(**{**base, "random_seed": 3,
                                                        "run_id": "ffff0000"})))  # fmt: skip
    assert seeded.dtype == np.float64 and len(seeded) == 5000


def test_a_constant_uniform_rate_is_wrk2s_schedule_in_requests():
    assert np.array_equal(due_offsets(config(rate=400, events=1000)), np.arange(1000) / 400)
    batch = config(rate=1000, events=5000, endpoint="batch", events_per_request=100)
    assert np.array_equal(due_offsets(batch), np.arange(50) / 10)


def test_stages_with_the_batch_endpoint_count_events():
    cfg = config(stages=parse_stages("4:2000"), warmup_s=1, endpoint="batch", events_per_request=50)
    assert cfg.planned_events == 10_000 and cfg.requests == 200
    assert per_second(due_offsets(cfg), 5).tolist() == [40] * 5


@pytest.mark.parametrize(
    "text, words",
    [("10", "SECONDS:RATE"), ("10:-5", ">= 0"), ("a:b", "SECONDS:RATE"), ("0:100", "lasts 0 s"),
     ("", "list of SECONDS:RATE"), ("10:inf", ">= 0")],
)  # fmt: skip
def test_bad_stages_are_refused_with_what_to_write(text, words):
    with pytest.raises(ValueError, match=words):
        RunConfig(stages=text)


def test_stages_replace_rate_and_duration_and_poisson_needs_an_open_loop():
    with pytest.raises(ValueError, match="leave rate, duration_s"):
        RunConfig(stages="5:100", rate=100)
    with pytest.raises(ValueError, match="leave rate, duration_s"):
        RunConfig(stages="5:100", duration_s=5)
    with pytest.raises(ValueError, match="shapes an open loop"):
        RunConfig(arrivals="poisson")
    cfg = RunConfig(stages=" 5:100 , 10:300")
    assert cfg.stages == "5:100,10:300" == stages_text(cfg.stage_list())
    assert cfg.load_s() == 3 + 15 and cfg.planned_events() == 300 + 500 + 2000
