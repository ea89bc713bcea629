"""A sweep as a table: one row per run directory, and the best setting under a latency objective.

A run directory holds `metrics.json` when the run succeeded. A failed run holds `failure.json`
(`{"error": ..., "config": {...}}`; the config may also come from a `config.json` beside it) or
no metrics.json at all; it becomes a row with status "failed" and the error, never an exception.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from harness.analysis.metrics import FAILED, OK
from harness.rundir import CAPACITY_FILE, CONFIG_FILE, FAILURE_FILE, METRICS_FILE, read_json

_FRONT = ["run_dir", "status", "error"]


def _failure_row(run_dir: Path, error: str) -> dict:
    """A failed run: its error, and its config when the run left one behind."""
    row: dict = {"error": error}
    for name in (FAILURE_FILE, CONFIG_FILE):
        try:
            found = read_json(run_dir / name)
        except (OSError, ValueError):
            continue
        config = found.get("config") if name == FAILURE_FILE else found
        if isinstance(config, dict):
            row["config"] = config
            break
    return row


def _failure_error(run_dir: Path) -> str:
    try:
        failure = read_json(run_dir / FAILURE_FILE)
    except ValueError as exc:
        return f"unreadable {FAILURE_FILE}: {exc}"
    if isinstance(failure, dict) and failure.get("error"):
        return str(failure["error"])
    return json.dumps(failure)


def _capacity_row(run_dir: Path) -> dict:
    """A capacity search as a row: the metrics of its step at the capacity found (when there is
    one), its setting as the config, and the capacity_* columns."""
    from harness.capacity.tables import summary_fields

    doc = read_json(run_dir / CAPACITY_FILE)
    metrics: dict = {}
    at = (doc.get("at_capacity") or {}).get("run_dir")
    if at and (run_dir / at / METRICS_FILE).exists():
        metrics = read_json(run_dir / at / METRICS_FILE)
    return {"status": OK, "error": None, **metrics, "config": doc.get("setting") or {},
            **summary_fields(doc)}  # fmt: skip


def _run_row(run_dir: Path) -> dict:
    """The nested dict of one run (metrics, a capacity search, or a failure), before flattening."""
    if (run_dir / FAILURE_FILE).exists():
        return {"status": FAILED, **_failure_row(run_dir, _failure_error(run_dir))}
    if (run_dir / CAPACITY_FILE).exists():
        return _capacity_row(run_dir)
    try:
        metrics = read_json(run_dir / METRICS_FILE)
    except FileNotFoundError:
        return {"status": FAILED, **_failure_row(run_dir, f"no {METRICS_FILE} in {run_dir}")}
    except (OSError, ValueError) as exc:
        return {"status": FAILED, **_failure_row(run_dir, f"unreadable {METRICS_FILE}: {exc}")}
    if not isinstance(metrics, dict):
        return {"status": FAILED, "error": f"{METRICS_FILE} is not an object"}
    return {"status": OK, "error": None, **metrics}  # its own status: ok or no-window


def summarize_sweep(run_dirs: Iterable[str | Path]) -> pd.DataFrame:
    """One row per run: run_dir, status ("ok", "no-window": no measured window, or "failed"),
    error, then every key of metrics.json
    flattened with dots (`config.threads`, `throughput_eps`, `latency_ms.http.p99`, ...); a
    capacity search adds capacity_eps, capacity_reason, capacity_result, capacity_bound_eps."""
    rows = []
    for run_dir in map(Path, run_dirs):
        rows.append({"run_dir": str(run_dir), **_run_row(run_dir)})
    if not rows:
        return pd.DataFrame(columns=_FRONT)
    table = pd.json_normalize(rows, sep=".")
    return table[_FRONT + [c for c in table.columns if c not in _FRONT]]


def best_setting(
    summary_df: pd.DataFrame,
    p99_ms_max: float,
    latency: str = "latency_ms.http.p99",
    throughput: str = "throughput_eps",
) -> pd.Series | None:
    """The successful run with the highest throughput whose p99 latency is below `p99_ms_max`
    (strictly), or None when no run meets the objective."""
    if summary_df.empty or latency not in summary_df or throughput not in summary_df:
        return None
    ok = summary_df["status"].eq("ok")
    lat = pd.to_numeric(summary_df[latency], errors="coerce")
    thr = pd.to_numeric(summary_df[throughput], errors="coerce")
    feasible = ok & (lat < p99_ms_max) & thr.notna()
    if not feasible.any():
        return None
    return summary_df.loc[thr[feasible].idxmax()]
