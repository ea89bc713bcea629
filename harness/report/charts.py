"""Which charts the report draws, chosen for the sweep's shape: every setting side by side, the
grid as heatmaps and small multiples, the latency distribution of the best setting, the
baseline and a few others, the best run over time, and the capacity searches.

Closed-loop charts show the runs with a measured window only (sweepdata.measured): a capacity
search is never a setting among them, and a chart with nothing to show is not drawn (None)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from harness import plots
from harness.analysis import latency_samples, per_second, read_client_records, read_events_log
from harness.analysis.points import HTTP_P99, THROUGHPUT
from harness.report.sweepdata import (
    Sweep,
    baseline_index,
    best_index,
    grid_points,
    measured,
    read_json,
    run_dirs,
    searches,
    setting_names,
    varying_settings,
)
from harness.rundir import CAPACITY_FILE, METRICS_FILE, RECORDS_FILE

# The best run over time: bins this wide (a 5 s run gives 20 points, not 5).
TIMESERIES_BIN_S = 0.25
# The percentile chart: the best and the baseline, plus this many others.
PERCENTILE_OTHERS = 3


def setting_chart(sweep: Sweep, p99_objective_ms: float) -> Figure | None:
    points = measured(sweep.points)
    if points.empty:
        return None
    return plots.setting_bars(
        points, setting_names(sweep.points), best_index(sweep.points, p99_objective_ms),
        baseline_index(sweep.points), p99_objective_ms,
    )  # fmt: skip


def _by_values(table: pd.DataFrame, columns: list[str]) -> list[str]:
    """Columns ordered by how many distinct values they take, most first (stable)."""
    return sorted(columns, key=lambda c: -table[c].nunique())


def grid_layout(sweep: Sweep) -> dict | None:
    """Which settings go where in the grid charts: `x` (the load axis: threads when it varies),
    `series` (lines, at most plots.MAX_SERIES values), `facet` (one panel per value), and for
    the heatmaps `row` x `col`. None when fewer than one setting varies on the grid."""
    grid = measured(grid_points(sweep.points))
    varying = [c for c in varying_settings(sweep.points) if c in grid and grid[c].nunique() > 1]
    if not varying:
        return None
    x = "config.threads" if "config.threads" in varying else _by_values(grid, varying)[0]
    rest = _by_values(grid, [c for c in varying if c != x])
    series = next((c for c in reversed(rest) if grid[c].nunique() <= plots.MAX_SERIES), None)
    others = [c for c in rest if c != series]
    facet = others[0] if len(others) == 1 and grid[others[0]].nunique() <= 6 else None
    complete = not others or (len(others) == 1 and facet is not None)
    layout = {"x": x, "series": series, "facet": facet, "complete": complete}
    if rest:
        row, col, heat_facet = (rest[0], rest[1], x) if len(rest) >= 2 else (x, rest[0], None)
        covered = {row, col, heat_facet} - {None}
        if set(varying) <= covered and (heat_facet is None or grid[heat_facet].nunique() <= 6):
            layout.update(row=row, col=col, heat_facet=heat_facet)
    return layout


def heatmaps(sweep: Sweep) -> list[Figure]:
    """Throughput and http p99 over the grid's two main settings, one panel per load level."""
    layout = grid_layout(sweep)
    if not layout or "row" not in layout:
        return []
    grid = measured(grid_points(sweep.points))
    args = {"row": layout["row"], "col": layout["col"], "facet": layout["heat_facet"]}
    return [
        plots.grid_heatmap(grid, value=THROUGHPUT, fmt=",.0f", **args),
        plots.grid_heatmap(grid, value=HTTP_P99, fmt=",.1f", cmap="cividis_r", **args),
    ]


def load_charts(sweep: Sweep) -> list[Figure]:
    """Throughput and http p99 against the load setting, small multiples when needed."""
    layout = grid_layout(sweep)
    if not layout or not layout["complete"]:
        return []
    grid = measured(grid_points(sweep.points))
    args = {"x": layout["x"], "series": layout["series"], "facet": layout["facet"]}
    p99 = pd.to_numeric(grid[HTTP_P99], errors="coerce").dropna()
    wide = len(p99) and p99.min() > 0 and p99.max() / p99.min() > 10  # log only when it helps
    return [
        plots.facet_lines(grid, y=THROUGHPUT, **args),
        plots.facet_lines(grid, y=HTTP_P99, log_y=bool(wide), **args),
    ]


def percentile_choice(
    sweep: Sweep, p99_objective_ms: float, others: int = PERCENTILE_OTHERS
) -> list:
    """The points of the percentile chart: the best, the baseline, then the highest-throughput
    others (whatever their latency), in that order."""
    points = measured(sweep.points)
    chosen = [
        i for i in (best_index(points, p99_objective_ms), baseline_index(points)) if i is not None
    ]
    chosen = [i for i in dict.fromkeys(chosen) if i in points.index]
    by_tput = pd.to_numeric(points[THROUGHPUT], errors="coerce").sort_values(
        ascending=False, kind="stable"
    )
    rest = [i for i in by_tput.index if i not in chosen]
    return chosen + rest[:others]


def http_samples(sweep: Sweep, point: str) -> np.ndarray | None:
    """A point's http latency samples (ms), measured phase, pooled over its repetitions."""
    samples = []
    for run_dir in run_dirs(sweep, point):
        if (run_dir / RECORDS_FILE).exists():
            found = latency_samples(
                read_client_records(run_dir / RECORDS_FILE), read_events_log([])
            )
            if found["http"] is not None:
                samples.append(np.asarray(found["http"], dtype=float))
    return np.concatenate(samples) if samples else None


def percentile_chart(sweep: Sweep, p99_objective_ms: float) -> Figure | None:
    points, names = sweep.points, setting_names(sweep.points)
    chosen = percentile_choice(sweep, p99_objective_ms)
    if not chosen:
        return None
    best, baseline = best_index(points, p99_objective_ms), baseline_index(points)
    runs, colors = {}, {}
    for i in chosen:
        label = plots.role_name(names[i], i, best, baseline)
        runs[label] = http_samples(sweep, points.loc[i, "point"])
        if i == best:
            colors[label] = plots.BEST_COLOR
        elif i == baseline:
            colors[label] = plots.BASELINE_COLOR
    return plots.percentile_distribution(runs, title="HTTP latency by percentile", colors=colors)


def best_run_chart(
    sweep: Sweep, p99_objective_ms: float, bin_s: float = TIMESERIES_BIN_S
) -> Figure | None:
    """The best point's first successful run over time, in `bin_s` bins, the warm-up shaded."""
    best = best_index(sweep.points, p99_objective_ms)
    if best is None:
        return None
    dirs = run_dirs(sweep, sweep.points.loc[best, "point"])
    if not dirs or not (dirs[0] / RECORDS_FILE).exists():
        return None
    run_dir = dirs[0]
    records = read_client_records(run_dir / RECORDS_FILE)
    series = per_second(records, read_events_log(sorted(run_dir.glob("events*.log"))), bin_s=bin_s)
    window = read_json(run_dir / METRICS_FILE).get("window") or {}
    if window.get("start") and len(records):
        series.attrs["warmup_s"] = max(
            0.0, float(window["start"]) - float(records["sent_at"].min())
        )
    return plots.run_timeseries(
        series, title=f"The best setting: {setting_names(sweep.points)[best]}"
    )


def capacity_chart(sweep: Sweep, p99_objective_ms: float) -> Figure | None:
    """The capacity of each search point (the median of its searches, their range as error bars)."""
    found = searches(sweep.points)
    if "capacity_eps" not in found or found["capacity_eps"].isna().all():
        return None
    return plots.capacity_bars(found, setting_names(sweep.points), baseline=_seed_search(sweep))


def _seed_search(sweep: Sweep) -> object:
    """The capacity search of the seed-style setup (Werkzeug + flush), drawn in its colour."""
    found = searches(sweep.points)
    server = found.get("config.server", pd.Series(index=found.index, dtype=object))
    delivery = found.get("config.delivery", pd.Series(index=found.index, dtype=object))
    seed = found.index[server.eq("werkzeug") & delivery.eq("flush")]
    return seed[0] if len(seed) else None


def capacity_steps(sweep: Sweep, point: str) -> dict | None:
    """A point's capacity.json: in its run directory or the point's directory."""
    for run_dir in run_dirs(sweep, point):
        for where in (run_dir, run_dir.parent):
            found = read_json(where / CAPACITY_FILE)
            if found:
                return found
    return None


def hockey_stick(sweep: Sweep, p99_objective_ms: float) -> Figure | None:
    """The capacity search of the point with the most capacity (else the best point), drawn by
    harness.capacity's chart, its legend moved outside the plotting area."""
    points = searches(sweep.points)
    if points.empty:
        return None
    if "capacity_eps" in points and points["capacity_eps"].notna().any():
        chosen = pd.to_numeric(points["capacity_eps"], errors="coerce").idxmax()
    else:
        chosen = points.index[0]
    capacity = capacity_steps(sweep, points.loc[chosen, "point"])
    if not capacity:
        return None
    from harness.capacity.plotting import plot_capacity_steps

    fig = Figure(figsize=(10.0, 4.8), layout="constrained")
    ax = fig.add_subplot()
    plot_capacity_steps(capacity, ax=ax)
    if ax.get_legend() is not None:
        ax.get_legend().remove()
    plots.legend_outside(fig)
    return fig


def capacity_note(sweep: Sweep) -> str:
    found = searches(sweep.points)
    if found.empty:
        return (
            "No capacity search in this sweep: add `capacity: true` (with `p99_objective_ms`) "
            "to a point of the grid to find the highest rate it sustains under the objective."
        )
    if "capacity_eps" not in found or found["capacity_eps"].isna().all():
        return "The capacity searches found no sustainable rate (see their reasons in the table)."
    return ""
