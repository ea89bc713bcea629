"""One process's share of a simulation: its request ids, sent closed or open loop."""

from __future__ import annotations

import asyncio
import contextlib
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass

from harness.loadgen.clock import Clock
from harness.loadgen.config import SimulatorConfig
from harness.loadgen.requestlog import RequestLog
from harness.loadgen.senders import Sender, closed_loop, new_client, open_loop


@dataclass(frozen=True)
class Share:
    request_ids: range
    threads: int
    max_in_flight: int


def share(config: SimulatorConfig, index: int, count: int) -> Share:
    """Process `index` of `count` takes every count-th request and its part of the concurrency
    (of an endless range in a timed closed loop: the deadline ends it)."""
    threads = config.threads // count + (1 if index < config.threads % count else 0)
    requests = sys.maxsize if config.requests is None else config.requests
    return Share(
        request_ids=range(index, requests, count),
        threads=threads,
        max_in_flight=max(1, config.max_in_flight // count),
    )


@dataclass(frozen=True)
class DriveStats:
    start: float  # perf_counter instants
    end: float
    cap_waits: int
    max_in_flight: int
    taken: int  # how many of the share's request ids were sent (the first ones)


async def _tick(log: RequestLog, on_tick: Callable[[int], None], every_s: float) -> None:
    while True:
        await asyncio.sleep(every_s)
        on_tick(log.events_done)


async def drive(
    config: SimulatorConfig,
    clock: Clock,
    log: RequestLog,
    part: Share,
    start_at: float | None = None,
    on_tick: Callable[[int], None] = lambda done: None,
    tick_s: float = 0.1,
) -> DriveStats:
    """Sends `part`'s requests from `start_at` (a perf_counter instant; now when None); a timed
    closed loop stops taking new ones total_s after the start.

    `on_tick` gets the events answered so far: once at the start, every `tick_s`, once at the end.
    """
    client = new_client(config)
    sender = Sender(config, client, clock, log)
    ticker = asyncio.create_task(_tick(log, on_tick, tick_s))
    if start_at is not None:
        await asyncio.sleep(max(0.0, start_at - clock.now()))
    start = clock.now() if start_at is None else start_at
    on_tick(log.events_done)
    cap_waits = 0
    try:
        if config.open_loop:
            cap_waits = await open_loop(sender, part.request_ids, start, part.max_in_flight)
            taken = len(part.request_ids)
        else:
            deadline = math.inf if config.total_s is None else start + config.total_s
            taken = await closed_loop(sender, part.request_ids, part.threads, deadline)
        end = clock.now()
    finally:
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker
        await client.close()
    on_tick(log.events_done)
    return DriveStats(start, end, cap_waits, sender.max_in_flight, taken)
