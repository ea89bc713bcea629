"""A circuit breaker for the Kafka producer: fail fast while Kafka is known to be down.

Without it, every request during an outage holds a server thread for the whole delivery timeout;
at a few hundred requests per second the threads run out, requests queue in front of them, and
answers take far longer than the timeout (a pile-up that outlives the outage). With it:

- closed: requests go to Kafka; `threshold` requests in a row whose every record failed (Kafka
  unreachable, not acknowledged in time) open the breaker — a partial outage (one broker of three
  down) interleaves successes and keeps it closed;
- open: requests are answered 503 at once, for `cooldown_s`;
- half-open: after the cool-down one request is let through as a probe (the others still fail
  fast); its success closes the breaker, its failure opens it again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"


class CircuitBreaker:
    def __init__(
        self,
        cooldown_s: float = 1.0,
        threshold: int = 5,
        probe_timeout_s: float = 15.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cooldown_s = cooldown_s
        # A probe that never reports (its request died) must not keep the breaker shut forever.
        self.probe_timeout_s = probe_timeout_s
        self._probe_at = 0.0
        self.threshold = threshold
        self._failures = 0
        self._clock = clock
        self._lock = threading.Lock()
        self._state = CLOSED
        self._opened_at = 0.0
        self._probing = False
        self.rejected = 0  # requests answered 503 without trying Kafka

    @property
    def state(self) -> str:
        with self._lock:
            if self._state == OPEN and self._clock() - self._opened_at >= self.cooldown_s:
                return HALF_OPEN
            return self._state

    def allow(self) -> bool:
        """True when this request may try Kafka (as the one probe, when half-open)."""
        with self._lock:
            if self._state == CLOSED:
                return True
            now = self._clock()
            probe_alive = self._probing and now - self._probe_at < self.probe_timeout_s
            if now - self._opened_at < self.cooldown_s or probe_alive:
                self.rejected += 1
                return False
            self._probing, self._probe_at = True, now
            return True

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def retry_after_s(self) -> float:
        with self._lock:
            return max(0.0, self.cooldown_s - (self._clock() - self._opened_at))

    def success(self) -> None:
        with self._lock:
            self._state, self._probing, self._failures = CLOSED, False, 0

    def failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._state == CLOSED and self._failures < self.threshold:
                return
            self._state, self._probing = OPEN, False
            self._opened_at = self._clock()
