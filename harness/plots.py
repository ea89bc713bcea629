"""Figures of runs and sweeps (matplotlib, no GUI), drawn to read at a glance.

Every function builds a `matplotlib.figure.Figure` directly (not pyplot), so nothing depends on or
changes the global backend: figures render with Agg when saved and show inline in notebooks.

One style for all: the Okabe-Ito palette (safe for colour-blind readers), the best setting always
in blue and the seed-style baseline always in vermillion, legends outside the plotting area, at most
`MAX_SERIES` lines per axes (more settings become one panel each), settings drawn as categories,
intervals as error bars, and units on every axis. Sweep figures take a points table (one row per
point: `throughput_eps`, `latency_ms.http.p99`, ... and optional `<figure>.ci_lo` / `.ci_hi`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import LogFormatter, ScalarFormatter

# Okabe & Ito (2008), in the order series take them; yellow last, it is faint on white.
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000", "#F0E442")
BEST_COLOR = "#0072B2"
BASELINE_COLOR = "#D55E00"
OTHER_COLOR = "#9a9a9a"
MAX_SERIES = 8
PERCENTILE_TICKS = (0.0, 90.0, 99.0, 99.9, 99.99)

_LABELS = {
    "config.threads": "threads (concurrent senders)",
    "config.rate": "target rate (events/s)",
    "config.linger_ms": "linger (ms)",
    "config.batch_size": "batch size (bytes)",
    "throughput_eps": "throughput (events/s)",
    "throughput_mbps": "throughput (MB/s of events)",
    "config.event_bytes": "event size (bytes)",
    "capacity_eps": "capacity (events/s)",
}


def axis_label(column: str) -> str:
    """A column's name for an axis, with its unit."""
    if column in _LABELS:
        return _LABELS[column]
    if column.startswith("latency_ms."):
        return f"{column.removeprefix('latency_ms.').replace('.', ' ')} latency (ms)"
    return column.removeprefix("config.").replace("_", " ")


def value_label(value: object) -> str:
    """A setting's value as a category label (10.0 -> "10", 262144 -> "256Ki")."""
    if isinstance(value, bool | np.bool_):
        return str(bool(value)).lower()
    if isinstance(value, int | float | np.integer | np.floating) and math.isfinite(value):
        value = float(value)
        if value.is_integer():
            whole = int(value)
            for factor, unit in ((1 << 20, "Mi"), (1 << 10, "Ki")):
                if whole >= factor and whole % factor == 0:
                    return f"{whole // factor}{unit}"
            return str(whole)
        return f"{value:g}"
    return str(value)


def _new_figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def _style(ax, grid_axis: str = "both") -> None:
    ax.grid(True, axis=grid_axis, alpha=0.3)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def legend_outside(fig: Figure, title: str | None = None, below: bool = False) -> None:
    """One legend for the figure, to the right of every panel (or below them, for long labels),
    never inside a plotting area; nothing when no artist has a label."""
    handles, labels = [], []
    for ax in fig.axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if label not in labels:
                handles.append(handle)
                labels.append(label)
    if handles:
        fig.legend(handles, labels, loc="outside lower center" if below else "outside right upper",
                   ncols=2 if below else 1, title=title, fontsize="small",
                   title_fontsize="small", frameon=False)  # fmt: skip


def _numbers(table: pd.DataFrame, column: str) -> np.ndarray:
    if column not in table:
        return np.full(len(table), np.nan)
    return pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=float)


def interval_errors(table: pd.DataFrame, column: str) -> np.ndarray | None:
    """Error bar lengths (2 x n, below and above) from `<column>.ci_lo` / `.ci_hi`, or None when
    the table has no interval for the column (one repetition)."""
    lo, hi = _numbers(table, f"{column}.ci_lo"), _numbers(table, f"{column}.ci_hi")
    if not (np.isfinite(lo).any() and np.isfinite(hi).any()):
        return None
    mid = _numbers(table, column)
    return np.nan_to_num(np.vstack([mid - lo, hi - mid]).clip(min=0.0))


def ok_points(points: pd.DataFrame) -> pd.DataFrame:
    """The points whose status is ok (all of them when the table has no status)."""
    return points[points["status"].eq("ok")] if "status" in points else points


# --- A figure per setting: the ranking -------------------------------------------------------


def _role_colors(index: pd.Index, best: object, baseline: object) -> list[str]:
    return [
        BEST_COLOR if i == best else BASELINE_COLOR if i == baseline else OTHER_COLOR for i in index
    ]


def _bar_panel(ax, table: pd.DataFrame, column: str, colors: list[str], fmt: str) -> None:
    values = _numbers(table, column)
    positions = np.arange(len(table))
    errors = interval_errors(table, column)
    ax.barh(positions, values, color=colors, xerr=errors, error_kw={"ecolor": "#333333", "capsize": 2, "lw": 1})  # fmt: skip
    ends = values + (errors[1] if errors is not None else 0.0)
    for y, value, end in zip(positions, values, ends, strict=True):
        if np.isfinite(value):
            ax.text(end, y, " " + format(value, fmt), va="center", fontsize="small")
    finite = ends[np.isfinite(ends)]
    if finite.size:
        ax.set_xlim(0, finite.max() * 1.22)  # room for the value labels
    ax.set_xlabel(axis_label(column))
    _style(ax, "x")


def setting_bars(
    points: pd.DataFrame,
    names: pd.Series,
    best: object = None,
    baseline: object = None,
    p99_objective_ms: float | None = None,
    latency: str = "latency_ms.http.p99",
) -> Figure:
    """Throughput and p99 latency of every successful point, one bar each, highest throughput on
    top; the best setting in blue, the seed-style baseline in vermillion, the rest grey, intervals
    as error bars and the latency objective as a dashed line. `names` labels the points (same
    index); `best` and `baseline` are index labels of `points`."""
    table = ok_points(points)
    table = table.assign(_t=_numbers(table, "throughput_eps"))
    table = table.sort_values("_t", ascending=True, kind="stable", na_position="first")
    colors = _role_colors(table.index, best, baseline)
    fig = _new_figure(11.0, 1.2 + 0.34 * max(len(table), 2))
    tput_ax, lat_ax = fig.subplots(1, 2, sharey=True)
    _bar_panel(tput_ax, table, "throughput_eps", colors, ",.0f")
    _bar_panel(lat_ax, table, latency, colors, ",.1f")
    _label_ticks(tput_ax, [role_name(names[i], i, best, baseline) for i in table.index], colors)
    if p99_objective_ms is not None:
        lat_ax.axvline(p99_objective_ms, color="#000000", linestyle="--", lw=1)
        lat_ax.set_xlim(right=max(lat_ax.get_xlim()[1], p99_objective_ms * 1.1))
        lat_ax.set_title(
            f"dashed: objective {p99_objective_ms:g} ms", fontsize="small", loc="right"
        )
    tput_ax.set_title("higher is better", fontsize="small", loc="right")
    fig.suptitle("Throughput and latency per setting")
    return fig


def _label_ticks(ax, names: list[str], colors: list[str]) -> None:
    """Category labels on the y axis; the best and the baseline in their colour, bold."""
    ax.set_yticks(np.arange(len(names)), names)
    for tick, color in zip(ax.get_yticklabels(), colors, strict=True):
        if color != OTHER_COLOR:
            tick.set_color(color)
            tick.set_fontweight("bold")


def role_name(name: object, index: object, best: object, baseline: object) -> str:
    name = str(name)
    if index == best:
        return f"{name} (best)"
    if index == baseline and "seed-style" not in name:
        return f"{name} (seed-style)"
    return name


def capacity_bars(
    points: pd.DataFrame,
    names: pd.Series,
    best: object = None,
    baseline: object = None,
    reason: str = "capacity_reason",
) -> Figure:
    """Capacity under the objective per search point (events/s): the median of its searches with
    their range as an error bar when it was searched several times; the seed-style baseline in
    vermillion; a search the load generator limited is hatched and labelled "at least"."""
    table = points.assign(_c=_numbers(points, "capacity_eps"))
    table = table[np.isfinite(table["_c"])].sort_values("_c", kind="stable")
    colors = _role_colors(table.index, best, baseline)
    fig = _new_figure(9.0, 1.2 + 0.34 * max(len(table), 2))
    ax = fig.add_subplot()
    lo, hi = _numbers(table, "capacity_eps.min"), _numbers(table, "capacity_eps.max")
    spread = np.isfinite(lo) & np.isfinite(hi) & (hi > lo)
    errors = np.vstack(
        [np.where(spread, table["_c"] - lo, 0.0), np.where(spread, hi - table["_c"], 0.0)]
    )
    bars = ax.barh(np.arange(len(table)), table["_c"], color=colors, xerr=errors.clip(min=0.0),
                   error_kw={"ecolor": "#333333", "capsize": 3, "lw": 1})  # fmt: skip
    reasons = table[reason].astype(str) if reason in table else pd.Series("", index=table.index)
    searched = _numbers(table, "capacity_searches")
    for bar, value, why, n, top in zip(bars, table["_c"], reasons, searched, np.where(spread, hi, table["_c"]), strict=True):  # fmt: skip
        bound = "generator" in why.lower()
        if bound:
            bar.set_hatch("//")
            bar.set_edgecolor("#ffffff")
        what = f"median of {int(n)}" if np.isfinite(n) and n > 1 else "one search"
        detail = ", ".join(t for t in (what, why if why not in ("", "nan", "None") else "") if t)
        text = f" {'≥ ' if bound else ''}{value:,.0f}  ({detail})"
        ax.text(top, bar.get_y() + bar.get_height() / 2, text, va="center", fontsize="small")
    _label_ticks(ax, [role_name(names[i], i, best, baseline) for i in table.index], colors)
    if len(table):
        ax.set_xlim(0, max(table["_c"].max(), np.nanmax(np.where(spread, hi, 0.0))) * 1.5)
    ax.set_xlabel(axis_label("capacity_eps"))
    ax.set_title("Capacity under the objective (error bars: the range of the searches; "
                 "hatched: generator-bound, at least)", fontsize="medium")  # fmt: skip
    _style(ax, "x")
    return fig


# --- Two or more settings: heatmaps and small multiples ---------------------------------------


def _categories(table: pd.DataFrame, column: str) -> list:
    """A setting's distinct values, sorted (numbers numerically), missing values dropped."""
    values = table[column].dropna().unique().tolist()
    try:
        return sorted(values, key=float)
    except (TypeError, ValueError):
        return sorted(values, key=str)


def _is_numeric(values: list) -> bool:
    """Whether categories have an order of their own (numbers), so a line between them means
    something."""
    try:
        [float(v) for v in values]
    except (TypeError, ValueError):
        return False
    return not any(isinstance(v, bool | np.bool_) for v in values)


def _facet_grid(fig: Figure, n: int, sharey: bool = True):
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    axes = np.atleast_1d(fig.subplots(rows, cols, sharey=sharey, squeeze=False)).ravel()
    for ax in axes[n:]:
        ax.remove()
    return axes[:n]


def _facets(table: pd.DataFrame, facet: str | None) -> list[tuple[str, pd.DataFrame]]:
    if facet is None or facet not in table:
        return [("", table)]
    return [
        (f"{axis_label(facet)} = {value_label(v)}", table[table[facet] == v])
        for v in _categories(table, facet)
    ]


def grid_heatmap(
    points: pd.DataFrame,
    row: str,
    col: str,
    value: str = "throughput_eps",
    facet: str | None = None,
    fmt: str = ",.0f",
    cmap: str = "cividis",
) -> Figure:
    """A two-setting grid as a heatmap with the figure written in each cell (its interval below
    it when there is one); one panel per value of `facet`. Cells without a successful point are
    blank."""
    table = ok_points(points)
    facets = _facets(table, facet)
    rows, cols = _categories(table, row), _categories(table, col)
    values = _numbers(table, value)
    finite = values[np.isfinite(values)]
    vmin, vmax = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
    fig = _new_figure(
        min(4.2 * len(facets), 12.5) + 1.2, 1.6 + 0.75 * len(rows) * math.ceil(len(facets) / 3)
    )
    axes = _facet_grid(fig, len(facets), sharey=True)
    image = None
    for ax, (title, rows_of_facet) in zip(axes, facets, strict=True):
        grid = np.full((len(rows), len(cols)), np.nan)
        cells: dict[tuple[int, int], pd.Series] = {}
        for _, point in rows_of_facet.iterrows():
            r, c = rows.index(point[row]), cols.index(point[col])
            grid[r, c] = pd.to_numeric(point.get(value), errors="coerce")
            cells[(r, c)] = point
        image = ax.imshow(grid, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto", origin="lower")
        for (r, c), point in cells.items():
            if np.isfinite(grid[r, c]):
                ax.text(c, r, _cell_text(point, value, fmt), ha="center", va="center",
                        fontsize="small", color=_ink(image, grid[r, c]))  # fmt: skip
        ax.set_xticks(range(len(cols)), [value_label(v) for v in cols])
        ax.set_yticks(range(len(rows)), [value_label(v) for v in rows])
        ax.set_xlabel(axis_label(col))
        ax.set_title(title, fontsize="medium")
    axes[0].set_ylabel(axis_label(row))
    if image is not None:
        fig.colorbar(image, ax=list(axes), label=axis_label(value), shrink=0.9)
    fig.suptitle(
        f"{axis_label(value)} over {axis_label(row)} × {axis_label(col)} (brighter is better)"
    )
    return fig


def _ink(image, value: float) -> str:
    """Black on a light cell, white on a dark one (luminance of the cell's colour)."""
    red, green, blue, _ = image.cmap(image.norm(value))
    return "#000000" if 0.299 * red + 0.587 * green + 0.114 * blue > 0.5 else "#ffffff"


def _cell_text(point: pd.Series, value: str, fmt: str) -> str:
    text = format(float(point[value]), fmt)
    lo, hi = point.get(f"{value}.ci_lo"), point.get(f"{value}.ci_hi")
    if lo is not None and hi is not None and np.isfinite(lo) and np.isfinite(hi):
        text += f"\n[{format(float(lo), fmt)}–{format(float(hi), fmt)}]"
    return text


def _log_scale(ax) -> None:
    """A log axis with plain numbers (200, 500, not 2x10^2)."""
    ax.set_yscale("log")
    plain = ScalarFormatter()
    plain.set_scientific(False)
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.4)))


def facet_lines(
    points: pd.DataFrame,
    x: str,
    y: str,
    series: str | None = None,
    facet: str | None = None,
    log_y: bool = False,
    title: str | None = None,
) -> Figure:
    """`y` against the categories of `x`, one line per value of `series` (at most MAX_SERIES;
    further values are left out and said so in the title), one panel per value of `facet`, error
    bars from the intervals, the legend outside the panels. Only an ordered `x` (numbers, e.g.
    threads) is drawn as lines; categories without an order (servers, clients) are points, each
    series beside the others, never joined."""
    table = ok_points(points)
    xs = _categories(table, x)
    ordered = _is_numeric(xs)
    facets = _facets(table, facet)
    fig = _new_figure(min(4.4 * len(facets), 13.0) + 1.8, 3.8 * math.ceil(len(facets) / 3))
    axes = _facet_grid(fig, len(facets), sharey=True)
    groups = _categories(table, series) if series and series in table else [None]
    shown = groups[:MAX_SERIES]
    width = 0.5 / max(len(shown), 1)
    for ax, (panel_title, rows) in zip(axes, facets, strict=True):
        for k, (color, group) in enumerate(zip(OKABE_ITO, shown, strict=False)):
            line = rows if group is None else rows[rows[series] == group]
            line = line.assign(_x=[xs.index(v) for v in line[x]]).sort_values("_x", kind="stable")
            if line.empty:
                continue
            label = "_one series" if group is None else value_label(group)  # no legend for one
            dodge = 0.0 if ordered else (k - (len(shown) - 1) / 2) * width
            ax.errorbar(line["_x"] + dodge, _numbers(line, y), yerr=interval_errors(line, y),
                        marker="o", color=color, capsize=3, label=label,
                        linestyle="-" if ordered else "none")  # fmt: skip
        ax.set_xticks(range(len(xs)), [value_label(v) for v in xs])
        ax.set_xlim(-0.4, len(xs) - 0.6)
        ax.set_xlabel(axis_label(x))
        ax.set_title(panel_title, fontsize="medium")
        if log_y:
            _log_scale(ax)
        _style(ax)
    axes[0].set_ylabel(axis_label(y))
    left_out = len(groups) - len(shown)
    suffix = f" ({left_out} more values of {axis_label(series)} not drawn)" if left_out else ""
    fig.suptitle((title or f"{axis_label(y)} against {axis_label(x)}") + suffix)
    legend_outside(fig, title=axis_label(series) if series else None)
    return fig


# --- Distributions and time -------------------------------------------------------------------


def _percentile_curve(samples: np.ndarray, max_percentile: float, points: int):
    """(x = 1/(1-p), latency at p) from p=0 up to the highest percentile the sample supports."""
    samples = np.asarray(samples, dtype=float)
    samples = samples[np.isfinite(samples)]
    top = min(max_percentile, 100.0 * (1.0 - 1.0 / len(samples))) if len(samples) > 1 else 0.0
    x = np.logspace(0.0, np.log10(1.0 / (1.0 - top / 100.0)), points)
    return x, np.percentile(samples, 100.0 * (1.0 - 1.0 / x))


def percentile_distribution(
    runs: Mapping[str, np.ndarray | None],
    title: str = "Latency by percentile",
    max_percentile: float = 99.99,
    points: int = 200,
    colors: Mapping[str, str] | None = None,
) -> Figure:
    """Latency by percentile, the x axis stretched as 1/(1-p) on a log scale (as HdrHistogram and
    the OpenMessaging Benchmark draw it) so that the tail gets as much room as the median.
    `runs` maps a legend label to that run's latency samples (ms), one line each (at most
    MAX_SERIES); `colors` pins the colour of some labels (e.g. the best and the baseline), which
    are also drawn thicker."""
    fig = _new_figure(9.0, 4.6)
    ax = fig.add_subplot()
    ax.set_title(title)
    pinned = dict(colors or {})
    free = iter(c for c in OKABE_ITO if c not in pinned.values())
    drawn = 0
    for label, samples in runs.items():
        if samples is None or not np.isfinite(np.asarray(samples, dtype=float)).any():
            continue
        if drawn == MAX_SERIES:
            break
        x, values = _percentile_curve(samples, max_percentile, points)
        color = pinned.get(label) or next(free, OTHER_COLOR)
        ax.plot(x, values, label=label, color=color, lw=2.4 if label in pinned else 1.4)
        drawn += 1
    ticks = [1.0 / (1.0 - p / 100.0) for p in PERCENTILE_TICKS]
    ax.set_xscale("log")
    ax.set_xticks(ticks, [f"{p:g}" for p in PERCENTILE_TICKS])
    ax.minorticks_off()
    ax.set_xlim(1.0, ticks[-1])
    ax.set_xlabel("percentile")
    ax.set_ylabel("latency (ms)")
    _style(ax)
    legend_outside(fig, below=True)
    return fig


def run_timeseries(series: pd.DataFrame, title: str = "Run over time") -> Figure:
    """A run's `per_second` frame (any bin width): events/s (top) and e2e p50/p99 (bottom), with
    the bin width in the axis label. A `warmup_s` attribute on the frame shades the warm-up."""
    fig = _new_figure(10.0, 5.6)
    rate_ax, lat_ax = fig.subplots(2, 1, sharex=True)
    fig.suptitle(title)
    seconds = pd.to_numeric(series["second"], errors="coerce")
    steps = np.diff(seconds.to_numpy(dtype=float))
    bin_s = float(np.median(steps)) if steps.size else 1.0
    for color, (column, label) in zip(
        OKABE_ITO, (("sent_eps", "sent"), ("accepted_eps", "accepted"), ("consumed_eps", "consumed")),
        strict=False,
    ):  # fmt: skip
        rate_ax.step(seconds, series[column], where="post", color=color, label=label)
    rate_ax.set_ylabel("events/s")
    lat_ax.step(seconds, series["e2e_p50_ms"], where="post", color=OKABE_ITO[4], label="e2e p50")
    lat_ax.step(seconds, series["e2e_p99_ms"], where="post", color=OKABE_ITO[6], label="e2e p99")
    lat_ax.set_ylabel("e2e latency (ms)")
    lat_ax.set_xlabel(f"time since the first send (s), {bin_s * 1000:g} ms bins")
    warmup = series.attrs.get("warmup_s")
    for ax in (rate_ax, lat_ax):
        if warmup:
            ax.axvspan(0, warmup, color="#000000", alpha=0.07, lw=0, label="warm-up")
        _style(ax)
    legend_outside(fig)
    return fig


FAILED_COLOR = "#D55E00"
SPAN_COLOR = "#CC79A7"


def timeline_chart(
    timeline: pd.DataFrame,
    instants: list[dict] | None = None,
    objective_ms: float | None = None,
    title: str = "Timeline",
) -> Figure:
    """A run's timeline.parquet (any bin width): events/s offered, accepted and failed (top),
    the http p99 of each bin's requests against the objective (middle, log scale), and the
    consumer lag (bottom). Fault instants (metrics.json faults.instants) are dashed lines, each
    one's unavailability span shaded; the warm-up is shaded grey."""
    fig = _new_figure(10.0, 7.2)
    rate_ax, p99_ax, lag_ax = fig.subplots(3, 1, sharex=True)
    fig.suptitle(title)
    t = pd.to_numeric(timeline["t_s"], errors="coerce").to_numpy(dtype=float)
    steps = np.diff(t)
    bin_s = float(np.median(steps)) if steps.size else 1.0
    failed = timeline[[c for c in timeline.columns if c.startswith("failed_")]].sum(axis=1)
    per_s = 1.0 / bin_s
    if timeline["offered"].notna().any():
        rate_ax.step(t, timeline["offered"] * per_s, where="post", color=OKABE_ITO[6],
                     lw=1.0, ls="--", label="offered")  # fmt: skip
    rate_ax.step(t, timeline["accepted"] * per_s, where="post", color=OKABE_ITO[0],
                 label="accepted")  # fmt: skip
    rate_ax.step(t, failed * per_s, where="post", color=FAILED_COLOR, label="failed")
    rate_ax.set_ylabel("events/s")
    p99_ax.step(t, timeline["http_p99_ms"], where="post", color=OKABE_ITO[2], label="http p99")
    if objective_ms:
        p99_ax.axhline(objective_ms, color=OKABE_ITO[6], lw=0.8, ls=":",
                       label=f"objective {objective_ms:g} ms")  # fmt: skip
    p99_ax.set_ylabel("http p99 (ms)")
    if pd.to_numeric(timeline["http_p99_ms"], errors="coerce").gt(0).any():
        _log_scale(p99_ax)
    lag_ax.step(t, timeline.get("lag_mean", timeline["lag"]), where="post", color=OKABE_ITO[4],
                label="consumer lag (mean over the bin)")  # fmt: skip
    lag_ax.set_ylabel("lag (events)")
    lag_ax.set_xlabel(f"time since the first request (s), {bin_s * 1000:g} ms bins")
    t0 = float(timeline["start"].iloc[0]) if len(timeline) else 0.0
    warm = timeline["warmup"].astype(bool).to_numpy() if "warmup" in timeline else []
    warm_end = float(t[warm].max() + bin_s) if len(t) and np.any(warm) else None
    for ax in (rate_ax, p99_ax, lag_ax):
        if warm_end:
            ax.axvspan(0, warm_end, color="#000000", alpha=0.07, lw=0, label="warm-up")
        for k, instant in enumerate(instants or []):
            if instant.get("at") is None:
                continue
            at = instant["at"] - t0
            ax.axvline(at, color=FAILED_COLOR, lw=1.0, ls="--",
                       label="fault" if k == 0 else None)  # fmt: skip
            end = instant.get("span_end")
            if end is not None and end > instant["at"]:
                ax.axvspan(at, end - t0, color=SPAN_COLOR, alpha=0.18, lw=0,
                           label="unavailable" if k == 0 else None)  # fmt: skip
        _style(ax)
    legend_outside(fig)
    return fig
