"""The report's tables: "All points" (the runs: only the settings that vary, the fixed ones in one
line), the capacity searches, the failed points, and how to reproduce the sweep (command, grid,
commit, versions of every library that shapes the figures)."""

from __future__ import annotations

import html
import math
import re
from pathlib import Path

import pandas as pd
import yaml

from harness import plots
from harness.analysis import stats
from harness.analysis.points import HTTP_P99, THROUGHPUT
from harness.report.sweepdata import (
    E2E_P99,
    HTTP_P50,
    SWEEP_FILE,
    Sweep,
    closed_loop,
    fixed_settings,
    flag,
    interval_of,
    number,
    searches,
    setting_names,
    statuses,
    varying_settings,
)

_HEADINGS = {
    THROUGHPUT: "events/s",
    HTTP_P50: "http p50 ms",
    HTTP_P99: "http p99 ms",
    E2E_P99: "e2e p99 ms",
    "capacity_eps": "capacity ev/s",
    "counts.sent": "sent",
    "counts.lost": "lost",
    "counts.duplicates": "dups",
    "repeats": "runs",
}


def _setting_heading(column: str) -> str:
    return column.removeprefix("config.").replace("_", " ")


def _cell(row: pd.Series, column: str, fmt: str) -> str:
    value = number(row, column)
    if not math.isfinite(value):
        return ""
    text = format(value, fmt)
    lo, hi = number(row, f"{column}.ci_lo"), number(row, f"{column}.ci_hi")
    if math.isfinite(lo) and math.isfinite(hi):
        text += f" [{format(lo, fmt)}–{format(hi, fmt)}]"
    return text


def interval_heading(points: pd.DataFrame) -> str:
    """What the bracketed intervals of a table are: `[95% CI]`, `[range]` (a few repetitions),
    `[95% CI or range]` when the points differ, or "" when there is none."""
    labels = {interval_of(row, THROUGHPUT).label for _, row in points.iterrows()} - {""}
    if not labels:
        return ""
    if labels == {stats.CI_LABEL}:
        return f" [{stats.CI_LABEL}]"
    if labels == {stats.RANGE_LABEL}:
        return f" [{stats.RANGE_LABEL}]"
    return f" [{stats.CI_LABEL} or {stats.RANGE_LABEL}]"


def _flags_text(row: pd.Series) -> str:
    flags = []
    status = row.get("status", "ok")
    if status == "no-window":
        flags.append("NO MEASURED WINDOW")
    elif isinstance(status, str) and status != "ok":
        flags.append("FAILED")
    if flag(row.get("client_bound")) is True:
        flags.append("client-bound")
    if flag(row.get("steady")) is False:
        flags.append("unsteady")
    if flag(row.get("slo_ok")) is False:
        flags.append("SLO failed")
    lost = number(row, "counts.lost")
    if math.isfinite(lost) and lost > 0:
        flags.append("LOST")
    return ", ".join(flags)


def fixed_line(sweep: Sweep) -> str:
    """The settings every point shares, in one line (Markdown)."""
    fixed = fixed_settings(sweep.points)
    if not fixed:
        return "No setting is shared by every point."
    return (
        "Same for every point: "
        + ", ".join(f"{k}={plots.value_label(v)}" for k, v in fixed.items())
        + "."
    )


def all_points_table(sweep: Sweep) -> pd.DataFrame:
    """One row per run point (capacity searches have their own table): its name, only the
    settings that vary, the figures rounded (with their interval in brackets when there is one:
    the heading says whether it is a 95% CI or a range), the counts (sent, lost, duplicates over
    its repetitions), and flags; highest throughput first (a stable sort, the points without
    figures last). A point without a measured window shows its counts and says so."""
    points = closed_loop(sweep.points)
    varying = varying_settings(sweep.points)
    intervals = interval_heading(points)
    rows = []
    labelled = "label" in points and points["label"].notna().any()
    for _, row in points.iterrows():
        out = {"label": row["label"] if labelled and pd.notna(row["label"]) else ""}
        for column in varying:
            value = row[column]
            out[_setting_heading(column)] = "" if pd.isna(value) else plots.value_label(value)
        for column, fmt in ((THROUGHPUT, ",.0f"), (HTTP_P50, ",.1f"), (HTTP_P99, ",.1f"),
                            (E2E_P99, ",.1f")):  # fmt: skip
            if column in points and points[column].notna().any():
                out[_HEADINGS[column] + intervals] = _cell(row, column, fmt)
        for column in ("counts.sent", "counts.lost", "counts.duplicates", "repeats"):
            if column in points:
                value = number(row, column)
                out[_HEADINGS[column]] = f"{value:,.0f}" if math.isfinite(value) else ""
        out["flags"] = _flags_text(row)
        tput = number(row, THROUGHPUT)
        out["_sort"] = (
            -tput if row.get("status", "ok") == "ok" and math.isfinite(tput) else math.inf
        )
        rows.append(out)
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    table["_sort"] = table["_sort"].fillna(math.inf)
    if not labelled:
        table = table.drop(columns="label")
    return table.sort_values("_sort", kind="stable").drop(columns="_sort").reset_index(drop=True)


# Inline styles: a notebook front end may drop <style> blocks, and its own table CSS wins over
# a class rule.
_CELL = "padding:3px 8px;border-bottom:1px solid #ddd;vertical-align:top;"
_NUMBER_CELL = _CELL + "text-align:right;white-space:nowrap"
_TEXT_CELL = _CELL + "text-align:left;overflow-wrap:break-word"
_HEAD = "padding:3px 8px;border-bottom:1px solid #888;vertical-align:bottom;text-align:{}"
_INTERVAL_STYLE = "color:#666;font-size:0.85em"
_NUMBER = re.compile(r"^[-+]?[\d,.]+(?: \[[-+\d,.–]+\])?$")
_WITH_INTERVAL = re.compile(r"^(.*) \[(.*)\]$")


def _text(value: object) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def _td(text: str, numeric: bool) -> str:
    found = _WITH_INTERVAL.match(text) if numeric else None
    inner = html.escape(text)
    if found:
        inner = (
            f"{html.escape(found[1])}<br>"
            f'<span style="{_INTERVAL_STYLE}">[{html.escape(found[2])}]</span>'
        )
    return f'<td style="{_NUMBER_CELL if numeric else _TEXT_CELL}">{inner}</td>'


def table_html(table: pd.DataFrame) -> str:
    """The table as compact HTML that fits the page: numbers right-aligned, an interval on a
    second line under its figure, long text wrapped instead of widening the page."""
    cells = [[_text(v) for v in row] for row in table.itertuples(index=False)]
    numeric = [
        any(row[j] for row in cells) and all(not row[j] or _NUMBER.match(row[j]) for row in cells)
        for j in range(len(table.columns))
    ]
    head = "".join(
        f'<th style="{_HEAD.format("right" if numeric[j] else "left")}">{html.escape(str(c))}</th>'
        for j, c in enumerate(table.columns)
    )
    body = "".join(
        "<tr>" + "".join(_td(text, numeric[j]) for j, text in enumerate(row)) + "</tr>"
        for row in cells
    )
    return (
        '<table class="report-table" style="border-collapse:collapse;font-size:0.85em;'
        f'max-width:100%"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    )


def capacity_table(sweep: Sweep) -> pd.DataFrame:
    """One row per capacity search point: the capacity (the median of its searches), how many
    searches and their range, or the one search's bracket (the highest sustainable rate and the
    lowest failing one), the result and what stopped it; highest capacity first."""
    found = searches(sweep.points)
    names = setting_names(sweep.points)
    rows = []
    for i, row in found.iterrows():
        n = number(row, "capacity_searches")
        n = int(n) if math.isfinite(n) else 1
        lo, hi = number(row, "capacity_eps.min"), number(row, "capacity_eps.max")
        sustainable, failing = (
            number(row, "capacity_sustainable_eps"),
            number(row, "capacity_failing_eps"),
        )
        value = number(row, "capacity_eps")
        rows.append({
            "setting": names[i],
            "capacity ev/s": f"{value:,.0f}" if math.isfinite(value) else "",
            "searches": str(n),
            "range of the searches": f"{lo:,.0f}–{hi:,.0f}" if n > 1 and math.isfinite(lo) else "",
            "bracket (sustainable–failing)": (f"{sustainable:,.0f}–{failing:,.0f}"
                                              if math.isfinite(sustainable) and math.isfinite(failing)
                                              else ""),
            "result": _text(row.get("capacity_result")),
            "stopped by": _text(row.get("capacity_reason")),
            "flags": _flags_text(row),
            "_sort": -value if math.isfinite(value) else math.inf,
        })  # fmt: skip
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    return table.sort_values("_sort", kind="stable").drop(columns="_sort").reset_index(drop=True)


def failures(table: pd.DataFrame) -> pd.DataFrame:
    """The failed points (or runs) with their error (a point without a measured window is not
    a failure: the warnings and its flags say so)."""
    status = statuses(table)
    failed = table[~status.isin(["ok", "no-window"])]
    return failed[[c for c in ("point", "error") if c in failed]].reset_index(drop=True)


def key_table(summary: pd.DataFrame) -> pd.DataFrame:
    """A run table's main columns for the sweep notebook: the point, what varies, the figures."""
    sweep = Sweep(Path("."), summary, summary.reset_index(drop=True), {})
    return all_points_table(sweep)


def _pre(text: str) -> str:
    return (
        '<pre style="background:#f5f5f5;padding:0.5em 0.8em;white-space:pre-wrap;'
        f'overflow-wrap:anywhere;font-family:monospace">{html.escape(text)}</pre>'
    )


def _library_facts(env: dict) -> dict:
    """Every library's version the sweep recorded (an older sweep: the one client it named)."""
    libraries = env.get("libraries")
    if isinstance(libraries, dict) and libraries:
        return {name: version or "not installed" for name, version in libraries.items()}
    return {env.get("client_library") or "Kafka client": env.get("client_library_version")}


def reproduce_html(sweep: Sweep) -> str:
    """How to make this sweep again: the exact command and grid, the commit and the versions."""
    meta, env = sweep.meta, sweep.environment
    parts = ["<h2>Reproduce</h2>"]
    command = meta.get("command")
    if command:
        parts += ["<p>The command that made this sweep:</p>", _pre(str(command))]
    else:
        parts += [
            "<p>The command was not recorded (an older sweep). With the grid below saved as "
            "<code>grid.yaml</code>:</p>",
            _pre(f"python -m harness sweep --grid grid.yaml --out {sweep.dir}"),
        ]
    grid = meta.get("grid")
    if grid:
        parts += ["<p>The grid:</p>", _pre(yaml.safe_dump(grid, sort_keys=False).strip())]
    else:
        parts.append(f"<p>The grid is unknown (no {SWEEP_FILE} in the sweep directory).</p>")
    facts = {
        "commit": env.get("git_commit") or "unknown (not a git checkout)",
        "Python": env.get("python_version"),
        "Kafka": env.get("kafka_version"),
        **_library_facts(env),
        "platform": env.get("platform"),
        "repetitions": meta.get("repeat"),
        "objectives (--slo)": ", ".join(meta.get("slo") or []),
        "started": env.get("started_at"),
    }
    items = "".join(
        f"<li>{html.escape(str(k))}: <code>{html.escape(str(v))}</code></li>"
        for k, v in facts.items()
        if v
    )
    parts.append(f"<ul>{items}</ul>")
    return "\n".join(parts)
