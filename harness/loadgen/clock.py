"""Monotonic time mapped onto one epoch base.

Durations come from perf_counter (immune to wall-clock steps); the epoch base, captured once, makes
the same instants comparable with the server's and the consumer's time.time().
"""

from __future__ import annotations

import time


class Clock:
    def __init__(self) -> None:
        self.epoch0 = time.time()
        self.perf0 = time.perf_counter()

    @classmethod
    def from_base(cls, epoch0: float, perf0: float) -> Clock:
        """The parent's clock in a child process: perf_counter is CLOCK_MONOTONIC, system-wide."""
        clock = cls.__new__(cls)
        clock.epoch0, clock.perf0 = epoch0, perf0
        return clock

    now = staticmethod(time.perf_counter)

    def epoch(self, perf_t: float) -> float:
        """The epoch seconds of a perf_counter instant (works on numpy arrays too)."""
        return self.epoch0 + (perf_t - self.perf0)
