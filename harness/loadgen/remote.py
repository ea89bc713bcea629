"""What runs on a Dask worker: one load generator's share of a run (generators.py submits it).

`generate` drives share(config, index, count) from the start instant it is given in this worker's
own clock, says it is alive on a Dask event topic while it sends (the run's progress and its
stall detector), and hands its measurements back as Arrow, times in this worker's epoch seconds.
`request_stop` (run on the worker through `Client.run`, outside the task's thread) ends a
generator early, when another one of its run has failed. Imports stay light: no Dask until a
function runs on a worker, no pandas.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time

from harness.loadgen.clock import Clock
from harness.loadgen.config import SimulatorConfig
from harness.loadgen.drive import drive, share
from harness.loadgen.requestlog import RequestLog

HEARTBEAT_S = 0.5  # how often a generator says it is alive (and how far it got)
_STOPS: dict[str, threading.Event] = {}  # run key -> set when that run's generators must stop


def probe() -> dict:
    """This worker's wall clock, host and pid (the clock-offset probe; importing this module
    on the worker also warms it up for the run)."""
    return {"time": time.time(), "host": socket.gethostname(), "pid": os.getpid()}


def request_stop(run_key: str) -> None:
    _STOPS.setdefault(run_key, threading.Event()).set()


def generate(
    config: SimulatorConfig, index: int, count: int, start_epoch: float, run_key: str
) -> dict:
    """Generator `index` of `count`: sends its share from `start_epoch` (this worker's clock),
    returns its records (Arrow) and what it saw of itself."""
    from distributed import get_worker

    worker = get_worker()
    stop = _STOPS.setdefault(run_key, threading.Event())
    clock = Clock()
    start_at = clock.perf0 + (start_epoch - clock.epoch0)
    late_s = max(0.0, clock.now() - start_at)  # the task arrived after the common start
    part = share(config, index, count)
    log = RequestLog(config)
    last_beat = 0.0

    def heartbeat(done: int) -> None:
        nonlocal last_beat
        now = time.monotonic()
        if now - last_beat >= HEARTBEAT_S:
            last_beat = now
            worker.log_event(run_key, {"index": index, "done": done})

    cpu = time.thread_time()
    try:
        stats = asyncio.run(drive(config, clock, log, part, start_at, heartbeat, stop=stop))
    finally:
        _STOPS.pop(run_key, None)
    wall, cpu = stats.end - stats.start, time.thread_time() - cpu
    busy = cpu / wall if wall > 0 else None
    ids = part.request_ids[: stats.taken]
    return {
        "index": index,
        "records": log.to_arrow(ids, clock),
        "worker": worker.address,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "start": clock.epoch(stats.start),
        "end": clock.epoch(stats.end),
        "cap_waits": stats.cap_waits,
        "max_in_flight": stats.max_in_flight,
        "taken": stats.taken,
        "stopped": stats.stopped,
        "busy": busy,
        "cpu_s": cpu,
        "late_start_ms": late_s * 1000.0,
    }
