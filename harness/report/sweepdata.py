"""A sweep directory as tables, and the facts every part of the report shares: which settings
varied, what a point is called, which point is the best and which the seed-style baseline.

summary.csv has a row per run, points.csv a row per point (computed from summary.csv when an older
sweep lacks it), sweep.json the grid, the command and the environment.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from harness import plots
from harness.analysis import stats
from harness.analysis.metrics import NO_WINDOW, OK
from harness.analysis.points import THROUGHPUT, best_point, point_params, points_table
from harness.analysis.recovery import DEFAULT_P99_OBJECTIVE_MS
from harness.paths import LATEST_RESULTS, NOTEBOOKS, PROJECT_ROOT, RESULTS
from harness.rundir import POINTS_FILE, SUMMARY_FILE, SWEEP_FILE

BASELINE_LABEL = "seed-style"
HTTP_P50 = "latency_ms.http.p50"
E2E_P99 = "latency_ms.e2e.p99"


class ReportError(ValueError):
    """A sweep directory the report cannot read; the message says what to do."""


@dataclass
class Sweep:
    """A sweep directory as tables. `runs`: one row per run (summary.csv); `points`: one row per
    point (points.csv); `meta`: sweep.json; `notes`: what was missing and how it was made up."""

    dir: Path
    runs: pd.DataFrame
    points: pd.DataFrame
    meta: dict
    notes: list[str] = field(default_factory=list)

    @property
    def environment(self) -> dict:
        return self.meta.get("environment") or {}


def resolve_sweep_dir(path: str | Path | None) -> Path:
    """A sweep directory: None means results/latest (what `make run` writes); a relative path is
    tried against notebooks/ (the report notebook's default `../results/latest`), the working
    directory and the project root, the first that exists. A path into the project's results/
    folder follows HARNESS_RESULTS when that names another results root."""
    if path is None:
        return LATEST_RESULTS
    path = Path(path).expanduser()
    if not path.is_absolute():
        bases = (NOTEBOOKS, Path.cwd(), PROJECT_ROOT)
        path = next((b / path for b in bases if (b / path).exists()), NOTEBOOKS / path)
    path = path.resolve()
    project_results = PROJECT_ROOT / "results"
    if path.is_relative_to(project_results) and RESULTS != project_results:
        return RESULTS / path.relative_to(project_results)
    return path


def load_sweep(sweep_dir: str | Path) -> Sweep:
    """The sweep's tables; points.csv is computed from summary.csv when an older sweep lacks it."""
    root = resolve_sweep_dir(sweep_dir)
    summary = root / SUMMARY_FILE
    if not summary.exists():
        latest = f" (`make run` writes {LATEST_RESULTS})" if root == LATEST_RESULTS else ""
        raise ReportError(
            f"{root} has no {SUMMARY_FILE}: it is not a finished sweep directory{latest}. "
            "Run `python -m harness sweep --out DIR` first, or pass the directory of one."
        )
    try:
        runs = pd.read_csv(summary)
    except (pd.errors.EmptyDataError, pd.errors.ParserError) as exc:
        raise ReportError(
            f"{summary} is not a readable table ({exc}): run the sweep again."
        ) from exc
    if "point" not in runs:
        runs.insert(0, "point", [Path(str(d)).name for d in runs.get("run_dir", runs.index)])
    notes = []
    points_csv = root / POINTS_FILE
    if points_csv.exists():
        points = pd.read_csv(points_csv)
    else:
        points = points_table(runs)
        notes.append(f"{POINTS_FILE} is missing: the points were computed from {SUMMARY_FILE}.")
    meta = read_json(root / SWEEP_FILE)
    if not meta:
        notes.append(
            f"{SWEEP_FILE} is missing or unreadable: the grid and the environment are unknown."
        )
    return Sweep(root, runs, points.reset_index(drop=True), meta, notes)


def objective_ms(sweep: Sweep, given: float | None = None) -> float:
    """The latency objective: the one given, else the grid's `p99_objective_ms`, else the
    default."""
    if given:
        return float(given)
    return float((sweep.meta.get("grid") or {}).get("p99_objective_ms") or DEFAULT_P99_OBJECTIVE_MS)


def _params(points: pd.DataFrame) -> list[str]:
    return [c for c in point_params(points.columns) if points[c].notna().any()]


def varying_settings(points: pd.DataFrame) -> list[str]:
    """The config.* columns whose value differs between points, in the table's order."""
    return [c for c in _params(points) if points[c].astype(str).nunique() > 1]


def fixed_settings(points: pd.DataFrame) -> dict[str, object]:
    """The config.* settings every point shares: {name: value}."""
    varying = set(varying_settings(points))
    return {
        c.removeprefix("config."): points[c].dropna().iloc[0]
        for c in _params(points)
        if c not in varying
    }


def setting_names(points: pd.DataFrame) -> pd.Series:
    """A short name per point: its label, else the settings that vary over the grid's points
    (`threads=50 linger_ms=10`; a setting only the labelled extra points change is left out)."""
    grid = grid_points(points)
    varying = [c for c in varying_settings(points) if grid[c].astype(str).nunique() > 1]
    varying = varying or varying_settings(points)
    labels = points["label"] if "label" in points else pd.Series(None, index=points.index)
    names = []
    for i, row in points.iterrows():
        label = labels[i]
        if isinstance(label, str) and label.strip():
            names.append(label)
        elif varying:
            names.append(" ".join(f"{c.removeprefix('config.')}={plots.value_label(row[c])}"
                                  for c in varying))  # fmt: skip
        else:
            names.append(str(row.get("point", i)))
    return pd.Series(names, index=points.index)


def grid_points(points: pd.DataFrame) -> pd.DataFrame:
    """The points of the grid's product, without the labelled extra points."""
    if "label" not in points:
        return points
    return points[points["label"].isna() | points["label"].astype(str).str.strip().eq("")]


def is_capacity_search(points: pd.DataFrame) -> pd.Series:
    """The points that are capacity searches: their figures are those of an open-loop step at
    the capacity found, not of the grid's closed loop, so they appear only in the capacity
    section, never as settings beside the others."""
    columns = ("capacity_result", "capacity_eps", "capacity_searches")
    found = [points[c].notna() for c in columns if c in points]
    return pd.concat(found, axis=1).any(axis=1) if found else pd.Series(False, points.index)


def closed_loop(points: pd.DataFrame) -> pd.DataFrame:
    """The points that are runs (every point but the capacity searches)."""
    return points[~is_capacity_search(points)]


def searches(points: pd.DataFrame) -> pd.DataFrame:
    """The points that are capacity searches."""
    return points[is_capacity_search(points)]


def statuses(points: pd.DataFrame) -> pd.Series:
    return points["status"].fillna(OK) if "status" in points else pd.Series(OK, points.index)


def measured(points: pd.DataFrame) -> pd.DataFrame:
    """The runs (not capacity searches) that succeeded with a measured window: the points with
    figures to chart."""
    runs = closed_loop(points)
    tput = pd.to_numeric(runs.get(THROUGHPUT, pd.Series(index=runs.index, dtype=float)),
                         errors="coerce")  # fmt: skip
    p99 = pd.to_numeric(runs.get("latency_ms.http.p99", pd.Series(index=runs.index, dtype=float)),
                        errors="coerce")  # fmt: skip
    return runs[statuses(runs).eq(OK) & (tput.notna() | p99.notna())]


def without_window(points: pd.DataFrame) -> pd.DataFrame:
    """The runs whose repetitions had no measured window (every event in the warm-up)."""
    runs = closed_loop(points)
    return runs[statuses(runs).eq(NO_WINDOW)]


def repetitions(row: pd.Series) -> int:
    """How many repetitions a point's figures come from (its successful ones)."""
    for column in ("repeats_ok", "repeats"):
        value = number(row, column)
        if math.isfinite(value):
            return int(value)
    return 1


def interval_of(row: pd.Series, column: str) -> stats.Interval:
    """A figure's interval as the points table gives it, with what it may be called: a 95% CI,
    or the range of a few repetitions with its coverage (older tables lack the coverage column:
    it is worked out from the number of repetitions)."""
    lo, hi = number(row, f"{column}.ci_lo"), number(row, f"{column}.ci_hi")
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return stats.NO_INTERVAL
    coverage = number(row, f"{column}.ci_coverage")
    if math.isfinite(coverage):
        label = stats.CI_LABEL if coverage >= stats.CONFIDENCE else stats.RANGE_LABEL
    else:
        coverage, label = stats.interval_kind(repetitions(row))
    return stats.Interval(lo, hi, coverage, label)


def interval_words(n: int) -> str:
    """What the intervals of n repetitions are, in a sentence's words."""
    coverage, label = stats.interval_kind(n)
    if not label:
        return "no interval (one repetition)"
    if label == stats.CI_LABEL:
        return f"{stats.CI_LABEL}s of the median (distribution-free, from {n} repetitions)"
    return (f"the range of the {n} repetitions, which covers the true median only "
            f"{coverage:.0%} of the time (a {stats.CONFIDENCE:.0%} confidence interval needs 6 "
            "or more repetitions)")  # fmt: skip


def best_index(points: pd.DataFrame, p99_objective_ms: float) -> object:
    """The index of the point (a run, never a capacity search) with the highest throughput under
    the objective, or None."""
    best = best_point(closed_loop(points), p99_objective_ms)
    return None if best is None else best.name


def baseline_index(points: pd.DataFrame) -> object:
    """The seed-style baseline: the point labelled "seed-style", else the Werkzeug + flush one."""
    if "label" in points:
        labelled = points.index[points["label"].astype(str).str.strip().eq(BASELINE_LABEL)]
        if len(labelled):
            return labelled[0]
    server = points.get("config.server", pd.Series(index=points.index, dtype=object))
    delivery = points.get("config.delivery", pd.Series(index=points.index, dtype=object))
    seed = points.index[server.eq("werkzeug") & delivery.eq("flush")]
    return seed[0] if len(seed) else None


def has_intervals(points: pd.DataFrame) -> bool:
    return plots.interval_errors(plots.ok_points(points), THROUGHPUT) is not None


def number(row: pd.Series, column: str) -> float:
    value = pd.to_numeric(pd.Series([row.get(column)]), errors="coerce").iloc[0]
    return float(value)


_WORDS = {"true": True, "false": False, "1": True, "0": False, "1.0": True, "0.0": False}


def flag(value: object) -> bool | None:
    """A yes/no column's value (True/False, or its text after a CSV round trip), else None."""
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, str):
        return _WORDS.get(value.strip().lower())
    return None


def bools(values: pd.Series) -> pd.Series:
    return pd.Series([flag(v) for v in values], index=values.index, dtype=object)


def read_json(path: Path) -> dict:
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def run_dirs(sweep: Sweep, point: str) -> list[Path]:
    rows = sweep.runs[sweep.runs["point"].eq(point)]
    if "status" in rows:
        rows = rows[rows["status"].eq("ok")]
    return [Path(d) for d in rows.get("run_dir", pd.Series(dtype=str)).dropna()]
