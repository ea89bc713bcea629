"""The capacity search as pure logic: which rate to try next, and what the steps add up to.

    search = CapacitySearch(estimate_eps=2400, settings=SearchSettings())
    while (planned := search.next()) is not None:
        rate, role = planned
        search.record(run_the_step(rate, role))      # a criteria.Step with its verdict
    outcome = search.outcome()

From an estimate (a short closed-loop probe), the first step runs at `start_share` of it. Steps
grow by `growth` until one fails, then bisect (geometric mean) between the highest sustainable
rate and the lowest failing one until they are within `precision` of each other, and one more
step confirms the rate found. While no step has been sustainable, each next step runs at
`descent` times the last; after `max_descents` of those the capacity is "below" the lowest rate
tried. A generator-bound step runs again at once (a busy machine's stall makes one); generator-
bound twice at one rate, it ends the search once a step was sustainable (before that, the
search descends: the generator may keep up at a lower rate), and the capacity is then "at least"
the highest sustainable rate, never a figure of its own, unless the system itself failed a step
below the generator's limit: then the generator's limit is above the capacity, not in the way,
and the search bisects between the two as usual. Every step counts against `max_steps`, and the last
one is kept for the confirmation.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from harness.capacity.criteria import GENERATOR, GENERATOR_BOUND, SUSTAINABLE, Step

GROW, DESCEND, BISECT, CONFIRM = "grow", "descend", "bisect", "confirm"
ROLES = (GROW, DESCEND, BISECT, CONFIRM)

# What the steps add up to (outcome()["result"]).
FOUND, AT_LEAST, BELOW = "found", "at_least", "below"
# Why the search stopped (outcome()["stopped_by"]).
PRECISION, BUDGET, GENERATOR_STOP, NO_SUSTAINABLE, INTERRUPTED = (
    "precision", "budget", "generator", "no-sustainable-step", "interrupted",
)  # fmt: skip


@dataclass(frozen=True)
class SearchSettings:
    precision: float = 0.05  # relative gap between sustainable and failing rates to stop at
    max_steps: int = 10
    growth: float = 1.3
    start_share: float = 0.7  # of the closed-loop estimate: its latency is far past most objectives
    descent: float = 0.5
    max_descents: int = 3
    min_rate_eps: float = 1.0

    def __post_init__(self) -> None:
        if not (isinstance(self.precision, int | float) and 0 < self.precision < 1):
            raise ValueError(
                f"precision is a relative gap in (0, 1), not {self.precision!r} "
                "(e.g. --precision 0.05 for 5%)"
            )
        if not isinstance(self.max_steps, int) or self.max_steps < 2:
            raise ValueError(
                f"max_steps must be an integer >= 2 (a step and its confirmation), not "
                f"{self.max_steps!r}"
            )
        if not self.growth > 1:
            raise ValueError(f"growth must be > 1, not {self.growth!r}")
        if not 0 < self.start_share:
            raise ValueError(f"start_share must be > 0, not {self.start_share!r}")
        if not 0 < self.descent < 1:
            raise ValueError(f"descent must be in (0, 1), not {self.descent!r}")
        if self.max_descents < 0:
            raise ValueError(f"max_descents must be >= 0, not {self.max_descents!r}")
        if not self.min_rate_eps > 0:
            raise ValueError(f"min_rate_eps must be > 0, not {self.min_rate_eps!r}")


def round_rate(rate: float) -> float:
    """Rates are whole events/s: readable directory names and steps that differ."""
    return float(max(1, round(rate)))


class CapacitySearch:
    def __init__(self, estimate_eps: float, settings: SearchSettings | None = None) -> None:
        if not (isinstance(estimate_eps, int | float) and math.isfinite(estimate_eps)):
            raise ValueError(f"the estimate must be a finite rate, not {estimate_eps!r}")
        self.settings = settings or SearchSettings()
        self.estimate_eps = float(estimate_eps)
        self.steps: list[Step] = []
        self.lo: float | None = None  # the highest sustainable rate
        self.hi: float | None = None  # the lowest failing rate above lo
        self.confirmed = False
        self.generator_bound = False  # a rate the generator could not offer, twice
        self.generator_eps: float | None = None  # the lowest such rate
        self.retry: tuple[float, str] | None = None  # a step to run again: its generator was late

    # -- planning ---------------------------------------------------------------------------
    def next(self) -> tuple[float, str] | None:
        """(rate, role) of the next step, or None when the search is over."""
        s = self.settings
        left = s.max_steps - len(self.steps)
        if left < 1 or (self._generator_limits() and self.lo is not None):
            return None
        if self.retry is not None:
            return self.retry
        if not self.steps:
            return round_rate(max(s.min_rate_eps, s.start_share * self.estimate_eps)), GROW
        if self.lo is None:
            lowest = min(step.rate_eps for step in self.steps)
            rate = round_rate(lowest * s.descent)
            if self._descents() >= s.max_descents or rate < s.min_rate_eps or rate >= lowest:
                return None
            return rate, DESCEND
        if self.hi is None:
            return round_rate(self.lo * s.growth), GROW
        if not self.precise() and left >= 2:
            return round_rate(math.sqrt(self.lo * self.hi)), BISECT
        if not self.confirmed:
            return self.lo, CONFIRM
        return None

    def precise(self) -> bool:
        """Sustainable and failing rates within `precision` (or adjacent whole rates)."""
        if self.lo is None or self.hi is None:
            return False
        return (self.hi - self.lo) / self.lo <= self.settings.precision or self.hi - self.lo <= 1

    def _generator_limits(self) -> bool:
        """The generator's limit (a rate generator-bound twice) is in the way of the answer: no
        step below it failed by the system's own doing."""
        return self.generator_bound and (self.hi is None or self.hi > self.generator_eps)

    def _descents(self) -> int:
        return sum(step.role == DESCEND for step in self.steps)

    # -- recording --------------------------------------------------------------------------
    def record(self, step: Step) -> None:
        """Adds a judged step (its `role` as `next()` planned it)."""
        self.steps.append(step)
        rate = step.rate_eps
        self.retry = None
        if step.verdict == GENERATOR_BOUND:
            # Once may be a stall of a busy machine; twice at one rate is the generator's limit.
            late = [s for s in self.steps if s.verdict == GENERATOR_BOUND and s.rate_eps == rate]
            if len(late) >= 2:
                self.generator_bound = True
                self.generator_eps = min(rate, self.generator_eps or rate)
            else:
                self.retry = (rate, step.role)
        elif step.verdict == SUSTAINABLE:
            if step.role == CONFIRM and rate == self.lo:
                self.confirmed = True
            elif self.lo is None or rate > self.lo:
                self.lo, self.confirmed = rate, False
        elif step.role == CONFIRM and rate == self.lo:
            # The rate found failed its second try: it becomes the failing bound, and the search
            # goes on from the highest rate below it that was sustainable.
            self.hi, self.confirmed = rate, False
            below = [s.rate_eps for s in self.steps if s.sustainable and s.rate_eps < rate]
            self.lo = max(below) if below else None
        elif self.hi is None or rate < self.hi:
            if self.lo is None or rate > self.lo:
                self.hi = rate

    # -- the answer -------------------------------------------------------------------------
    def _step_at(self, rate: float | None, sustainable: bool) -> Step | None:
        """The latest step at `rate` with that verdict (the confirmation when there is one)."""
        for step in reversed(self.steps):
            if step.rate_eps == rate and step.sustainable == sustainable:
                return step
        return None

    def _generator_step(self) -> Step | None:
        """The step that showed the generator's limit: generator-bound twice at one rate, or
        generator-bound as the last step of all (no budget left to run it again)."""
        if self._generator_limits() or (self.steps and self.steps[-1].verdict == GENERATOR_BOUND):
            return next(s for s in reversed(self.steps) if s.verdict == GENERATOR_BOUND)
        return None

    def outcome(self, interrupted: bool = False) -> dict:
        """What the steps say: result (found / at_least / below), the rate, the reason."""
        failing = self._step_at(self.hi, sustainable=False)
        gen_step = self._generator_step()
        if gen_step is not None:
            result, rate, reason, stopped = AT_LEAST, self.lo, GENERATOR, GENERATOR_STOP
            failing = gen_step
        elif self.lo is not None and self.hi is not None:
            result, rate, reason = FOUND, self.lo, failing.reason if failing else None
            stopped = PRECISION if self.precise() else BUDGET
        elif self.lo is not None:
            result, rate, reason, stopped = AT_LEAST, self.lo, None, BUDGET
        else:
            failed = [s for s in self.steps if not s.sustainable]
            failing = min(failed, key=lambda s: s.rate_eps, default=None)
            result, reason = BELOW, failing.reason if failing else None
            rate = failing.rate_eps if failing else None
            stopped = NO_SUSTAINABLE
        if interrupted:
            stopped = INTERRUPTED
        at_rate = self._step_at(self.lo, sustainable=True)
        return {
            "result": result,
            "capacity_eps": rate if result == FOUND else None,
            "bound_eps": rate,
            "reason": reason,
            "stopped_by": stopped,
            "confirmed": self.confirmed if result == FOUND else False,
            "precision_reached": self.precise(),
            "estimate_eps": self.estimate_eps,
            "sustainable_eps": self.lo,
            "failing_eps": self.hi if gen_step is None else gen_step.rate_eps,
            "at_capacity": at_rate.to_dict() if at_rate else None,
            "failing_step": failing.to_dict() if failing else None,
            "settings": asdict(self.settings),
            "summary": _summary(result, rate, reason, failing, self.hi),
        }


def _summary(
    result: str, rate: float | None, reason: str | None, failing: Step | None,
    failing_eps: float | None = None,
) -> str:  # fmt: skip
    why = f"{reason}: {failing.reasons[0]}" if failing and failing.reasons else (reason or "")
    at = f" at {failing.rate_eps:,.0f} events/s" if failing else ""
    if result == FOUND:
        bracket = (f" (bracket: sustainable at {rate:,.0f}, failed at {failing_eps:,.0f})"
                   if failing_eps else "")  # fmt: skip
        return f"capacity {rate:,.0f} events/s{bracket}; stopped by {why}{at}"
    if result == AT_LEAST and reason == GENERATOR:
        known = f"at least {rate:,.0f} events/s" if rate else "not measured"
        count = failing.generators if failing else None
        more = (f" with {count} generator{'s' if count != 1 else ''}: add generators "
                f"(--generators {count + 1} or more)" if count else "")  # fmt: skip
        return (f"generator-bound{at}{more}: capacity {known} ({why}), not a capacity of the "
                "system")  # fmt: skip
    if result == AT_LEAST:
        return f"capacity at least {rate:,.0f} events/s: no step failed within the step budget"
    if rate is None:
        return "no step measured"
    return f"capacity below {rate:,.0f} events/s: every step failed ({why})"
