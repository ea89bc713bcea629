"""The producer's circuit breaker (pure logic, a fake clock)."""

from __future__ import annotations

from app.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_closed_lets_everything_through():
    breaker = CircuitBreaker(cooldown_s=1.0, clock=Clock())
    assert all(breaker.allow() for _ in range(100))
    assert breaker.state == CLOSED and breaker.rejected == 0


def test_failures_in_a_row_open_it_and_requests_fail_fast_until_the_cooldown_ends():
    clock = Clock()
    breaker = CircuitBreaker(cooldown_s=1.0, threshold=3, clock=clock)
    breaker.failure()
    breaker.failure()
    assert breaker.state == CLOSED  # not yet: two in a row
    breaker.failure()
    assert breaker.state == OPEN
    assert not any(breaker.allow() for _ in range(10))
    assert breaker.rejected == 10
    assert 0.99 <= breaker.retry_after_s() <= 1.0
    clock.now += 0.5
    assert not breaker.allow()


def test_a_success_between_failures_keeps_it_closed():
    breaker = CircuitBreaker(cooldown_s=1.0, threshold=3, clock=Clock())
    for _ in range(10):
        breaker.failure()
        breaker.failure()
        breaker.success()
    assert breaker.state == CLOSED and breaker.allow()


def test_half_open_lets_one_probe_through_and_its_outcome_decides():
    clock = Clock()
    breaker = CircuitBreaker(cooldown_s=1.0, threshold=1, clock=clock)
    breaker.failure()
    clock.now += 1.0
    assert breaker.state == HALF_OPEN
    assert breaker.allow()  # the probe
    assert not breaker.allow() and not breaker.allow()  # the others still fail fast
    breaker.failure()  # the probe failed: open again, a new cool-down
    assert breaker.state == OPEN and not breaker.allow()
    clock.now += 1.0
    assert breaker.allow()
    breaker.success()
    assert breaker.state == CLOSED
    assert all(breaker.allow() for _ in range(5))


def test_a_probe_that_never_reports_does_not_keep_it_shut():
    clock = Clock()
    breaker = CircuitBreaker(cooldown_s=1.0, threshold=1, probe_timeout_s=3.0, clock=clock)
    breaker.failure()
    clock.now += 1.0
    assert breaker.allow()  # the probe, which then vanishes without success() or failure()
    clock.now += 2.0
    assert not breaker.allow()
    clock.now += 1.5
    assert breaker.allow()  # a new probe
