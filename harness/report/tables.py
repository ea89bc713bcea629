"""The report's tables: "All points" (only the settings that vary, the fixed ones in one line),
the failed points, and how to reproduce the sweep (command, grid, commit, versions)."""

from __future__ import annotations

import html
import math
import re
from pathlib import Path

import pandas as pd
import yaml

from harness import plots
from harness.analysis.points import HTTP_P99, THROUGHPUT
from harness.report.sweepdata import (
    E2E_P99,
    HTTP_P50,
    SWEEP_FILE,
    Sweep,
    fixed_settings,
    flag,
    number,
    varying_settings,
)

_HEADINGS = {
    THROUGHPUT: "events/s",
    HTTP_P50: "http p50 ms",
    HTTP_P99: "http p99 ms",
    E2E_P99: "e2e p99 ms",
    "capacity_eps": "capacity ev/s",
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


def _flags_text(row: pd.Series) -> str:
    flags = []
    if row.get("status", "ok") != "ok":
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
    """One row per point: its name, only the settings that vary, the figures rounded (with their
    95% interval when there is one), loss, and flags; highest throughput first (a stable sort, the
    failed points last)."""
    points = sweep.points
    varying = varying_settings(points)
    rows = []
    labelled = "label" in points and points["label"].notna().any()
    for _, row in points.iterrows():
        out = {"label": row["label"] if labelled and pd.notna(row["label"]) else ""}
        for column in varying:
            value = row[column]
            out[_setting_heading(column)] = "" if pd.isna(value) else plots.value_label(value)
        for column, fmt in ((THROUGHPUT, ",.0f"), (HTTP_P50, ",.1f"), (HTTP_P99, ",.1f"),
                            (E2E_P99, ",.1f"), ("capacity_eps", ",.0f")):  # fmt: skip
            if column in points and points[column].notna().any():
                out[_HEADINGS[column]] = _cell(row, column, fmt)
        for column in ("counts.lost", "counts.duplicates", "repeats"):
            if column in points:
                value = number(row, column)
                out[_HEADINGS[column]] = f"{value:,.0f}" if math.isfinite(value) else ""
        out["flags"] = _flags_text(row)
        out["_sort"] = -number(row, THROUGHPUT) if row.get("status", "ok") == "ok" else math.inf
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


def failures(table: pd.DataFrame) -> pd.DataFrame:
    """The failed points (or runs) with their error."""
    status = table["status"] if "status" in table else pd.Series("ok", index=table.index)
    failed = table[~status.eq("ok")]
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
        env.get("client_library") or "Kafka client": env.get("client_library_version"),
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
