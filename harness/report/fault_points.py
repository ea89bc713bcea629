"""The report's "Failures" and "Load over time" data: the fault points (each run's metrics.json
`faults` and timeline.parquet), their figures pooled over every fault instant of every repetition,
and the points whose load changes over time (stages).

Pooled: unavailability and recovery are the median and the max over all the instants of a point
(every cycle of every repetition; every broker of a rolling restart), null when one instant has
none (its span did not end before the next fault or the end of the load: "not seen").
"""

from __future__ import annotations

import statistics
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from harness import plots
from harness.analysis.timeline import FAILURE_KINDS
from harness.report.sweepdata import Sweep, closed_loop, read_json, run_dirs, setting_names
from harness.rundir import METRICS_FILE, TIMELINE_FILE

NOT_SEEN = "not seen"
RUN_FAILED = "run failed"
COLUMNS = ["setting", "fault", "rate (events/s)", "instants", "unavailable median (s)",
           "unavailable max (s)", "recovery median (s)", "recovery max (s)", "pMax (ms)", "errors",
           "lost", "duplicates"]  # fmt: skip


def fault_points(sweep: Sweep) -> pd.DataFrame:
    """The run points with a fault (never a capacity search)."""
    runs = closed_loop(sweep.points)
    fault = runs.get("config.fault", pd.Series(index=runs.index, dtype=object))
    return runs[fault.notna() & ~fault.astype(str).isin(["none", "nan", ""])]


def stage_points(sweep: Sweep) -> pd.DataFrame:
    """The run points whose offered load changes over time (stages)."""
    runs = closed_loop(sweep.points)
    stages = runs.get("config.stages", pd.Series(index=runs.index, dtype=object))
    return runs[stages.notna() & ~stages.astype(str).isin(["nan", ""])]


def _runs(sweep: Sweep, point: str) -> list[tuple[Path, dict]]:
    found = []
    for run_dir in run_dirs(sweep, point):
        metrics = read_json(run_dir / METRICS_FILE)
        if metrics:
            found.append((run_dir, metrics))
    return found


def _spread(values: list) -> tuple[object, object]:
    if not values:
        return None, None
    if any(v is None for v in values):
        return NOT_SEEN, NOT_SEEN
    return statistics.median(values), max(values)


def _seconds(value: object) -> str:
    return value if isinstance(value, str) else ("" if value is None else f"{value:.1f}")


def pooled(runs: list[tuple[Path, dict]]) -> dict:
    """A fault point's figures over every instant of every run (see the module's docstring)."""
    instants = [i for _, m in runs for i in (m.get("faults") or {}).get("instants") or []]
    unavailable = _spread([i.get("unavailability_s") for i in instants])
    recovery = _spread([i.get("recovery_s") for i in instants])
    p_max = [i["p_max_ms"] for i in instants if i.get("p_max_ms") is not None]
    errors = {k: sum((i.get("errors") or {}).get(k) or 0 for i in instants) for k in FAILURE_KINDS}
    counts = [m.get("counts") or {} for _, m in runs]
    return {
        "instants": len(instants),
        "missed": sum((m.get("faults") or {}).get("missed") or 0 for _, m in runs),
        "unavailability_median": unavailable[0],
        "unavailability_max": unavailable[1],
        "recovery_median": recovery[0],
        "recovery_max": recovery[1],
        "p_max_ms": max(p_max) if p_max else None,
        "errors": errors,
        "accepted_in_span": sum(i.get("accepted_in_span") or 0 for i in instants),
        "lost": sum(c.get("lost") or 0 for c in counts),
        "duplicates": sum(c.get("duplicates") or 0 for c in counts),
        "rate": ((runs[0][1].get("config") or {}).get("rate")) if runs else None,
    }


def failures_table(sweep: Sweep) -> pd.DataFrame:
    """One row per fault point: the fault, its instants, unavailability and recovery (median
    and max), pMax, errors by kind, and the run's loss and duplicates."""
    points = fault_points(sweep)
    names = setting_names(sweep.points)
    rows = []
    for i, row in points.iterrows():
        runs = _runs(sweep, row["point"])
        if not runs:  # every run of the point failed: no figure, not zeros (see Failed points)
            rows.append(dict.fromkeys(COLUMNS, "") | {"setting": names[i], "fault": row.get(
                "config.fault"), "instants": RUN_FAILED})  # fmt: skip
            continue
        found = pooled(runs)
        errors = ", ".join(f"{k} {v:,}" for k, v in found["errors"].items() if v) or "0"
        rows.append({
            "setting": names[i],
            "fault": row.get("config.fault"),
            "rate (events/s)": "" if found["rate"] is None else f"{found['rate']:,.0f}",
            "instants": found["instants"],
            "unavailable median (s)": _seconds(found["unavailability_median"]),
            "unavailable max (s)": _seconds(found["unavailability_max"]),
            "recovery median (s)": _seconds(found["recovery_median"]),
            "recovery max (s)": _seconds(found["recovery_max"]),
            "pMax (ms)": "" if found["p_max_ms"] is None else f"{found['p_max_ms']:,.0f}",
            "errors": errors,
            "lost": found["lost"],
            "duplicates": found["duplicates"],
        })  # fmt: skip
    return pd.DataFrame(rows, columns=COLUMNS)


def timeline_of(run_dir: Path) -> pd.DataFrame | None:
    path = run_dir / TIMELINE_FILE
    return pd.read_parquet(path) if path.exists() else None


def point_chart(sweep: Sweep, index, what: str) -> Figure | None:
    """The timeline of a point's first successful run, its faults marked."""
    row = sweep.points.loc[index]
    runs = _runs(sweep, row["point"])
    if not runs:
        return None
    run_dir, metrics = runs[0]
    timeline = timeline_of(run_dir)
    if timeline is None or timeline.empty:
        return None
    faults = metrics.get("faults") or {}
    objective = faults.get("p99_objective_ms") or sweep_objective(sweep)
    return plots.timeline_chart(timeline, faults.get("instants"), objective,
                                title=f"{what}: {setting_names(sweep.points)[index]}")  # fmt: skip


def sweep_objective(sweep: Sweep) -> float:
    from harness.report.sweepdata import objective_ms

    return objective_ms(sweep)


def fault_charts(sweep: Sweep) -> list[Figure]:
    charts = [point_chart(sweep, i, "Fault") for i in fault_points(sweep).index]
    return [c for c in charts if c is not None]


def stage_charts(sweep: Sweep) -> list[Figure]:
    points = stage_points(sweep)
    charts = [point_chart(sweep, i, "Load over time") for i in points.index
              if i not in fault_points(sweep).index]  # fmt: skip
    return [c for c in charts if c is not None]
