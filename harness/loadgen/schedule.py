"""The open loop's schedule: when each request is due, in seconds after the start.

One function owns it, `due_offsets(config)`: request i is due at `start + due_offsets(config)[i]`,
whichever process sends it (every generator of a run computes the same array from the same
settings, and sends its own share of the ids). It is a pure function of the settings: the same
settings (the run id included) give the same array, in any process.

Two things shape it:
- **the offered rate over time**: constant (`rate`), or `stages` (k6's ramping-arrival-rate: a list
  of (seconds, target events/s); the warm-up holds the first target, then each stage moves
  linearly from the rate before it to its own target over its seconds; a stage of 0 s jumps);
- **the arrivals**: `uniform` (evenly spaced in the cumulative offered load: i / rate at a
  constant rate, as wrk2 sends) or `poisson` (a Poisson process at that rate: exponential gaps,
  seeded by `random_seed`, else by the run id, so that every generator draws the same ones).

Both are one time change: request i is due when the cumulative offered load (in requests)
reaches u_i, with u_i = i (uniform) or the points of a unit-rate Poisson process conditioned on
the run's request count (poisson: the mean rate is then exactly the offered one).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np

ARRIVALS = ("uniform", "poisson")
# A stream of its own for the schedule's random numbers (the payload draws from random_seed too).
_SCHEDULE_STREAM = 0x5C4ED


class StagesError(ValueError):
    """A `stages` text that cannot be a schedule: says what to write instead."""


def parse_stages(text: str) -> tuple[tuple[float, float], ...]:
    """`"10:1000,20:4000,10:1000"` -> ((10.0, 1000.0), (20.0, 4000.0), (10.0, 1000.0)):
    (seconds, target events/s) per stage."""
    example = "e.g. 10:1000,20:4000,10:1000 (seconds:events/s per stage)"
    if not isinstance(text, str) or not text.strip():
        raise StagesError(f"stages must be a list of SECONDS:RATE, {example}, not {text!r}")
    stages = []
    for part in text.split(","):
        seconds, sep, rate = part.strip().partition(":")
        try:
            stage = (float(seconds), float(rate)) if sep else None
        except ValueError:
            stage = None
        if stage is None or not all(math.isfinite(v) and v >= 0 for v in stage):
            raise StagesError(
                f"stages: {part.strip()!r} is not SECONDS:RATE with both numbers >= 0, {example}"
            )
        stages.append(stage)
    if not sum(s for s, _ in stages) > 0:
        raise StagesError(f"stages: {text!r} lasts 0 s; give at least one stage of > 0 s")
    return tuple(stages)


def stages_text(stages) -> str:
    """The text form of parsed stages (what config.json and the tables show)."""
    return ",".join(f"{s:g}:{r:g}" for s, r in stages)


@dataclass(frozen=True)
class RateProfile:
    """The offered rate over time, as straight segments: segment k runs from `starts[k]` for
    `seconds[k]`, its rate moving linearly from `first[k]` to `last[k]` (per second)."""

    starts: np.ndarray
    seconds: np.ndarray
    first: np.ndarray
    last: np.ndarray

    @classmethod
    def of(cls, warmup_s: float, stages, scale: float = 1.0) -> RateProfile:
        """The warm-up at the first stage's rate, then the stages; rates divided by `scale`
        (events per request: the profile in requests)."""
        segments = []
        previous = stages[0][1]
        if warmup_s > 0:
            segments.append((warmup_s, previous, previous))
        for seconds, target in stages:
            if seconds > 0:
                segments.append((seconds, previous, target))
            previous = target
        seconds = np.array([s for s, _, _ in segments], dtype=np.float64)
        starts = np.concatenate([[0.0], np.cumsum(seconds)[:-1]])
        first = np.array([a for _, a, _ in segments], dtype=np.float64) / scale
        last = np.array([b for _, _, b in segments], dtype=np.float64) / scale
        return cls(starts, seconds, first, last)

    @property
    def total_s(self) -> float:
        return float(self.starts[-1] + self.seconds[-1])

    def _areas(self) -> np.ndarray:
        return (self.first + self.last) / 2 * self.seconds

    def total(self) -> float:
        """The load offered over the whole profile (events, or requests when scaled)."""
        return float(self._areas().sum())

    def rate_at(self, t: np.ndarray) -> np.ndarray:
        """The target rate at instants `t` (seconds after the start)."""
        t = np.asarray(t, dtype=np.float64)
        k = np.clip(np.searchsorted(self.starts, t, side="right") - 1, 0, len(self.starts) - 1)
        share = np.clip((t - self.starts[k]) / self.seconds[k], 0.0, 1.0)
        return self.first[k] + (self.last[k] - self.first[k]) * share

    def cumulative(self, t: np.ndarray) -> np.ndarray:
        """The load offered from 0 to each instant of `t`."""
        t = np.clip(np.asarray(t, dtype=np.float64), 0.0, self.total_s)
        before = np.concatenate([[0.0], np.cumsum(self._areas())])
        k = np.clip(np.searchsorted(self.starts, t, side="right") - 1, 0, len(self.starts) - 1)
        tau = t - self.starts[k]
        slope = (self.last[k] - self.first[k]) / self.seconds[k]
        return before[k] + self.first[k] * tau + slope * tau * tau / 2

    def inverse(self, load: np.ndarray) -> np.ndarray:
        """The instant at which the cumulative offered load reaches each value of `load`
        (non-decreasing when `load` is)."""
        load = np.asarray(load, dtype=np.float64)
        before = np.concatenate([[0.0], np.cumsum(self._areas())])
        # the segment in which each load is reached (segments offering nothing are skipped)
        k = np.clip(np.searchsorted(before, load, side="right") - 1, 0, len(self.starts) - 1)
        x = load - before[k]
        a = self.first[k]
        slope = (self.last[k] - a) / self.seconds[k]
        # the root of slope/2 tau^2 + a tau - x = 0, in the form that is stable for any slope
        root = np.sqrt(np.maximum(a * a + 2 * slope * x, 0.0))
        with np.errstate(divide="ignore", invalid="ignore"):
            tau = np.where(a + root > 0, 2 * x / (a + root), 0.0)
        return self.starts[k] + np.minimum(tau, self.seconds[k])


def profile(config) -> RateProfile:
    """The offered load of an open-loop run in requests per second over time."""
    if config.stages:
        return RateProfile.of(config.warmup_s, config.stages, scale=config.batch_size)
    seconds = config.requests / config.rate_requests
    rate = config.rate_requests
    return RateProfile(np.zeros(1), np.array([seconds]), np.array([rate]), np.array([rate]))


def schedule_seed(config) -> int:
    """The schedule's seed: `random_seed`, else one derived from the run id (shared by every
    generator of the run, unlike a fresh draw)."""
    if config.random_seed is not None:
        return int(config.random_seed)
    return int.from_bytes(hashlib.sha256(config.run_id.encode()).digest()[:8], "little")


def due_offsets(config) -> np.ndarray:
    """Seconds after the start at which each request of an open-loop run is due (float64, one
    per request id, non-decreasing)."""
    if not config.open_loop:
        raise ValueError("a schedule is for an open loop (rate or stages set)")
    n = config.requests
    if config.arrivals == "uniform" and not config.stages:
        return np.arange(n, dtype=np.float64) / config.rate_requests  # wrk2's constant rate
    shape = profile(config)
    if config.arrivals == "uniform":
        load = np.arange(n, dtype=np.float64)
    else:
        rng = np.random.default_rng([schedule_seed(config), _SCHEDULE_STREAM])
        arrivals = np.cumsum(rng.standard_exponential(n + 1))
        load = arrivals[:-1] * (shape.total() / arrivals[-1])
    return shape.inverse(load)
