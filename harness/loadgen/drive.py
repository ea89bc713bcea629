"""One generator's share of a simulation: its request ids, sent closed or open loop."""

from __future__ import annotations

import asyncio
import contextlib
import math
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from harness.loadgen.clock import Clock
from harness.loadgen.config import SimulatorConfig
from harness.loadgen.requestlog import RequestLog
from harness.loadgen.schedule import due_offsets
from harness.loadgen.senders import Sender, closed_loop, new_client, open_loop


@dataclass(frozen=True)
class Share:
    request_ids: range
    threads: int  # closed loop: this generator's senders
    max_in_flight: int
    # open loop: when each of `request_ids` is due, seconds after the common start (the single
    # schedule's own instants for these ids); None in closed loop
    due: np.ndarray | None = None


def share(config: SimulatorConfig, index: int, count: int) -> Share:
    """Generator `index` of `count` takes every count-th request and its part of the concurrency
    (of an endless range in a timed closed loop: the deadline ends it). In open loop it takes
    request i with the instant the one schedule (`due_offsets`) gives it: together the
    generators send exactly what one would have sent, whatever the schedule's shape."""
    threads = config.threads // count + (1 if index < config.threads % count else 0)
    due = None
    if config.open_loop:
        offsets = due_offsets(config)
        ids = range(index, len(offsets), count)
        due = offsets[index::count]
    else:
        ids = range(index, sys.maxsize if config.requests is None else config.requests, count)
    return Share(
        request_ids=ids,
        threads=threads,
        max_in_flight=max(1, config.max_in_flight // count),
        due=due,
    )


@dataclass(frozen=True)
class DriveStats:
    start: float  # perf_counter instants
    end: float
    cap_waits: int
    max_in_flight: int
    taken: int  # how many of the share's request ids were sent (the first ones)
    stopped: bool = False  # ended early by `stop`


async def _tick(
    log: RequestLog,
    on_tick: Callable[[int], None],
    every_s: float,
    sending: asyncio.Task,
    stop: threading.Event | None,
) -> None:
    while True:
        await asyncio.sleep(every_s)
        if stop is not None and stop.is_set():
            sending.cancel()
            return
        on_tick(log.events_done)


async def drive(
    config: SimulatorConfig,
    clock: Clock,
    log: RequestLog,
    part: Share,
    start_at: float | None = None,
    on_tick: Callable[[int], None] = lambda done: None,
    tick_s: float = 0.1,
    stop: threading.Event | None = None,
) -> DriveStats:
    """Sends `part`'s requests from `start_at` (a perf_counter instant; now when None); a timed
    closed loop stops taking new ones total_s after the start.

    `on_tick` gets the events answered so far: once at the start, every `tick_s`, once at the end.
    `stop` (set from another thread) ends the drive at the next tick: requests still in flight
    are dropped unrecorded (a generator told to stop because another one failed).
    """
    client = new_client(config)
    sender = Sender(config, client, clock, log)
    if start_at is not None:
        await asyncio.sleep(max(0.0, start_at - clock.now()))
    start = clock.now() if start_at is None else start_at
    on_tick(log.events_done)
    cap_waits = 0
    if config.open_loop:
        sending = asyncio.create_task(
            open_loop(sender, part.request_ids, start, part.max_in_flight, part.due)
        )
    else:
        deadline = math.inf if config.total_s is None else start + config.total_s
        sending = asyncio.create_task(closed_loop(sender, part.request_ids, part.threads, deadline))
    ticker = asyncio.create_task(_tick(log, on_tick, tick_s, sending, stop))
    try:
        try:
            result = await sending
        except asyncio.CancelledError:
            if stop is None or not stop.is_set():
                raise  # cancelled from outside (Ctrl-C), not told to stop
        stopped = sending.cancelled()
        if stopped:  # every id the log has room for may have been sent
            ids = part.request_ids
            taken = len(range(ids.start, min(ids.stop, log.capacity), ids.step))
        elif config.open_loop:
            cap_waits, taken = result, len(part.request_ids)
        else:
            taken = result
        end = clock.now()
    finally:
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker
        await client.close()
    on_tick(log.events_done)
    return DriveStats(start, end, cap_waits, sender.max_in_flight, taken, stopped)
