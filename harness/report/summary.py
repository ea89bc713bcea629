"""The top of the report: three to five plain sentences from the data, and the warnings a reader
must not miss (loss, failed points, runs without a measured window, client-bound or unsteady
runs, failed objectives).

Only runs are ranked against each other; a capacity search is an answer of its own (an open-loop
search, not a closed-loop setting) and has its own sentence. Intervals are called what they are
(sweepdata.interval_of): a 95% CI, or the range of a few repetitions with its coverage."""

from __future__ import annotations

import html
import math

import pandas as pd

from harness.analysis.points import HTTP_P99, THROUGHPUT, compare_to_best
from harness.report.sweepdata import (
    BASELINE_LABEL,
    E2E_P99,
    SWEEP_FILE,
    Sweep,
    baseline_index,
    best_index,
    bools,
    closed_loop,
    has_intervals,
    interval_of,
    interval_words,
    measured,
    number,
    searches,
    setting_names,
    statuses,
    without_window,
)
from harness.report.volume import order_warnings


def figure_text(row: pd.Series, column: str, unit: str, fmt: str) -> str:
    """`1,234 events/s (95% CI 1,100–1,300)`, or with a few repetitions `1,234 events/s (range
    1,100–1,300 (covers the median 75% of the time))`; the interval only when there is one."""
    value = number(row, column)
    if not math.isfinite(value):
        return "n/a"
    interval = interval_of(row, column).text(fmt)
    return f"{format(value, fmt)} {unit}" + (f" ({interval})" if interval else "")


def indistinguishable_from_best(sweep: Sweep, best: object, names: pd.Series) -> list[str] | None:
    """The settings whose throughput and p99 cannot be told apart from the best one's
    (harness.analysis.points.compare_to_best), or None with one repetition per point."""
    if best is None or not has_intervals(sweep.points):
        return None
    table = compare_to_best(sweep.runs, sweep.points.loc[best, "point"])
    if table.empty:
        return []
    # Ranked against the best: the repeated runs, not capacity searches (an open-loop search)
    # nor points run once (nothing can be told of those).
    points = closed_loop(sweep.points)
    ranked = points.loc[pd.to_numeric(points.get("repeats_ok", points.get("repeats")),
                                      errors="coerce") > 1, "point"]  # fmt: skip
    table = table[table["point"].isin(set(ranked))]
    by_point = dict(zip(sweep.points["point"], names, strict=True))
    return [by_point.get(p, str(p)) for p in table.loc[table["indistinguishable"], "point"]]


def _ratio(a: float, b: float) -> str:
    if not (b and math.isfinite(a) and math.isfinite(b)):
        return "n/a"
    r = a / b
    return f"{r:.1f}×" if r < 10 else f"{r:,.0f}×"


def _best_sentence(sweep: Sweep, best, names, objective: float) -> str | None:
    points = sweep.points
    runs = closed_loop(points)
    if runs.empty:
        return None  # only capacity searches: their sentence says it all
    if best is None:
        ok = measured(points)
        if ok.empty:
            if not without_window(points).empty:
                return (
                    "No run had a measured window: every event of every run was sent during "
                    "the warm-up, so this sweep has counts, loss and duplicates (below) but no "
                    "throughput or latency. Lower <code>warmup_s</code> (or leave it unset: auto), "
                    "or send more events."
                )
            return "No point succeeded, so there is no best setting."
        p99 = pd.to_numeric(ok.get(HTTP_P99), errors="coerce").dropna()
        if p99.empty:
            return "No run measured an http p99, so there is no best setting under the objective."
        low = p99.idxmin()
        return (
            f"No setting kept http p99 below the objective of {objective:g} ms; the lowest was "
            f"{p99[low]:,.1f} ms ({html.escape(names[low])}, "
            f"{number(points.loc[low], THROUGHPUT):,.0f} events/s)."
        )
    row = points.loc[best]
    return (
        f"The best setting under the objective (http p99 < {objective:g} ms) is "
        f"<b>{html.escape(names[best])}</b>: "
        f"<b>{figure_text(row, THROUGHPUT, 'events/s', ',.0f')}</b>, "
        f"http p99 {figure_text(row, HTTP_P99, 'ms', ',.1f')}, "
        f"e2e p99 {figure_text(row, E2E_P99, 'ms', ',.1f')}."
    )


def _baseline_sentence(sweep: Sweep, best, baseline, names) -> str | None:
    points = sweep.points
    if closed_loop(points).empty:
        return None
    if baseline is None or baseline not in closed_loop(points).index:
        return (
            f'This sweep has no seed-style baseline (a point labelled "{BASELINE_LABEL}"), so '
            "nothing to compare the best setting with."
        )
    base = points.loc[baseline]
    status = statuses(points).loc[baseline]
    if status == "no-window":
        return (
            "The seed-style baseline had no measured window, so there is nothing to compare with."
        )
    if status != "ok":
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


def capacity_text(row: pd.Series) -> str | None:
    """One capacity search point as words: `1,840 events/s (median of 3 searches, range
    1,700–1,900)`, or with one search its bracket: `1,840 events/s (one search: sustainable at
    1,840, failed at 1,930)`; `at least` / `below` when no capacity was found."""
    found = number(row, "capacity_eps")
    bound = number(row, "capacity_bound_eps")
    n = (
        int(number(row, "capacity_searches"))
        if math.isfinite(number(row, "capacity_searches"))
        else 1
    )
    reason = row.get("capacity_reason")
    why = f"; stopped by {reason}" if isinstance(reason, str) and reason else ""
    if math.isfinite(found):
        if n > 1:
            lo, hi = number(row, "capacity_eps.min"), number(row, "capacity_eps.max")
            of = (
                int(number(row, "capacity_found"))
                if math.isfinite(number(row, "capacity_found"))
                else n
            )
            spread = (
                f", range {lo:,.0f}–{hi:,.0f}" if math.isfinite(lo) and math.isfinite(hi) else ""
            )
            found_in = f" ({of} of {n} found one)" if of < n else ""
            return f"<b>{found:,.0f} events/s</b> (median of {n} searches{spread}{found_in}{why})"
        failing = number(row, "capacity_failing_eps")
        bracket = (
            f": sustainable at {found:,.0f}, failed at {failing:,.0f}"
            if math.isfinite(failing)
            else ""
        )
        return f"<b>{found:,.0f} events/s</b> (one search{bracket}{why})"
    if math.isfinite(bound):
        result = row.get("capacity_result")
        word = "below" if result == "below" else "at least"
        generator = "generator" in str(reason or "").lower()
        note = "; the load generator was the limit, not the system" if generator else ""
        return f"{word} {bound:,.0f} events/s (no capacity found{why}{note})"
    return None


def _capacity_sentence(sweep: Sweep, names, objective: float) -> str | None:
    found = searches(sweep.points)
    if found.empty:
        return None
    bound = pd.to_numeric(found.get("capacity_eps"), errors="coerce").fillna(
        pd.to_numeric(found.get("capacity_bound_eps"), errors="coerce")
    )
    parts = []
    for i in bound.sort_values(ascending=False, na_position="last").index:
        text = capacity_text(found.loc[i])
        if text:
            parts.append(f"{text} for {html.escape(names[i])}")
    if not parts:
        return f"The capacity search(es) under the objective ({objective:g} ms) measured no step."
    return f"Capacity under the objective ({objective:g} ms): " + "; ".join(parts) + "."


def summary_sentences(sweep: Sweep, p99_objective_ms: float) -> list[str]:
    """Three to five plain sentences (HTML) from the data: the best setting with its figures and
    intervals, the comparison with the seed-style baseline, the capacity, and the runs' size."""
    points, names = sweep.points, setting_names(sweep.points)
    best, baseline = best_index(points, p99_objective_ms), baseline_index(points)
    sentences = [
        _best_sentence(sweep, best, names, p99_objective_ms),
        _baseline_sentence(sweep, best, baseline, names) if not measured(points).empty else None,
        _capacity_sentence(sweep, names, p99_objective_ms),
    ]
    close = indistinguishable_from_best(sweep, best, names)
    if close:
        shown = ", ".join(html.escape(n) for n in close[:4]) + (" …" if len(close) > 4 else "")
        sentences.append(
            f"{len(close)} other setting(s) cannot be told apart from it on throughput and p99: "
            f"{shown}."
        )
    sentences.append(_size_sentence(sweep))
    return [s for s in sentences if s]


def _size_sentence(sweep: Sweep) -> str:
    points = sweep.points
    found = searches(points)
    runs = closed_loop(points)
    reps = pd.to_numeric(runs.get("repeats"), errors="coerce") if "repeats" in runs else None
    most = int(reps.max()) if reps is not None and reps.notna().any() else 1
    env = sweep.environment
    where = f" on {env.get('cpu_count', '?')} CPUs ({env.get('hostname', '?')})" if env else ""
    also = f", plus {len(found)} capacity search point(s)" if len(found) else ""
    if runs.empty:
        return f"Each of the {len(found)} settings is a capacity search{where}."
    if most <= 1:
        return (
            f"Each of the {len(runs)} settings ran once{where}{also}, so no figure has an "
            "interval: treat differences of a few percent as noise."
        )
    return (
        f"Each of the {len(runs)} settings ran {most} times{where}{also}; figures are medians, "
        f"and their intervals are {interval_words(most)}."
    )


def warnings(sweep: Sweep) -> list[str]:
    """What a reader must not miss: loss, failed points, runs without a measured window,
    client-bound and unsteady runs, failed objectives. Plain text, one item each."""
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
    status = statuses(points)
    failed = ~status.isin(["ok", "no-window"])
    if failed.any():
        out.append(f"{int(failed.sum())} point(s) failed: {listed(failed)}. "
                   "Their errors are under \"Failed points\".")  # fmt: skip
    lost = pd.to_numeric(points.get("counts.lost", pd.Series(dtype=float)), errors="coerce")
    if (lost > 0).any():
        out.append(
            f"{int(lost.sum()):,} accepted event(s) were LOST (never reached the consumer's log) "
            f"in {listed(lost > 0)}."
        )
    empty = status.eq("no-window")
    if empty.any():
        out.append(
            f"{int(empty.sum())} point(s) had NO MEASURED WINDOW: every event was sent during the "
            f"warm-up, so they have counts but no figures: {listed(empty)}. Lower warmup_s (or "
            "leave it unset: auto), or send more events."
        )
    bound = flag("client_bound", True)
    if bound.any():
        out.append(
            f"{int(bound.sum())} point(s) were client-bound: a load generator's event loop was "
            "busy 90% of the run or more, so their throughput is a floor, not the system's limit "
            f"(more generators: generators, dask_scheduler): {listed(bound)}."
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
    out += order_warnings(sweep)
    return out


def summary_html(sweep: Sweep, p99_objective_ms: float) -> str:
    """The top of the report: the summary paragraph, then the warnings in a red box (or a line
    saying there is nothing to warn about, only when something was measured)."""
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
    elif not measured(sweep.points).empty or not searches(sweep.points).empty:
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
