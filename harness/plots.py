"""Figures from the analysis DataFrames (matplotlib, no GUI).

Every function builds a `matplotlib.figure.Figure` directly (not pyplot), so nothing depends on or
changes the global backend: figures render with Agg when saved (`fig.savefig("x.png")`) and show
inline in notebooks. Sweep plots take the `summarize_sweep` table, use its successful runs, and
draw one line per distinct value of the `group_by` columns (those absent from the table are
ignored).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

DEFAULT_GROUP_BY = ("config.endpoint", "config.events_per_request")
DEFAULT_X = "config.threads"
PERCENTILE_TICKS = (0.0, 90.0, 99.0, 99.9, 99.99)
_LABELS = {
    "config.threads": "threads (concurrent senders)",
    "config.rate": "target rate (events/s)",
    "throughput_eps": "throughput (events/s)",
}


def _label(column: str) -> str:
    if column in _LABELS:
        return _LABELS[column]
    if column.startswith("latency_ms."):
        return f"{column.removeprefix('latency_ms.').replace('.', ' ')} latency (ms)"
    return column.removeprefix("config.")


def _value(value: object) -> str:
    """A parameter value for a legend (10.0 -> "10": missing values turn int columns to float)."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _groups(
    summary: pd.DataFrame, group_by: Sequence[str], x: str
) -> list[tuple[str, pd.DataFrame]]:
    """(legend label, rows sorted by x) per distinct group_by value, successful runs only."""
    ok = summary[summary["status"].eq("ok")] if "status" in summary else summary
    keys = [c for c in group_by if c in ok.columns]
    ok = ok.sort_values(x) if x in ok.columns else ok
    if not keys:
        return [("all runs", ok)]
    groups = []
    for values, rows in ok.groupby(keys, dropna=False, sort=True):
        values = values if isinstance(values, tuple) else (values,)
        label = ", ".join(f"{_label(k)}={_value(v)}" for k, v in zip(keys, values, strict=True))
        groups.append((label, rows))
    return groups


def _legend(ax) -> None:
    if ax.get_legend_handles_labels()[0]:  # no empty-legend warning when there is nothing to show
        ax.legend(fontsize="small")


def _figure(title: str, size: tuple[float, float] = (7.0, 4.5)) -> tuple[Figure, object]:
    fig = Figure(figsize=size, layout="constrained")
    ax = fig.add_subplot()
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    return fig, ax


def throughput_vs_threads(
    summary: pd.DataFrame,
    group_by: Sequence[str] = DEFAULT_GROUP_BY,
    x: str = DEFAULT_X,
    y: str = "throughput_eps",
) -> Figure:
    """Throughput against load: one line per group."""
    fig, ax = _figure("Throughput vs concurrency")
    for label, rows in _groups(summary, group_by, x):
        ax.plot(rows[x], rows[y], marker="o", label=label)
    ax.set_xlabel(_label(x))
    ax.set_ylabel(_label(y))
    _legend(ax)
    return fig


def latency_vs_threads(
    summary: pd.DataFrame,
    group_by: Sequence[str] = DEFAULT_GROUP_BY,
    x: str = DEFAULT_X,
    kind: str = "http",
) -> Figure:
    """p50 (dashed) and p99 (solid) latency against load: two lines per group."""
    fig, ax = _figure(f"{kind} latency vs concurrency")
    for label, rows in _groups(summary, group_by, x):
        (p99,) = ax.plot(rows[x], rows[f"latency_ms.{kind}.p99"], marker="o", label=f"p99, {label}")
        ax.plot(
            rows[x],
            rows[f"latency_ms.{kind}.p50"],
            marker=".",
            linestyle="--",
            color=p99.get_color(),
            label=f"p50, {label}",
        )
    ax.set_xlabel(_label(x))
    ax.set_ylabel(f"{kind} latency (ms)")
    ax.set_yscale("log")
    _legend(ax)
    return fig


def latency_vs_throughput(
    summary: pd.DataFrame,
    group_by: Sequence[str] = DEFAULT_GROUP_BY,
    latency: str = "latency_ms.http.p99",
    order_by: str = DEFAULT_X,
) -> Figure:
    """The saturation curve: latency against achieved throughput, points joined in load order;
    where the curve turns upward the system is saturated."""
    fig, ax = _figure("Latency vs throughput (saturation)")
    for label, rows in _groups(summary, group_by, order_by):
        ax.plot(rows["throughput_eps"], rows[latency], marker="o", label=label)
    ax.set_xlabel(_label("throughput_eps"))
    ax.set_ylabel(_label(latency))
    ax.set_yscale("log")
    _legend(ax)
    return fig


def _percentile_curve(samples: np.ndarray, max_percentile: float, points: int):
    """(x = 1/(1-p), latency at p) from p=0 up to the highest percentile the sample supports."""
    samples = np.asarray(samples, dtype=float)
    samples = samples[np.isfinite(samples)]
    top = min(max_percentile, 100.0 * (1.0 - 1.0 / len(samples))) if len(samples) > 1 else 0.0
    x = np.logspace(0.0, np.log10(1.0 / (1.0 - top / 100.0)), points)
    return x, np.percentile(samples, 100.0 * (1.0 - 1.0 / x))


def percentile_distribution(
    runs: Mapping[str, np.ndarray],
    title: str = "Latency by percentile",
    max_percentile: float = 99.99,
    points: int = 200,
) -> Figure:
    """Latency by percentile, the x axis stretched as 1/(1-p) on a log scale (as HdrHistogram and
    the OpenMessaging Benchmark draw it) so that the tail gets as much room as the median.
    `runs` maps a legend label to that run's latency samples (ms); one line per run."""
    fig, ax = _figure(title)
    for label, samples in runs.items():
        if samples is None or not np.isfinite(np.asarray(samples, dtype=float)).any():
            continue
        x, values = _percentile_curve(samples, max_percentile, points)
        ax.plot(x, values, label=label)
    ticks = [1.0 / (1.0 - p / 100.0) for p in PERCENTILE_TICKS]
    ax.set_xscale("log")
    ax.set_xticks(ticks, [f"{p:g}" for p in PERCENTILE_TICKS])
    ax.minorticks_off()
    ax.set_xlim(1.0, ticks[-1])
    ax.set_xlabel("percentile")
    ax.set_ylabel("latency (ms)")
    _legend(ax)
    return fig


def run_timeseries(series: pd.DataFrame, title: str = "Run over time") -> Figure:
    """A run's `per_second` frame: events/s (top panel) and e2e p50/p99 latency (bottom)."""
    fig = Figure(figsize=(8.0, 6.0), layout="constrained")
    rate_ax, lat_ax = fig.subplots(2, 1, sharex=True)
    fig.suptitle(title)
    for column, label in (
        ("sent_eps", "sent"),
        ("accepted_eps", "accepted"),
        ("consumed_eps", "consumed"),
    ):
        rate_ax.plot(series["second"], series[column], label=label)
    rate_ax.set_ylabel("events/s")
    _legend(rate_ax)
    lat_ax.plot(series["second"], series["e2e_p50_ms"], label="e2e p50")
    lat_ax.plot(series["second"], series["e2e_p99_ms"], label="e2e p99")
    lat_ax.set_ylabel("e2e latency (ms)")
    lat_ax.set_xlabel("time since the first send (s)")
    _legend(lat_ax)
    for ax in (rate_ax, lat_ax):
        ax.grid(True, alpha=0.3)
    return fig
