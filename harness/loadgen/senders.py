"""The asyncio senders: a closed loop of N coroutines, or an open loop on a fixed schedule."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from harness.loadgen.clock import Clock
from harness.loadgen.config import SimulatorConfig
from harness.loadgen.http import HttpProtocolError, RawHttpClient
from harness.loadgen.payload import BodyFactory, sent_at_text
from harness.loadgen.requestlog import RequestLog
from harness.loadgen.responses import EventIds, batch_outcomes
from harness.loadgen.schedule import due_offsets

# What counts as "no HTTP answer" (status 0): the run goes on and the error text is recorded.
# (AiohttpClient turns aiohttp's own errors into ConnectionErrors.)
TRANSPORT_ERRORS = (TimeoutError, OSError, HttpProtocolError)


class HttpClient(Protocol):
    async def post(self, body: bytes) -> tuple[int, bytes]: ...

    async def close(self) -> None: ...


def request_headers(config: SimulatorConfig) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    if config.api_key:
        headers["X-API-Key"] = config.api_key
    return headers


def new_client(config: SimulatorConfig) -> HttpClient:
    """The configured HTTP client; its connections are sized by the callers' concurrency."""
    headers = request_headers(config)
    if config.http_client == "aiohttp":
        from harness.loadgen.aiohttp_client import AiohttpClient  # imported only when used

        return AiohttpClient(config.target_url, headers, config.timeout_s, config.pool_size())
    return RawHttpClient(config.target_url, headers, config.timeout_s)


class Sender:
    """Sends requests by id over one HTTP client and records each in the RequestLog."""

    def __init__(
        self, config: SimulatorConfig, client: HttpClient, clock: Clock, log: RequestLog
    ) -> None:
        self.config = config
        self.client = client
        self.clock = clock
        self.log = log
        self.bodies = BodyFactory(config)
        self.in_flight = 0
        self.max_in_flight = 0

    async def send(self, request_id: int, scheduled: float = math.nan) -> None:
        template = self.bodies.template(request_id)
        sent = self.clock.now()
        sent_at = sent_at_text(self.clock.epoch(sent))
        body = template.render(sent_at)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        outcomes = None
        try:
            status, payload = await self.client.post(body)
            error = "" if status < 400 else _http_error(payload)
        except TRANSPORT_ERRORS as exc:
            status, error = 0, f"{type(exc).__name__}: {exc}".rstrip(": ")
        finally:
            self.in_flight -= 1
        done = self.clock.now()
        self.log.record_bytes(request_id, template.sizes(len(sent_at)))
        if self.config.endpoint == "batch" and 200 <= status < 300:
            ids = EventIds(self.config.run_id, self.config.request_events(request_id))
            outcomes = batch_outcomes(payload, ids)
        self.log.record(request_id, scheduled, sent, done, status, error, outcomes)


def _http_error(payload: bytes, limit: int = 200) -> str:
    """The answer's body, shortened: APIs say what was wrong in it."""
    return payload[:limit].decode("utf-8", "replace")


async def closed_loop(
    sender: Sender, request_ids: Sequence[int], threads: int, deadline: float = math.inf
) -> int:
    """`threads` coroutines claim request ids in order; each sends its next when the last one
    answered, until the ids run out or the `deadline` (a perf_counter instant) has passed.

    Returns how many ids were claimed: the first ones of `request_ids`, all sent.
    """
    ids = iter(request_ids)  # shared: each id is claimed once
    now = sender.clock.now
    claimed = 0

    async def worker() -> None:
        nonlocal claimed
        # The check and the claim run without a switch in between: no id is claimed late.
        while now() < deadline:
            request_id = next(ids, None)
            if request_id is None:
                return
            claimed += 1
            await sender.send(request_id)

    await asyncio.gather(*(worker() for _ in range(min(threads, len(request_ids)))))
    return claimed


async def open_loop(
    sender: Sender,
    request_ids: Sequence[int],
    start: float,
    max_in_flight: int,
    due: Sequence[float] | None = None,
) -> int:
    """Request i leaves when the schedule says (start + due_offsets[i]; `due` holds those
    offsets for `request_ids` when given), whatever is still outstanding, up to the in-flight
    cap.

    Returns how many requests had to wait for the cap (they left late: their send_delay shows it).
    """
    if due is None:
        due = due_offsets(sender.config)[np.asarray(request_ids, dtype=np.int64)]
    slots = asyncio.Semaphore(max_in_flight)
    cap_waits = 0
    tasks: set[asyncio.Task] = set()

    def finished(task: asyncio.Task) -> None:
        tasks.discard(task)
        slots.release()

    try:
        for request_id, offset in zip(request_ids, due.tolist(), strict=True):
            at = start + offset
            # Always yield, even when behind: answers must be read while the schedule catches up.
            await asyncio.sleep(max(0.0, at - sender.clock.now()))
            if slots.locked():
                cap_waits += 1
            await slots.acquire()
            task = asyncio.create_task(sender.send(request_id, at))
            tasks.add(task)
            task.add_done_callback(finished)
        if tasks:
            await asyncio.gather(*tasks)
    finally:  # stopped early: what is in flight is dropped
        for task in list(tasks):
            task.cancel()
    return cap_waits
