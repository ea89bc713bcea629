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

    now = staticmethod(time.perf_counter)

    def epoch(self, perf_t: float) -> float:
        """The epoch seconds of a perf_counter instant (works on numpy arrays too)."""
        return self.epoch0 + (perf_t - self.perf0)
