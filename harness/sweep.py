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
run; it repeats like any point, and its row in the tables carries the median `capacity_eps` and
the range of its searches. An extra point may carry its own `repeat` (e.g. a capacity search run
once in a sweep whose runs repeat 3 times). Another point may take its rate from that search:
`capacity_from: label:NAME` (with `rate_fraction`) names the capacity point labelled NAME, which
then runs first, every repetition, and the point reads its capacity.json (the median of its
searches when it repeats). A run point's `p99_objective_ms` judges its timeline's bins (the fault
figures).

Runs go one at a time (papermill's cwd is process-wide; each kernel is its own process), with
absolute paths, into `runs/<point>/` (`runs/<point>/rep-<k>/` when points repeat). A failing run is
recorded (failure.json) and the sweep goes on. Points that need no cluster of their own share one
embedded broker (or the external cluster), each run with a fresh topic.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import shlex
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import yaml

from app.settings import SECURITY_ENV
from harness.analysis import summarize_sweep
from harness.cluster import choose_bootstrap
from harness.environment import environment
from harness.kafka import EmbeddedKafka
from harness.kernels import papermill_kernel_kwargs
from harness.params import (
    API_KEY_ENV,
    LABEL_REFERENCE,
    SECRET_SET,
    ParameterError,
    RunConfig,
    ineffective,
)
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
# A run parameter naming a file: relative to the sweep's working directory, made absolute.
EVENTS_FILE = "events_file"
# Keys of a point that say how to measure it, not how to run the system: not run parameters.
POINT_KEYS = (LABEL, CAPACITY, P99_OBJECTIVE, E2E_OBJECTIVE, REPEAT, *SEARCH_KEYS)


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
    """The grid's `repeat` (or a point's own, for an extra point that sets it)."""
    repeat = grid.get(REPEAT, 1)
    if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
        raise ValueError(f"repeat must be a whole number >= 1, not {repeat!r}")
    return repeat


def point_repeat(point: dict, repeat: int) -> int:
    """How many times a point runs: its own `repeat` when it sets one, else the grid's."""
    return grid_repeat(point) if REPEAT in point else repeat


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
        if point.get(EVENTS_FILE):  # runs execute elsewhere (their own directory): absolute
            point[EVENTS_FILE] = str(Path(point[EVENTS_FILE]).expanduser().resolve())
        unknown = set(run_params(point)) - set(RunConfig.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown run parameter(s) {sorted(unknown)} in the grid")
        if is_capacity(point):
            capacity_objective(point)
        if REPEAT in point:
            grid_repeat(point)
    return points


def run_params(point: dict) -> dict:
    """A point's run parameters (without its label and its capacity settings)."""
    return {k: v for k, v in point.items() if k not in POINT_KEYS}


CAPACITY_FROM = "capacity_from"
# A stand-in rate for checking a point whose rate comes from a capacity found in the same sweep.
_CHECK_RATE = 1000.0


def capacity_reference(point: dict) -> str | None:
    """The label a point's `capacity_from: label:NAME` names, else None."""
    value = point.get(CAPACITY_FROM)
    if isinstance(value, str) and value.startswith(LABEL_REFERENCE):
        return value[len(LABEL_REFERENCE) :].strip()
    return None


def referenced_points(points: list[dict]) -> dict[int, int]:
    """{index of a point whose capacity_from names a label: index of the capacity point with that
    label}; ValueError when the label names no capacity point of the grid."""
    labels = {p.get(LABEL): i for i, p in enumerate(points) if p.get(LABEL) is not None}
    found = {}
    for i, point in enumerate(points):
        label = capacity_reference(point)
        if label is None:
            continue
        target = labels.get(label)
        if target is None or not is_capacity(points[target]):
            capacity_labels = [p.get(LABEL) for p in points if is_capacity(p) and p.get(LABEL)]
            raise ValueError(
                f"capacity_from: {LABEL_REFERENCE}{label} names no capacity point of the grid "
                f"(capacity points with a label: {capacity_labels or 'none'})"
            )
        found[i] = target
    return found


def checkable_params(point: dict) -> dict:
    """A point's run parameters as they can be checked before the sweep runs: a capacity found
    in the same sweep is not known yet, so a stand-in rate takes its place."""
    params = run_params(point)
    if capacity_reference(point) is not None:
        params.pop(CAPACITY_FROM)
        params.pop("rate_fraction", None)
        params["rate"] = _CHECK_RATE
    return params


def is_capacity(point: dict) -> bool:
    return bool(point.get(CAPACITY))


def capacity_objective(point: dict):
    """The objective of a capacity point (ValueError, what to pass, when it cannot work)."""
    from harness.capacity import Objective, SearchSettings

    if point.get(P99_OBJECTIVE) is None:
        raise ValueError(f"a point with capacity: true needs {P99_OBJECTIVE} (its objective)")
    SearchSettings(**{param: point[key] for key, param in SEARCH_KEYS.items() if key in point})
    return Objective(p99_ms=point[P99_OBJECTIVE], e2e_p99_ms=point.get(E2E_OBJECTIVE))


def grid_warnings(grid: dict, points: list[dict]) -> list[str]:
    """Parameters of a point that do nothing with its others (params.ineffective), by point."""
    names = [point_name(i, p, _varying(grid)) for i, p in enumerate(points, 1)]
    out = []
    for name, point in zip(names, points, strict=True):
        try:
            cfg = RunConfig.from_dict(checkable_params(point))
        except ValueError:
            continue  # a point that cannot run fails in its own notebook, with its error
        out += [f"{name}: {w}" for w in ineffective(checkable_params(point), cfg, as_flags=False)]
    return out


def validate_grid(grid: dict, slos: list[str] | None = None) -> list[dict]:
    """Everything that can be checked before a kernel starts: points, repeat, objectives, and
    every point as a run on the sweep's cluster (a bad value, several brokers or a broker fault
    on an external cluster): the command line refuses such a grid whole, saying which point."""
    from harness.slo import parse_slos

    grid_repeat(grid)
    parse_slos(grid_slos(grid, slos))
    points = expand_grid(grid)
    names = [point_name(i, p, _varying(grid)) for i, p in enumerate(points, 1)]
    referenced_points(points)
    for name, point in zip(names, points, strict=True):
        try:
            cfg = RunConfig.from_dict(checkable_params(point))
        except ValueError as exc:
            raise ValueError(f"point {name}: {exc}") from None
        if is_capacity(point) and (cfg.capacity_from or cfg.stages or cfg.fault != "none"):
            raise ValueError(
                f"point {name}: a capacity search finds the rate itself, from a steady open "
                "loop without faults: drop capacity_from, stages and fault from it"
            )
    return points


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
        return RunConfig.from_dict(checkable_params(point)).needs_own_cluster()
    except ValueError:
        return False


def execute_experiment_notebook(
    params: dict,
    run_dir: Path,
    kernel_name: str | None,
    slos: list[str] | None = None,
    p99_objective_ms: float | None = None,
) -> None:
    import papermill

    papermill.execute_notebook(
        str(NOTEBOOKS / "experiment.ipynb"),
        str(run_dir / "experiment.ipynb"),
        parameters={
            "params": params,
            "out_dir": str(run_dir),
            "slo": list(slos or []),
            "p99_objective_ms": p99_objective_ms,
        },  # fmt: skip
        cwd=str(run_dir),
        kernel_name=kernel_name,
        progress_bar=False,
        **papermill_kernel_kwargs(),
    )


def schedule(points: list[dict], repeat: int) -> list[tuple[int, int]]:
    """(point index, repetition) pairs, round-robin over the points: repetition 1 of every point,
    then repetition 2, ..., so that a shared machine's drift spreads over all points (capacity
    searches too). A point with its own `repeat` runs that many times. A capacity point that
    other points take their rate from (`capacity_from: label:NAME`) runs first, every
    repetition: its capacity must be known before they start."""
    counts = [point_repeat(point, repeat) for point in points]
    first = sorted(set(referenced_points(points).values()))
    order = [(i, k) for i in first for k in range(1, counts[i] + 1)]
    return order + [
        (i, k)
        for k in range(1, max(counts, default=0) + 1)
        for i in range(len(points))
        if k <= counts[i] and i not in first
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
        "grid": without_secrets(grid), "points": len(points), "repeat": repeat, "slo": slos,
        "command": command, "environment": env,
    }  # fmt: skip
    write_json(out_dir / SWEEP_FILE, sweep_info)
    external = choose_bootstrap(grid.get("bootstrap_servers"))
    if not external:  # the embedded brokers speak plaintext: no kernel may take another's SASL
        for var in SECURITY_ENV:
            os.environ.pop(var, None)
    shared = None
    if not external and not all(_needs_own_cluster(p) for p in points):
        shared = EmbeddedKafka(root=out_dir / "kafka").start()
    runs: list[tuple[int, int, Path]] = []
    order = schedule(points, repeat)
    references = referenced_points(points)
    try:
        if shared is not None:
            first = next(points[i] for i, _ in order if not _needs_own_cluster(points[i]))
            sweep_info["broker_warmup"] = _warm_shared_broker(first, shared, progress)
            write_json(out_dir / SWEEP_FILE, sweep_info)
        with PointProgress(len(order), desc="runs", enabled=progress) as bar:
            for index, k in order:
                point = points[index]
                reps = point_repeat(point, repeat)
                run_dir = repetition_dir(out_dir / "runs" / names[index], k, reps)
                run_dir.mkdir(parents=True, exist_ok=True)
                runs.append((index, k, run_dir))
                params = run_params(point)
                # A secret travels to the kernel in its environment, never as a parameter
                # (papermill writes those into the executed notebook).
                if params.get("api_key"):
                    os.environ[API_KEY_ENV] = str(params.pop("api_key"))
                cluster = external or (shared.bootstrap_servers if shared else None)
                if cluster and not _needs_own_cluster(point):
                    params.setdefault("bootstrap_servers", cluster)
                if index in references:  # the capacity point that ran first: its directory
                    params[CAPACITY_FROM] = str(out_dir / "runs" / names[references[index]])
                name = names[index] + (f" rep {k}/{reps}" if reps > 1 else "")
                bar.start(name)
                started = time.monotonic()
                error = None
                try:
                    if is_capacity(point):
                        execute_capacity(point, params, run_dir, kernel_name, slos)
                    else:
                        execute(params, run_dir, kernel_name, slos, point.get(P99_OBJECTIVE))
                except Exception as exc:
                    _record_failure(run_dir, params, exc)
                    error = _short_error(exc)
                bar.done(_result_line(name, run_dir, error, time.monotonic() - started))
                if is_capacity(point) and k == reps and index in references.values():
                    # the points that take their rate from it read the median of its searches
                    _write_capacity_summaries(out_dir, [point], [names[index]], [
                        (0, kk, d) for i, kk, d in runs if i == index])  # fmt: skip
    finally:
        if shared is not None:
            shared.stop()
    runs.sort(key=lambda r: (r[0], r[1]))  # the table lists a point's repetitions together
    _write_capacity_summaries(out_dir, points, names, runs)
    summary = summarize_sweep([d for _, _, d in runs])
    summary.insert(1, "point", [names[i] for i, _, _ in runs])
    summary.insert(2, "label", [points[i].get(LABEL) for i, _, _ in runs])
    summary.insert(3, "repetition", [k for _, k, _ in runs])
    for key in ("git_commit", "kafka_version", "hostname", "cpu_count"):
        summary[f"sweep.{key}"] = env[key]
    summary.to_csv(out_dir / SUMMARY_FILE, index=False)
    points_table(summary).to_csv(out_dir / POINTS_FILE, index=False)
    return summary


def without_secrets(grid: dict) -> dict:
    """The grid as files may show it: an API key only says that it was set."""

    def clean(mapping: dict) -> dict:
        out = {k: (SECRET_SET if k == "api_key" and v else v) for k, v in mapping.items()}
        if isinstance(out.get(EXTRA), list):
            out[EXTRA] = [clean(e) if isinstance(e, dict) else e for e in out[EXTRA]]
        return out

    return clean(grid)


def _write_capacity_summaries(
    out_dir: Path, points: list[dict], names: list[str], runs: list[tuple[int, int, Path]]
) -> None:
    """A capacity point searched several times gets `runs/<point>/capacity.json`: the median
    capacity and the range of its searches (harness.capacity.tables.combine_searches)."""
    from harness.capacity.tables import combine_searches

    for index, point in enumerate(points):
        dirs = [d for i, _, d in runs if i == index]
        if is_capacity(point) and len(dirs) > 1:
            docs = [read_json(d / CAPACITY_FILE) for d in dirs if (d / CAPACITY_FILE).exists()]
            combined = combine_searches(docs, [str(d.relative_to(out_dir)) for d in dirs])
            write_json(out_dir / "runs" / names[index] / CAPACITY_FILE, combined)


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
        grid = load_grid(grid_file, inline)
        points = validate_grid(grid, args.slo)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise ParameterError(f"the grid: {exc}") from None
    for warning in grid_warnings(grid, points):
        print(f"warning: {warning}", file=sys.stderr)
    command = shlex.join(["python", "-m", "harness", *sys.argv[1:]])
    execute_sweep_notebook(out_dir, grid_file, inline, args.kernel, args.slo, command)
    report = render_report(out_dir, p99_objective_ms=args.p99_objective_ms, kernel_name=args.kernel)
    summary = pd.read_csv(out_dir / SUMMARY_FILE)
    print(f"summary: {out_dir / SUMMARY_FILE} ({len(summary)} runs)")
    print(f"points: {out_dir / POINTS_FILE}")
    print(f"report: {report}")
    problems = sweep_problems(summary)
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if any(not p.startswith(NOTE) for p in problems) else 0


NOTE = "note:"


def sweep_problems(summary: pd.DataFrame) -> list[str]:
    """What the exit code answers for (docs/CONTRACTS.md): failed runs, lost events and failed
    objectives exit 1; runs without a measured window are said (a `note:`), not failed."""
    from harness.analysis.metrics import FAILED, NO_WINDOW

    status = summary["status"] if "status" in summary else pd.Series(dtype=object)
    lost = pd.to_numeric(summary.get("counts.lost", pd.Series(dtype=float)), errors="coerce")
    problems = []
    if status.eq(FAILED).any():
        problems.append(f"FAILED: {int(status.eq(FAILED).sum())} run(s) failed: see the report")
    if (lost > 0).any():
        problems.append(f"LOST: {int(lost.sum()):,} accepted event(s) never reached the log, in "
                        f"{int((lost > 0).sum())} run(s): see the report")  # fmt: skip
    missed = failed_slos(summary)
    if missed:
        problems.append(f"SLO failed in {missed} run(s): see the report")
    if status.eq(NO_WINDOW).any():
        problems.append(f"{NOTE} {int(status.eq(NO_WINDOW).sum())} run(s) had no measured window "
                        "(every event fell in the warm-up): no figures for them")  # fmt: skip
    return problems


def add_parsers(sub) -> None:
    p = sub.add_parser(
        "sweep", help="papermill over a grid; writes DIR/summary.csv and report.html"
    )
    p.add_argument(
        "--grid",
        help=f"a YAML grid file (default: {DEFAULT_GRID.relative_to(PROJECT_ROOT)}, unless --set "
        "entries come alone)",
    )
    p.add_argument(
        "--set", action="append", metavar="NAME=VALUE",
        help="an inline grid entry, YAML value (e.g. --set 'threads=[10, 50]'); repeatable. "
        "Given without --grid, the --set entries are the whole grid: the default grid (and its "
        "seed-style baseline) is not used; --grid grids/default.yaml --set ... changes it",
    )  # fmt: skip
    p.add_argument("--out", required=True, help="the sweep directory")
    p.add_argument("--p99-objective-ms", type=float, default=None,
                   help="latency objective of the report's best setting")  # fmt: skip
    p.add_argument("--slo", action="append", metavar="EXPR",
                   help="an objective checked on every run, e.g. 'latency_ms.http.p99 < 250'; "
                        "repeatable; the sweep exits 1 when one fails (as it does when a run "
                        "fails or loses an event)")  # fmt: skip
    p.add_argument("--kernel", default=None, help="Jupyter kernel name (default: the notebook's)")
    p.set_defaults(func=cmd_sweep)
