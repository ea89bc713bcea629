"""Sweeps: a grid of run parameters, one executed experiment notebook per point, a summary table.

A grid file is YAML: each run parameter maps to one value or a list of values, and the grid is the
cartesian product of the lists. One reserved key, `extra_points`, adds single points (each a
mapping of overrides on top of the grid's single values), e.g. the seed-style baseline:

    threads: [50, 200]
    linger_ms: [0, 5]
    extra_points:
      - {label: seed-style, server: werkzeug, delivery: flush, threads: 200}

Points run one at a time (papermill's cwd is process-wide; each kernel is its own process), with
absolute paths. A failing point is recorded (failure.json) and the sweep goes on. Points that need
no broker of their own share one embedded broker, each with a fresh topic.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import yaml

from harness.analysis import summarize_sweep
from harness.analysis.sweep import FAILURE_FILE
from harness.environment import environment
from harness.kafka import EmbeddedKafka
from harness.params import RunConfig
from harness.run import measure_api_ceiling

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
DEFAULT_GRID = ROOT / "grids" / "default.yaml"
EXTRA = "extra_points"
LABEL = "label"


def load_grid(path: str | Path | None = None, inline: dict | None = None) -> dict:
    """The grid from a YAML file and/or an inline mapping (inline values win)."""
    grid: dict = {}
    if path:
        loaded = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{path}: a grid file is a mapping of run parameters to values")
        grid.update(loaded)
    grid.update(inline or {})
    return grid


def expand_grid(grid: dict) -> list[dict]:
    """Every point of the grid: the cartesian product of the lists, then the extra points.

    Each point is validated as a RunConfig here, so a misspelled parameter fails before any run;
    a value that is wrong for one point only (e.g. a bad acks) fails that point when it runs.
    """
    grid = dict(grid)
    extras = grid.pop(EXTRA, []) or []
    lists = {k: v for k, v in grid.items() if isinstance(v, list)}
    fixed = {k: v for k, v in grid.items() if not isinstance(v, list)}
    points = [
        {**fixed, **dict(zip(lists, combo, strict=True))}
        for combo in itertools.product(*lists.values())
    ]
    for extra in extras:
        points.append({**fixed, **extra})
    for point in points:
        params = {k: v for k, v in point.items() if k != LABEL}
        unknown = set(params) - set(RunConfig.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown run parameter(s) {sorted(unknown)} in the grid")
    return points


def point_name(index: int, point: dict, varying: list[str]) -> str:
    """A readable, filesystem-safe directory name: `03-threads=200-linger_ms=5` or its label."""
    parts = [point[LABEL]] if LABEL in point else [f"{k}={point.get(k)}" for k in varying]
    parts = parts or ["point"]
    name = "-".join([f"{index:02d}", *parts])
    return re.sub(r"[^A-Za-z0-9=._-]+", "_", name)[:120]


def _varying(grid: dict) -> list[str]:
    """The grid's list-valued parameters: they name the points."""
    return [k for k, v in grid.items() if isinstance(v, list) and k != EXTRA]


def _needs_own_cluster(point: dict) -> bool:
    return point.get("brokers", 1) > 1 or point.get("fault") == "kill-broker"


def execute_experiment_notebook(params: dict, run_dir: Path, kernel_name: str | None) -> None:
    import papermill

    papermill.execute_notebook(
        str(NOTEBOOKS / "experiment.ipynb"),
        str(run_dir / "experiment.ipynb"),
        parameters={"params": params, "out_dir": str(run_dir)},
        cwd=str(run_dir),
        kernel_name=kernel_name,
        progress_bar=False,
    )


class CeilingCache:
    """The simulator's ceiling (requests/s against the same server with a no-op handler), measured
    once per distinct client/server shape of the sweep, so each run can say if it was client-bound."""

    KEYS = ("threads", "endpoint", "events_per_request", "server", "workers", "worker_threads")

    def __init__(self) -> None:
        self.values: dict[tuple, float | None] = {}

    def get(self, params: dict, log_dir: Path) -> float | None:
        try:
            cfg = RunConfig.from_dict(params)
        except ValueError:
            return None  # a bad point: it fails in its own notebook, where the error is recorded
        key = tuple(getattr(cfg, k) for k in self.KEYS)
        if key not in self.values:
            try:
                self.values[key] = measure_api_ceiling(cfg, log_dir, events=5000, repeats=1)
            except Exception as exc:  # the runs still run; they just cannot be judged
                print(f"[sweep] ceiling not measured: {exc}", file=sys.stderr)
                self.values[key] = None
        return self.values[key]


def run_sweep(
    grid: dict,
    out_dir: str | Path,
    kernel_name: str | None = None,
    execute: Callable[[dict, Path, str | None], None] = execute_experiment_notebook,
    progress: bool = True,
    measure_ceilings: bool = True,
) -> pd.DataFrame:
    """Runs every point into `out_dir/runs/<point>/`, writes `out_dir/summary.csv`, returns it."""
    out_dir = Path(out_dir).resolve()
    points = expand_grid(grid)
    varying = _varying(grid)
    (out_dir / "runs").mkdir(parents=True, exist_ok=True)
    env = environment()
    (out_dir / "sweep.json").write_text(
        json.dumps({"grid": grid, "points": len(points), "environment": env}, indent=2) + "\n"
    )
    shared = None
    if not grid.get("bootstrap_servers") and not all(_needs_own_cluster(p) for p in points):
        shared = EmbeddedKafka(root=out_dir / "kafka").start()
    run_dirs = []
    ceilings = CeilingCache()
    try:
        for index, point in enumerate(points, 1):
            run_dir = out_dir / "runs" / point_name(index, point, varying)
            run_dir.mkdir(parents=True, exist_ok=True)
            run_dirs.append(run_dir)
            params = {k: v for k, v in point.items() if k != LABEL}
            if shared is not None and not _needs_own_cluster(point):
                params.setdefault("bootstrap_servers", shared.bootstrap_servers)
            if progress:
                print(f"[sweep] point {index}/{len(points)}: {run_dir.name}", file=sys.stderr,
                      flush=True)  # fmt: skip
            started = time.monotonic()
            try:
                if measure_ceilings and params.get("bootstrap_servers"):
                    params.setdefault("ceiling_rps", ceilings.get(params, out_dir / "ceilings"))
                execute(params, run_dir, kernel_name)
                outcome = "ok"
            except Exception as exc:
                _record_failure(run_dir, params, exc)
                outcome = f"FAILED: {_short_error(exc)}"
            if progress:
                print(f"[sweep]   {outcome} ({time.monotonic() - started:.0f} s)", file=sys.stderr,
                      flush=True)  # fmt: skip
    finally:
        if shared is not None:
            shared.stop()
    summary = summarize_sweep(run_dirs)
    summary.insert(1, "point", [d.name for d in run_dirs])
    summary.insert(2, "label", [p.get(LABEL) for p in points])
    for key in ("git_commit", "kafka_version", "hostname", "cpu_count"):
        summary[f"sweep.{key}"] = env[key]
    summary.to_csv(out_dir / "summary.csv", index=False)
    return summary


def _short_error(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[-1] if text else type(exc).__name__)[:300]


def _record_failure(run_dir: Path, params: dict, exc: BaseException) -> None:
    failure = {
        "error": f"{type(exc).__name__}: {_short_error(exc)}",
        "config": params,
        "traceback": traceback.format_exception(exc)[-20:],
    }
    (run_dir / FAILURE_FILE).write_text(json.dumps(failure, indent=2, default=str) + "\n")


def execute_sweep_notebook(
    out_dir: Path, grid_file: str | None, grid: dict | None, kernel_name: str | None = None
) -> None:
    """Runs notebooks/sweep.ipynb (which calls run_sweep), streaming its output to this terminal."""
    import papermill

    papermill.execute_notebook(
        str(NOTEBOOKS / "sweep.ipynb"),
        str(out_dir / "sweep.ipynb"),
        parameters={
            "grid_file": str(Path(grid_file).resolve()) if grid_file else None,
            "grid": grid or {},
            "out_dir": str(out_dir),
            "kernel_name": kernel_name,
        },
        cwd=str(out_dir),
        kernel_name=kernel_name,
        stdout_file=sys.stdout,
        stderr_file=sys.stderr,
        progress_bar=True,
    )


def cmd_sweep(args: argparse.Namespace) -> int:
    from harness.report import render_report

    out_dir = Path(args.out).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    grid_file = args.grid or (None if args.set else str(DEFAULT_GRID))
    inline = {k: yaml.safe_load(v) for k, v in (item.split("=", 1) for item in args.set or [])}
    expand_grid(load_grid(grid_file, inline))  # fail fast on a bad grid, before any kernel starts
    execute_sweep_notebook(out_dir, grid_file, inline, args.kernel)
    report = render_report(out_dir, p99_objective_ms=args.p99_objective_ms, kernel_name=args.kernel)
    summary = pd.read_csv(out_dir / "summary.csv")
    failed = int((summary["status"] != "ok").sum())
    print(f"summary: {out_dir / 'summary.csv'} ({len(summary)} points, {failed} failed)")
    print(f"report: {report}")
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser(
        "sweep", help="papermill over a grid; writes DIR/summary.csv and report.html"
    )
    p.add_argument("--grid", help=f"a YAML grid file (default: {DEFAULT_GRID.relative_to(ROOT)})")
    p.add_argument(
        "--set", action="append", metavar="NAME=VALUE",
        help="an inline grid entry, YAML value (e.g. --set 'threads=[10, 50]'); repeatable",
    )  # fmt: skip
    p.add_argument("--out", required=True, help="the sweep directory")
    p.add_argument("--p99-objective-ms", type=float, default=None,
                   help="latency objective of the report's best setting")  # fmt: skip
    p.add_argument("--kernel", default=None, help="Jupyter kernel name (default: the notebook's)")
    p.set_defaults(func=cmd_sweep)
