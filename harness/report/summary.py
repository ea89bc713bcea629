"""The top of the report: three to five plain sentences from the data, and the warnings a reader
must not miss (loss, failed points, client-bound or unsteady runs, failed objectives)."""

from __future__ import annotations

import html
import math

import pandas as pd

from harness import plots
from harness.analysis.points import HTTP_P99, THROUGHPUT, compare_to_best
from harness.report.sweepdata import (
    BASELINE_LABEL,
    E2E_P99,
    SWEEP_FILE,
    Sweep,
    baseline_index,
    best_index,
    bools,
    has_intervals,
    is_capacity_search,
    number,
    setting_names,
)


def figure_text(row: pd.Series, column: str, unit: str, fmt: str) -> str:
    """`1,234 events/s (95% CI 1,100–1,300)`; the interval only when the table has one."""
    value = number(row, column)
    if not math.isfinite(value):
        return "n/a"
    return f"{format(value, fmt)} {unit}{_interval(row, column, fmt)}"


def _interval(row: pd.Series, column: str, fmt: str) -> str:
    lo, hi = number(row, f"{column}.ci_lo"), number(row, f"{column}.ci_hi")
    if math.isfinite(lo) and math.isfinite(hi):
        return f" (95% CI {format(lo, fmt)}–{format(hi, fmt)})"
    return ""


def indistinguishable_from_best(sweep: Sweep, best: object, names: pd.Series) -> list[str] | None:
    """The settings whose throughput and p99 cannot be told apart from the best one's
    (harness.analysis.points.compare_to_best), or None with one repetition per point."""
    if best is None or not has_intervals(sweep.points):
        return None
    table = compare_to_best(sweep.runs, sweep.points.loc[best, "point"])
    if table.empty:
        return []
    # Ranked against the best: the grid's repeated points, not capacity searches (an open-loop
    # step) nor points run once (nothing can be told of those).
    points = sweep.points
    ranked = points.loc[~is_capacity_search(points) & (pd.to_numeric(points.get(
        "repeats_ok", points.get("repeats")), errors="coerce") > 1), "point"]  # fmt: skip
    table = table[table["point"].isin(set(ranked))]
    by_point = dict(zip(points["point"], names, strict=True))
    return [by_point.get(p, str(p)) for p in table.loc[table["indistinguishable"], "point"]]


def _ratio(a: float, b: float) -> str:
    if not (b and math.isfinite(a) and math.isfinite(b)):
        return "n/a"
    r = a / b
    return f"{r:.1f}×" if r < 10 else f"{r:,.0f}×"


def _best_sentence(sweep: Sweep, best, names, objective: float) -> str:
    points = sweep.points
    if best is None:
        ok = plots.ok_points(points)
        p99 = pd.to_numeric(ok.get(HTTP_P99), errors="coerce") if len(ok) else pd.Series()
        if p99 is None or p99.dropna().empty:
            return "No point succeeded, so there is no best setting."
        low = p99.idxmin()
        return (
            f"No setting kept http p99 below the objective of {objective:g} ms; the lowest was "
            f"{p99[low]:,.1f} ms ({names[low]}, {number(points.loc[low], THROUGHPUT):,.0f} events/s)."
        )
    row = points.loc[best]
    return (
        f"The best setting under the objective (http p99 < {objective:g} ms) is "
        f"<b>{html.escape(names[best])}</b>: "
        f"<b>{figure_text(row, THROUGHPUT, 'events/s', ',.0f')}</b>, "
        f"http p99 {figure_text(row, HTTP_P99, 'ms', ',.1f')}, "
        f"e2e p99 {figure_text(row, E2E_P99, 'ms', ',.1f')}."
    )


def _baseline_sentence(sweep: Sweep, best, baseline, names) -> str:
    points = sweep.points
    if baseline is None:
        return (
            f'This sweep has no seed-style baseline (a point labelled "{BASELINE_LABEL}"), so '
            "nothing to compare the best setting with."
        )
    base = points.loc[baseline]
    if base.get("status") != "ok":
        return "The seed-style baseline failed, so there is nothing to compare with (see below)."
    base_text = (
        f"{number(base, THROUGHPUT):,.0f} events/s at http p99 {number(base, HTTP_P99):,.1f} ms"
    )
    if best is None:
        return f"The seed-style baseline measured {base_text}."
    if best == baseline:
        return f"The seed-style baseline is itself the best setting ({base_text})."
    row = points.loc[best]
    return (
        f"That is <b>{_ratio(number(row, THROUGHPUT), number(base, THROUGHPUT))} the throughput</b> "
        f"of the seed-style baseline ({number(base, THROUGHPUT):,.0f} events/s), at an http p99 "
        f"of {number(row, HTTP_P99):,.1f} ms against its {number(base, HTTP_P99):,.1f} ms."
    )


def _capacity_sentence(sweep: Sweep, best, baseline, names, objective: float) -> str | None:
    points = sweep.points
    if "capacity_eps" not in points or points["capacity_eps"].isna().all():
        return None
    searches = points[is_capacity_search(points)]
    found = pd.to_numeric(searches["capacity_eps"], errors="coerce")
    bound = pd.to_numeric(searches.get("capacity_bound_eps", found), errors="coerce")
    parts = []
    for i in bound.fillna(found).sort_values(ascending=False).index:
        name = html.escape(names[i])
        if math.isfinite(found[i]):
            parts.append(f"<b>{found[i]:,.0f} events/s</b> for {name}{_reason(points, i)}")
        elif math.isfinite(bound[i]):  # at least (no step failed, or generator-bound) / below
            word = "below" if searches.loc[i, "capacity_result"] == "below" else "at least"
            parts.append(f"{word} {bound[i]:,.0f} events/s for {name}{_reason(points, i)}")
    if not parts:
        return None
    return f"Capacity under the objective ({objective:g} ms): " + "; ".join(parts) + "."


def _reason(points: pd.DataFrame, index) -> str:
    reason = points.loc[index].get("capacity_reason") if "capacity_reason" in points else None
    if not isinstance(reason, str) or not reason:
        return ""
    prefix = "at least, " if "generator" in reason.lower() else ""
    return f" ({prefix}stopped by {reason})"


def summary_sentences(sweep: Sweep, p99_objective_ms: float) -> list[str]:
    """Three to five plain sentences (HTML) from the data: the best setting with its figures and
    intervals, the comparison with the seed-style baseline, the capacity, and the runs' size."""
    points, names = sweep.points, setting_names(sweep.points)
    best, baseline = best_index(points, p99_objective_ms), baseline_index(points)
    sentences = [_best_sentence(sweep, best, names, p99_objective_ms)]
    sentences.append(_baseline_sentence(sweep, best, baseline, names))
    capacity = _capacity_sentence(sweep, best, baseline, names, p99_objective_ms)
    if capacity:
        sentences.append(capacity)
    close = indistinguishable_from_best(sweep, best, names)
    if close:
        shown = ", ".join(html.escape(n) for n in close[:4]) + (" …" if len(close) > 4 else "")
        sentences.append(
            f"{len(close)} other setting(s) cannot be told apart from it on throughput and p99: "
            f"{shown}."
        )
    sentences.append(_size_sentence(sweep))
    return sentences


def _size_sentence(sweep: Sweep) -> str:
    points = sweep.points
    searches = int(is_capacity_search(points).sum())
    runs = points[~is_capacity_search(points)]
    reps = pd.to_numeric(runs.get("repeats"), errors="coerce") if "repeats" in runs else None
    most = int(reps.max()) if reps is not None and reps.notna().any() else 1
    env = sweep.environment
    where = f" on {env.get('cpu_count', '?')} CPUs ({env.get('hostname', '?')})" if env else ""
    also = f", plus {searches} capacity search(es)" if searches else ""
    if runs.empty:
        return f"Each of the {searches} settings is a capacity search{where}, run once."
    if most <= 1:
        return (
            f"Each of the {len(runs)} settings ran once{where}{also}, so no figure has an "
            "interval: treat differences of a few percent as noise."
        )
    return (
        f"Each of the {len(runs)} settings ran {most} times{where}{also}; figures are medians "
        "with their 95% confidence intervals."
    )


def warnings(sweep: Sweep) -> list[str]:
    """What a reader must not miss: loss, failed points, client-bound and unsteady runs, failed
    objectives. Plain text, one item each."""
    points, names = sweep.points, setting_names(sweep.points)

    def listed(mask: pd.Series) -> str:
        chosen = [names[i] for i in points.index[mask.fillna(False).astype(bool)]]
        more = f" and {len(chosen) - 6} more" if len(chosen) > 6 else ""
        return ", ".join(chosen[:6]) + more

    def flag(column: str, value: bool) -> pd.Series:
        if column not in points:
            return pd.Series(False, index=points.index)
        return bools(points[column]).eq(value)

    out = []
    failed = ~points["status"].eq("ok") if "status" in points else flag("status", True)
    if failed.any():
        out.append(f"{int(failed.sum())} point(s) failed: {listed(failed)}. "
                   "Their errors are under \"Failed points\".")  # fmt: skip
    lost = pd.to_numeric(points.get("counts.lost", pd.Series(dtype=float)), errors="coerce")
    if (lost > 0).any():
        out.append(
            f"{int(lost.sum()):,} accepted event(s) were LOST (never reached the consumer's log) "
            f"in {listed(lost > 0)}."
        )
    bound = flag("client_bound", True)
    if bound.any():
        out.append(
            f"{int(bound.sum())} point(s) were client-bound: the load generator ran at 80% or "
            "more of its own ceiling, so their throughput is a floor, not the system's limit: "
            f"{listed(bound)}."
        )
    unsteady = flag("steady", False)
    if unsteady.any():
        out.append(
            f"{int(unsteady.sum())} point(s) were unsteady (throughput or e2e latency drifted "
            f"across the measured window; the consumer may have fallen behind): {listed(unsteady)}."
        )
    slo_failed = flag("slo_ok", False)
    if slo_failed.any():
        out.append(f"Objectives (--slo) failed in {listed(slo_failed)}.")
    return out


def summary_html(sweep: Sweep, p99_objective_ms: float) -> str:
    """The top of the report: the summary paragraph, then the warnings in a red box."""
    paragraph = " ".join(summary_sentences(sweep, p99_objective_ms))
    parts = [
        '<p class="report-summary" style="font-size:1.1em;line-height:1.5;max-width:60em">'
        f"{paragraph}</p>"
    ]
    items = warnings(sweep)
    if items:
        lis = "".join(f"<li>{html.escape(w)}</li>" for w in items)
        parts.append(
            '<div class="report-warnings" role="alert" style="border:2px solid #D55E00;'
            'background:#fff3ec;padding:0.4em 1em;margin:0.5em 0;max-width:60em">'
            f'<b>⚠ Warnings</b><ul style="margin:0.3em 0">{lis}</ul></div>'
        )
    else:
        parts.append('<p class="report-warnings-none">✓ No loss, no failed point, no client-bound '
                     "or unsteady run.</p>")  # fmt: skip
    return "\n".join(parts)


def context_line(sweep: Sweep) -> str:
    """Where and when: one Markdown line."""
    env = sweep.environment
    if not env:
        return f"Sweep `{sweep.dir.name}` (environment unknown: no {SWEEP_FILE})."
    return (
        f"Sweep `{sweep.dir.name}`: {len(sweep.points)} points, {len(sweep.runs)} runs, "
        f"on `{env.get('hostname')}` ({env.get('cpu_count')} CPUs, {env.get('cpu_model')}), "
        f"Kafka {env.get('kafka_version')}, started {env.get('started_at')}."
    )
