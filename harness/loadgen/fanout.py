"""A simulation spread over several client processes (`processes` > 1).

Each worker (worker.py, a ManagedProcess) takes every N-th request; all start at one instant
published once every worker is ready, so their open-loop schedules line up. The parent merges
their measurements into one RequestLog.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path

import numpy as np

from harness.loadgen.clock import Clock
from harness.loadgen.config import SimulatorConfig
from harness.loadgen.drive import DriveStats
from harness.loadgen.requestlog import RequestLog
from harness.loadgen.worker import write_atomically
from harness.processes import ManagedProcess

READY_TIMEOUT_S = 60.0
GO_MARGIN_S = 0.02  # workers poll for `go` every ms: all are waiting on the instant itself


class WorkerFailed(RuntimeError):
    pass


def _check_alive(workers: list[ManagedProcess]) -> None:
    for worker in workers:
        code = worker.returncode()
        if code not in (None, 0):
            raise WorkerFailed(f"{worker.name} exited {code}:\n{worker.log_tail(20)}")


def _wait_ready(workers: list[ManagedProcess], work_dir: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not all((work_dir / f"ready-{k}").exists() for k in range(len(workers))):
        _check_alive(workers)
        if time.monotonic() > deadline:
            raise WorkerFailed("simulator workers not ready in time")
        time.sleep(0.01)


def _progress(work_dir: Path, count: int) -> int:
    done = 0
    for k in range(count):
        try:
            done += int((work_dir / f"progress-{k}").read_text() or 0)
        except (FileNotFoundError, ValueError):
            pass
    return done


def _wait_done(
    workers: list[ManagedProcess], work_dir: Path, on_tick: Callable[[int], None]
) -> None:
    while any(w.running() for w in workers):
        on_tick(_progress(work_dir, len(workers)))
        time.sleep(0.1)
    _check_alive(workers)
    for k in range(len(workers)):
        if not (work_dir / f"part-{k}.npz").exists():
            raise WorkerFailed(f"simulator-{k} left no results:\n{workers[k].log_tail(20)}")


def run_processes(
    config: SimulatorConfig,
    clock: Clock,
    log: RequestLog,
    on_tick: Callable[[int], None] = lambda done: None,
) -> DriveStats:
    count = config.processes
    with tempfile.TemporaryDirectory(prefix="simulator-") as tmp, ExitStack() as stack:
        work_dir = Path(tmp)
        spec = {"config": asdict(config), "epoch0": clock.epoch0, "perf0": clock.perf0}
        (work_dir / "spec.json").write_text(json.dumps(spec))
        workers = []
        for k in range(count):
            cmd = [sys.executable, "-m", "harness.loadgen.worker", str(work_dir), str(k)]
            proc = ManagedProcess(f"simulator-{k}", cmd, work_dir / f"worker-{k}.log")
            workers.append(stack.enter_context(proc))
        _wait_ready(workers, work_dir)
        start_at = clock.now() + GO_MARGIN_S
        write_atomically(work_dir / "go", repr(start_at))
        _wait_done(workers, work_dir, on_tick)
        stats = []
        for k in range(count):
            with np.load(work_dir / f"part-{k}.npz") as part:
                log.merge(dict(part))
                stats.append(part["stats"])
    on_tick(log.events_done)
    return DriveStats(
        start=start_at,
        end=max(float(s[1]) for s in stats),
        cap_waits=int(sum(s[2] for s in stats)),
        max_in_flight=int(sum(s[3] for s in stats)),
        taken=int(sum(s[4] for s in stats)),
    )
