"""Sweeps: a grid of run parameters, one executed experiment notebook per run, two tables.

A grid file is YAML: each run parameter maps to one value or a list of values, and the grid is
the cartesian product of the lists. Reserved keys act on the sweep, not on a run:

    threads: [50, 200]
    linger_ms: [0, 5]
    repeat: 3                  # repetitions of every point, interleaved (round-robin over points)
    slo: ["counts.lost == 0"]  # objectives checked on every run (also --slo)
    extra_points:              # single points on top of the grid's single values
      - {label: seed-style, server: werkzeug, delivery: flush, threads: 200}
      - {label: capacity, capacity: true, p99_objective_ms: 250}

A point with `capacity: true` (on the grid, for every point, or on one extra point) is a capacity
search under its `p99_objective_ms` (notebooks/capacity.ipynb, harness/capacity/) instead of one
run; it runs once, whatever `repeat` says, and its row in the tables carries `capacity_eps`.

Runs go one at a time (papermill's cwd is process-wide; each kernel is its own process), with
absolute paths, into `runs/<point>/` (`runs/<point>/rep-<k>/` when points repeat). A failing run is
recorded (failure.json) and the sweep goes on. Points that need no cluster of their own share one
embedded broker (or the external cluster), each run with a fresh topic.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import shlex
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import yaml

from harness.analysis import summarize_sweep
from harness.cluster import choose_bootstrap
from harness.environment import environment
from harness.kafka import EmbeddedKafka
from harness.kernels import papermill_kernel_kwargs
from harness.params import ParameterError, RunConfig
from harness.paths import DEFAULT_GRID, NOTEBOOKS, PROJECT_ROOT
from harness.progress import PointProgress, result_line
from harness.run import progress_printer, warm_up_broker
from harness.rundir import (
    CAPACITY_FILE,
    FAILURE_FILE,
    METRICS_FILE,
    POINTS_FILE,
    SUMMARY_FILE,
    SWEEP_FILE,
    read_json,
    repetition_dir,
    write_json,
)

EXTRA = "extra_points"
LABEL = "label"
REPEAT = "repeat"
SLO = "slo"
CAPACITY = "capacity"
P99_OBJECTIVE = "p99_objective_ms"
E2E_OBJECTIVE = "e2e_p99_objective_ms"
# A capacity point's search settings: grid key -> the capacity notebook's parameter.
SEARCH_KEYS = {"capacity_precision": "precision", "capacity_max_steps": "max_steps"}
# Keys of a grid file that configure the sweep rather than a run.
SWEEP_KEYS = (EXTRA, REPEAT, SLO)
# Keys of a point that say how to measure it, not how to run the system: not run parameters.
POINT_KEYS = (LABEL, CAPACITY, P99_OBJECTIVE, E2E_OBJECTIVE, *SEARCH_KEYS)


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


def grid_file_or_default(grid_file: str | Path | None, inline: dict | None) -> str | None:
    """The grid file to load: the one given, else the default grid unless inline entries make
    the whole grid (the CLI's `--set` alone, or a notebook's `grid` parameter)."""
    if grid_file:
        return str(Path(grid_file).resolve())
    return None if inline else str(DEFAULT_GRID)


def run_grid(grid: dict) -> dict:
    """The grid's run parameters, without the sweep's own keys."""
    return {k: v for k, v in grid.items() if k not in SWEEP_KEYS}


def grid_repeat(grid: dict) -> int:
    repeat = grid.get(REPEAT, 1)
    if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
        raise ValueError(f"repeat must be a whole number >= 1, not {repeat!r}")
    return repeat


def grid_slos(grid: dict, extra: list[str] | None = None) -> list[str]:
    """The sweep's objectives: the grid's `slo` (one expression or a list) and the flags'."""
    slos = grid.get(SLO) or []
    return [*([slos] if isinstance(slos, str) else slos), *(extra or [])]


def expand_grid(grid: dict) -> list[dict]:
    """Every point of the grid: the cartesian product of the lists, then the extra points.

    Each point is validated as a RunConfig here, so a misspelled parameter fails before any run;
    a value that is wrong for one point only (e.g. a bad acks) fails that point when it runs.
    """
    extras = grid.get(EXTRA, []) or []
    grid = run_grid(grid)
    lists = {k: v for k, v in grid.items() if isinstance(v, list)}
    fixed = {k: v for k, v in grid.items() if not isinstance(v, list)}
    points = [
        {**fixed, **dict(zip(lists, combo, strict=True))}
        for combo in itertools.product(*lists.values())
    ]
    for extra in extras:
        points.append({**fixed, **extra})
    for point in points:
        unknown = set(run_params(point)) - set(RunConfig.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown run parameter(s) {sorted(unknown)} in the grid")
        if is_capacity(point):
            capacity_objective(point)
    return points


def run_params(point: dict) -> dict:
    """A point's run parameters (without its label and its capacity settings)."""
    return {k: v for k, v in point.items() if k not in POINT_KEYS}


def is_capacity(point: dict) -> bool:
    return bool(point.get(CAPACITY))


def capacity_objective(point: dict):
    """The objective of a capacity point (ValueError, what to pass, when it cannot work)."""
    from harness.capacity import Objective, SearchSettings

    if point.get(P99_OBJECTIVE) is None:
        raise ValueError(f"a point with capacity: true needs {P99_OBJECTIVE} (its objective)")
    SearchSettings(**{param: point[key] for key, param in SEARCH_KEYS.items() if key in point})
    return Objective(p99_ms=point[P99_OBJECTIVE], e2e_p99_ms=point.get(E2E_OBJECTIVE))


def validate_grid(grid: dict, slos: list[str] | None = None) -> list[dict]:
    """Everything that can be checked before a kernel starts: points, repeat, objectives."""
    from harness.slo import parse_slos

    grid_repeat(grid)
    parse_slos(grid_slos(grid, slos))
    return expand_grid(grid)


def point_name(index: int, point: dict, varying: list[str]) -> str:
    """A readable, filesystem-safe directory name: `03-threads=200-linger_ms=5` or its label."""
    parts = [point[LABEL]] if LABEL in point else [f"{k}={point.get(k)}" for k in varying]
    parts = parts or ["point"]
    name = "-".join([f"{index:02d}", *parts])
    return re.sub(r"[^A-Za-z0-9=._-]+", "_", name)[:120]


def _varying(grid: dict) -> list[str]:
    """The grid's list-valued parameters: they name the points."""
    return [k for k, v in run_grid(grid).items() if isinstance(v, list)]


def _needs_own_cluster(point: dict) -> bool:
    """Several brokers or a fault that stops brokers (RunConfig decides); a point that is not
    a valid run fails in its own notebook, where the error is recorded."""
    try:
        return RunConfig.from_dict(run_params(point)).needs_own_cluster()
    except ValueError:
        return False


def execute_experiment_notebook(
    params: dict, run_dir: Path, kernel_name: str | None, slos: list[str] | None = None
) -> None:
    import papermill

    papermill.execute_notebook(
        str(NOTEBOOKS / "experiment.ipynb"),
        str(run_dir / "experiment.ipynb"),
        parameters={"params": params, "out_dir": str(run_dir), "slo": list(slos or [])},
        cwd=str(run_dir),
        kernel_name=kernel_name,
        progress_bar=False,
        **papermill_kernel_kwargs(),
    )


def schedule(points: list[dict], repeat: int) -> list[tuple[int, int]]:
    """(point index, repetition) pairs, round-robin over the points: repetition 1 of every point,
    then repetition 2, ..., so that a shared machine's drift spreads over all points. A capacity
    search runs once."""
    return [
        (i, k)
        for k in range(1, repeat + 1)
        for i, point in enumerate(points)
        if k == 1 or not is_capacity(point)
    ]


def execute_capacity_notebook(
    point: dict, params: dict, run_dir: Path, kernel_name: str | None, slos: list[str] | None = None
) -> None:
    """One capacity search (notebooks/capacity.ipynb) into `run_dir`."""
    import papermill

    papermill.execute_notebook(
        str(NOTEBOOKS / "capacity.ipynb"),
        str(run_dir / "capacity.ipynb"),
        parameters={
            "params": params,
            "out_dir": str(run_dir),
            "p99_objective_ms": float(point[P99_OBJECTIVE]),
            "e2e_p99_objective_ms": point.get(E2E_OBJECTIVE),
            "slo": list(slos or []),
            **{param: point[key] for key, param in SEARCH_KEYS.items() if key in point},
        },
        cwd=str(run_dir),
        kernel_name=kernel_name,
        progress_bar=False,
        **papermill_kernel_kwargs(),
    )


def run_sweep(
    grid: dict,
    out_dir: str | Path,
    kernel_name: str | None = None,
    execute: Callable[..., None] = execute_experiment_notebook,
    execute_capacity: Callable[..., None] = execute_capacity_notebook,
    progress: bool = True,
    slos: list[str] | None = None,
    command: str | None = None,
) -> pd.DataFrame:
    """Runs every point `repeat` times into `out_dir/runs/`, writes summary.csv (a row per run)
    and points.csv (a row per point: medians and intervals), and returns the summary."""
    from harness.analysis.points import points_table

    out_dir = Path(out_dir).resolve()
    points = expand_grid(grid)
    repeat = grid_repeat(grid)
    slos = grid_slos(grid, slos)
    varying = _varying(grid)
    names = [point_name(i, p, varying) for i, p in enumerate(points, 1)]
    (out_dir / "runs").mkdir(parents=True, exist_ok=True)
    env = environment()
    sweep_info = {
        "grid": grid, "points": len(points), "repeat": repeat, "slo": slos,
        "command": command, "environment": env,
    }  # fmt: skip
    write_json(out_dir / SWEEP_FILE, sweep_info)
    external = choose_bootstrap(grid.get("bootstrap_servers"))
    shared = None
    if not external and not all(_needs_own_cluster(p) for p in points):
        shared = EmbeddedKafka(root=out_dir / "kafka").start()
    runs: list[tuple[int, int, Path]] = []
    order = schedule(points, repeat)
    try:
        if shared is not None:
            first = next(points[i] for i, _ in order if not _needs_own_cluster(points[i]))
            sweep_info["broker_warmup"] = _warm_shared_broker(first, shared, progress)
            write_json(out_dir / SWEEP_FILE, sweep_info)
        with PointProgress(len(order), desc="runs", enabled=progress) as bar:
            for index, k in order:
                point = points[index]
                run_dir = repetition_dir(out_dir / "runs" / names[index], k, repeat)
                run_dir.mkdir(parents=True, exist_ok=True)
                runs.append((index, k, run_dir))
                params = run_params(point)
                cluster = external or (shared.bootstrap_servers if shared else None)
                if cluster and not _needs_own_cluster(point):
                    params.setdefault("bootstrap_servers", cluster)
                name = names[index] + (f" rep {k}/{repeat}" if repeat > 1 and not
                                       is_capacity(point) else "")  # fmt: skip
                bar.start(name)
                started = time.monotonic()
                error = None
                try:
                    if is_capacity(point):
                        execute_capacity(point, params, run_dir, kernel_name, slos)
                    else:
                        execute(params, run_dir, kernel_name, slos)
                except Exception as exc:
                    _record_failure(run_dir, params, exc)
                    error = _short_error(exc)
                bar.done(_result_line(name, run_dir, error, time.monotonic() - started))
    finally:
        if shared is not None:
            shared.stop()
    runs.sort(key=lambda r: (r[0], r[1]))  # the table lists a point's repetitions together
    summary = summarize_sweep([d for _, _, d in runs])
    summary.insert(1, "point", [names[i] for i, _, _ in runs])
    summary.insert(2, "label", [points[i].get(LABEL) for i, _, _ in runs])
    summary.insert(3, "repetition", [k for _, k, _ in runs])
    for key in ("git_commit", "kafka_version", "hostname", "cpu_count"):
        summary[f"sweep.{key}"] = env[key]
    summary.to_csv(out_dir / SUMMARY_FILE, index=False)
    points_table(summary).to_csv(out_dir / POINTS_FILE, index=False)
    return summary


def _warm_shared_broker(point: dict, shared: EmbeddedKafka, progress: bool) -> dict | None:
    """The sweep's broker is warmed once, with the load of the first point that runs on it (a
    point starting its own brokers warms them itself). A warm-up that fails is reported and the
    sweep goes on: the point's own runs will show the error where it belongs."""
    say = progress_printer(progress)
    try:
        cfg = RunConfig.from_dict(run_params(point))
        if cfg.broker_warmup_s <= 0:
            return None
        return warm_up_broker(cfg, shared.bootstrap_servers, say)
    except Exception as exc:
        say(f"broker warm-up failed ({_short_error(exc)}); the first run may meet a cold broker")
        return {"error": _short_error(exc)}


def _result_line(name: str, run_dir: Path, error: str | None, elapsed_s: float) -> str:
    """The terminal's line for a finished run: its figures, or its capacity, or its error."""
    if error is None and (run_dir / CAPACITY_FILE).exists():
        summary = read_json(run_dir / CAPACITY_FILE).get("summary")
        return f"{name}  {summary}  ({elapsed_s:.0f} s)"
    metrics = read_json(run_dir / METRICS_FILE) if error is None else None
    return result_line(name, metrics, error=error, elapsed_s=elapsed_s)


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
    out_dir: Path,
    grid_file: str | None,
    grid: dict | None,
    kernel_name: str | None = None,
    slos: list[str] | None = None,
    command: str | None = None,
) -> None:
    """Runs notebooks/sweep.ipynb (which calls run_sweep), streaming its output to this terminal."""
    import papermill

    papermill.execute_notebook(
        str(NOTEBOOKS / "sweep.ipynb"),
        str(out_dir / "sweep.ipynb"),
        parameters={
            "grid_file": grid_file,
            "grid": grid or {},
            "out_dir": str(out_dir),
            "kernel_name": kernel_name,
            "slo": list(slos or []),
            "command": command,
        },
        cwd=str(out_dir),
        kernel_name=kernel_name,
        stdout_file=sys.stdout,
        stderr_file=sys.stderr,
        progress_bar=False,  # the points' progress bar (harness.progress) is the one bar
        **papermill_kernel_kwargs(),
    )


def failed_slos(summary: pd.DataFrame) -> int:
    """Runs with at least one failed objective (metrics.json's `slo_ok`)."""
    if "slo_ok" not in summary:
        return 0
    return int(summary["slo_ok"].eq(False).sum())


def cmd_sweep(args: argparse.Namespace) -> int:
    from harness.report import render_report

    out_dir = Path(args.out).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    inline = {k: yaml.safe_load(v) for k, v in (item.split("=", 1) for item in args.set or [])}
    grid_file = grid_file_or_default(args.grid, inline)
    try:  # fail fast, before any kernel starts
        validate_grid(load_grid(grid_file, inline), args.slo)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise ParameterError(f"the grid: {exc}") from None
    command = shlex.join(["python", "-m", "harness", *sys.argv[1:]])
    execute_sweep_notebook(out_dir, grid_file, inline, args.kernel, args.slo, command)
    report = render_report(out_dir, p99_objective_ms=args.p99_objective_ms, kernel_name=args.kernel)
    summary = pd.read_csv(out_dir / SUMMARY_FILE)
    failed = int((summary["status"] != "ok").sum())
    print(f"summary: {out_dir / SUMMARY_FILE} ({len(summary)} runs, {failed} failed)")
    print(f"points: {out_dir / POINTS_FILE}")
    print(f"report: {report}")
    missed = failed_slos(summary)
    if missed:
        print(f"SLO failed in {missed} run(s): see the report", file=sys.stderr)
    return 1 if missed else 0


def add_parsers(sub) -> None:
    p = sub.add_parser(
        "sweep", help="papermill over a grid; writes DIR/summary.csv and report.html"
    )
    p.add_argument(
        "--grid", help=f"a YAML grid file (default: {DEFAULT_GRID.relative_to(PROJECT_ROOT)})"
    )
    p.add_argument(
        "--set", action="append", metavar="NAME=VALUE",
        help="an inline grid entry, YAML value (e.g. --set 'threads=[10, 50]'); repeatable",
    )  # fmt: skip
    p.add_argument("--out", required=True, help="the sweep directory")
    p.add_argument("--p99-objective-ms", type=float, default=None,
                   help="latency objective of the report's best setting")  # fmt: skip
    p.add_argument("--slo", action="append", metavar="EXPR",
                   help="an objective checked on every run, e.g. 'latency_ms.http.p99 < 250'; "
                        "repeatable; the sweep exits 1 when one fails")  # fmt: skip
    p.add_argument("--kernel", default=None, help="Jupyter kernel name (default: the notebook's)")
    p.set_defaults(func=cmd_sweep)
