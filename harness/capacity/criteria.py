"""When is one step of a capacity search sustainable? The objective and the verdict on a step.

A step is an open-loop run at a target rate R. It is **sustainable** when the system took R within
the objective: the achieved rate (accepted answers per second while the measured events were
sent) is at least 98% of R, http p99 (from the schedule) is within the objective (and e2e p99
too when an e2e objective is set), the measured window is steady (e2e latency does not grow and
consumption does not fall), the error rate is within its threshold, nothing is lost, and every
SLO given (`--slo`, metrics.json's "slo") holds.

The generator keeps up when its send-delay p99 is within a small bound and it sent at least 98%
of R. A step it did not keep up with is **generator-bound** (it says nothing about the system)
when it sent short of R, or when it failed in a way the generator's lateness may explain. It
stays unsustainable when the system failed on its own account (errors, loss, consumer lag, e2e
latency, or http latency beyond the generator's lateness), and sustainable when it met every
criterion at the rate in spite of the lateness (latency counts from the schedule, so the
lateness was inside the figures it met).

`judge` reads the metrics.json keys of docs/analysis.md; a key that is null (e.g. `counts.lost` of
an HTTP-only step, `steadiness.steady` of a window too short to judge) is not judged, and the step
says so in its notes.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

SUSTAINABLE = "sustainable"
UNSUSTAINABLE = "unsustainable"
GENERATOR_BOUND = "generator-bound"
VERDICTS = (SUSTAINABLE, UNSUSTAINABLE, GENERATOR_BOUND)

# Why a step failed, in the order a step's primary reason is chosen: loss first (never
# acceptable), then latency before errors (an overloaded system's requests time out: the errors
# follow from the latency), and the rate last (a queue shows in the latency first).
LOSS, LATENCY, E2E_LATENCY, ERRORS, SLO, CONSUMER_LAG, UNSTEADY, RATE, GENERATOR = (
    "loss", "latency", "e2e-latency", "errors", "slo", "consumer-lag", "unsteady", "rate",
    "generator",
)  # fmt: skip
REASONS = (LOSS, LATENCY, E2E_LATENCY, ERRORS, SLO, CONSUMER_LAG, UNSTEADY, RATE, GENERATOR)

MIN_ACHIEVED_SHARE = 0.98
# The generator kept up when its send-delay p99 is within this share of the p99 objective: its
# lateness is then a small part of the latency measured from the schedule.
SEND_DELAY_SHARE = 0.2


@dataclass(frozen=True)
class Objective:
    """What a sustainable step must meet. Raises ValueError (what is wrong, what to pass) when
    a bound is impossible."""

    p99_ms: float
    e2e_p99_ms: float | None = None
    max_error_rate: float = 0.0
    send_delay_bound_ms: float | None = None  # default: SEND_DELAY_SHARE x p99_ms
    min_achieved_share: float = MIN_ACHIEVED_SHARE

    def __post_init__(self) -> None:
        if not _positive(self.p99_ms):
            raise ValueError(
                f"the p99 objective must be a number of milliseconds > 0, not {self.p99_ms!r} "
                "(e.g. --p99-objective-ms 250)"
            )
        if self.e2e_p99_ms is not None and not _positive(self.e2e_p99_ms):
            raise ValueError(
                f"the e2e p99 objective must be > 0 ms, not {self.e2e_p99_ms!r} "
                "(leave it out to judge http latency only)"
            )
        if not 0 <= self.max_error_rate < 1:
            raise ValueError(
                f"the error-rate threshold is a share in [0, 1), not {self.max_error_rate!r} "
                "(0 = no error allowed)"
            )
        if self.send_delay_bound_ms is not None and not _positive(self.send_delay_bound_ms):
            raise ValueError(
                f"the send-delay bound must be > 0 ms, not {self.send_delay_bound_ms!r}"
            )
        if not 0 < self.min_achieved_share <= 1:
            raise ValueError(
                f"the achieved share must be in (0, 1], not {self.min_achieved_share!r}"
            )

    @property
    def send_delay_ms(self) -> float:
        if self.send_delay_bound_ms is not None:
            return self.send_delay_bound_ms
        return SEND_DELAY_SHARE * self.p99_ms

    def to_dict(self) -> dict:
        return {**asdict(self), "send_delay_bound_ms": self.send_delay_ms}


def _positive(value) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


@dataclass
class Step:
    """One measured step: its figures, verdict and why."""

    rate_eps: float
    achieved_eps: float | None
    http_p50_ms: float | None
    http_p99_ms: float | None
    e2e_p99_ms: float | None
    send_delay_p99_ms: float | None
    error_rate: float | None
    lost: int | None
    steady: bool | None
    verdict: str
    reason: str | None  # the primary failed criterion (REASONS), None when sustainable
    failed: list[str] = field(default_factory=list)  # every failed criterion (REASONS)
    reasons: list[str] = field(default_factory=list)  # the same, in words
    notes: list[str] = field(default_factory=list)  # criteria that could not be judged
    role: str = ""  # what the search ran it for (search.ROLES)
    index: int = 0  # 1-based, in the order the search ran the steps
    run_dir: str | None = None
    seconds: float | None = None
    generators: int | None = None  # load generators that sent the step (metrics' generators)

    @property
    def sustainable(self) -> bool:
        return self.verdict == SUSTAINABLE

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> Step:
        return cls(**values)


def _get(metrics: dict, *path: str):
    value = metrics
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _bad(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def judge(
    metrics: dict,
    rate_eps: float,
    objective: Objective,
    achieved_eps: float | None,
    sent_eps: float | None = None,
) -> Step:
    """The verdict on one step at `rate_eps` from its metrics.json dict, the rate at which the
    system answered (steps.answer_rate_eps) and the one at which the generator sent
    (steps.send_rate_eps; None: not known, only the send delay tells)."""
    achieved = achieved_eps
    p50, p99 = (
        _get(metrics, "latency_ms", "http", "p50"),
        _get(metrics, "latency_ms", "http", "p99"),
    )
    e2e_p99 = _get(metrics, "latency_ms", "e2e", "p99")
    delay_p99 = _get(metrics, "latency_ms", "send_delay", "p99")
    error_rate, lost = _get(metrics, "error_rate"), _get(metrics, "counts", "lost")
    steady = _get(metrics, "steadiness", "steady")
    generators = len(metrics.get("generators") or []) or None
    failed: dict[str, str] = {}  # reason code -> words, in REASONS order once sorted
    notes: list[str] = []

    if lost is None:
        notes.append("loss not accounted (no consumer log)")
    elif lost > 0:
        failed[LOSS] = f"{lost} accepted event(s) lost"
    if _bad(error_rate):
        notes.append("no error rate (no request answered)")
    elif error_rate > objective.max_error_rate:
        failed[ERRORS] = f"error rate {error_rate:.2%} > {objective.max_error_rate:.2%}"
    if _bad(p99):
        notes.append("no http latency: no request answered (the errors and the rate say so)")
    elif p99 > objective.p99_ms:
        failed[LATENCY] = f"http p99 {p99:.0f} ms > objective {objective.p99_ms:g} ms"
    if objective.e2e_p99_ms is not None:
        if _bad(e2e_p99):
            notes.append("no e2e latency (no consumer log)")
        elif e2e_p99 > objective.e2e_p99_ms:
            failed[E2E_LATENCY] = (
                f"e2e p99 {e2e_p99:.0f} ms > objective {objective.e2e_p99_ms:g} ms"
            )
    broken = [v for v in metrics.get("slo") or [] if not v.get("ok")]
    if broken:
        failed[SLO] = "; ".join(f"SLO {v['expr']} failed (value {v['value']})" for v in broken)
    if steady is None:
        notes.append("steadiness not judged (window too short, or not measured)")
    elif not steady:
        failing, other = _unsteady(metrics.get("steadiness") or {})
        failed.update(failing)
        notes.extend(other)
    if _bad(achieved) or achieved < objective.min_achieved_share * rate_eps:
        shown = "nothing" if _bad(achieved) else f"{achieved:,.0f} events/s"
        failed[RATE] = (
            f"achieved {shown} < {objective.min_achieved_share:.0%} of {rate_eps:,.0f} events/s"
        )

    verdict = UNSUSTAINABLE if failed else SUSTAINABLE
    late = _late(objective, delay_p99)
    short = _short(rate_eps, objective, sent_eps)
    # A late generator only matters when the step failed (its lateness is in the latency) or
    # when it did not even offer the rate; a step that met every criterion while it sent at the
    # rate, jitter included, was sustainable.
    if (failed and (late or short) and not _system_failed(failed, p99, delay_p99, objective)) or (
        short and not failed
    ):
        behind = "; ".join(w for w in (late, short) if w)
        many = f" ({_generators_text(generators)})" if generators else ""
        verdict, failed = GENERATOR_BOUND, {GENERATOR: f"generator behind{many}: {behind}",
                                            **failed}  # fmt: skip
    elif late or short:
        notes.append("; ".join(w for w in (late, short) if w))
    ordered = sorted(failed, key=REASONS.index) if verdict != GENERATOR_BOUND else list(failed)
    return Step(
        rate_eps=rate_eps,
        achieved_eps=achieved,
        http_p50_ms=p50,
        http_p99_ms=p99,
        e2e_p99_ms=e2e_p99,
        send_delay_p99_ms=delay_p99,
        error_rate=error_rate,
        lost=lost,
        steady=steady,
        verdict=verdict,
        reason=ordered[0] if ordered else None,
        failed=ordered,
        reasons=[failed[code] for code in ordered],
        notes=notes,
        generators=generators,
    )


def _generators_text(count: int) -> str:
    return f"{count} generator{'s' if count != 1 else ''}"


def _unsteady(steadiness: dict) -> tuple[dict[str, str], list[str]]:
    """An unsteady window's failed criteria, and its trends that are no failure.

    Only a trend against the system counts: e2e latency that grows (the consumer falls behind:
    consumer-lag) or consumption that falls (unsteady). Latency that falls or consumption that
    rises is a system settling, e.g. a consumer catching up after the warm-up.
    """
    failed, other = {}, []
    for series, code, bad_sign, words in (
        ("e2e", CONSUMER_LAG, 1, "e2e latency"),
        ("throughput", UNSTEADY, -1, "consumption"),
    ):
        trend = steadiness.get(series) or {}
        slope = trend.get("slope_pct_per_s")
        if not trend.get("trend") or slope is None:
            continue
        text = (
            f"{words} {'grows' if slope > 0 else 'falls'} {abs(slope):.1f}% of its mean per second"
        )
        if slope * bad_sign > 0:
            failed[code] = text
        else:
            other.append(f"{text} (not a failure)")
    return failed, other


def _late(objective: Objective, delay_p99: float | None) -> str | None:
    if _bad(delay_p99) or delay_p99 <= objective.send_delay_ms:
        return None
    return f"send-delay p99 {delay_p99:.0f} ms > {objective.send_delay_ms:g} ms"


def _short(rate_eps: float, objective: Objective, sent_eps: float | None) -> str | None:
    if _bad(sent_eps) or sent_eps >= objective.min_achieved_share * rate_eps:
        return None
    return f"sent {sent_eps:,.0f} events/s < {objective.min_achieved_share:.0%} of the rate"


def _system_failed(failed: dict, p99, delay_p99: float | None, objective: Objective) -> bool:
    """Did the system fail on its own account, whatever the generator's lateness?

    Errors, loss, consumer lag and e2e latency (measured from the actual send) are the system's. Http
    latency counts as the system's when it exceeds the objective by more than the generator's own
    lateness (it is measured from the schedule, so a late generator adds its send delay to it). A
    short rate or a throughput trend may be the late generator's own.
    """
    if failed.keys() & {LOSS, ERRORS, CONSUMER_LAG, E2E_LATENCY}:
        return True
    delay = 0.0 if _bad(delay_p99) else delay_p99
    return LATENCY in failed and p99 - delay > objective.p99_ms
