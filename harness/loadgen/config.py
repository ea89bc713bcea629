"""What one simulation sends, and how: the load generator's single settings object.

How long a run lasts: `events` events, or with `duration_s` a time (warmup_s + duration_s seconds;
in open loop that is rate x that time events, in closed loop as many as the senders manage). The
events whose request was due (open loop) or left (closed loop) within the first `warmup_s`
seconds are marked "warmup" in the records, the others "measured".
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass, field
from functools import cached_property

ENDPOINT_PATHS = {"single": "/register_event", "batch": "/events"}
# "raw": the lean keep-alive client (loadgen/http.py); "aiohttp": aiohttp's full client, slower.
HTTP_CLIENTS = ("raw", "aiohttp")


def new_run_id() -> str:
    """A short random id: event ids are `<run_id>-<seq>`, unique across runs sharing one topic."""
    return secrets.token_hex(4)


@dataclass(frozen=True)
class SimulatorConfig:
    url: str
    events: int = 10_000
    # Closed loop: this many coroutines, each sending its next request when the last one answered.
    threads: int = 200
    # Events per second; when set the run is open loop (requests leave on a fixed schedule).
    rate: float | None = None
    endpoint: str = "single"
    events_per_request: int = 500
    run_id: str = field(default_factory=new_run_id)
    timeout_s: float = 30.0
    api_key: str | None = None
    # Open loop only: the cap on requests in flight (each holds one connection). When it bites,
    # later requests leave late; that shows as send_delay and is counted in cap_waits.
    max_in_flight: int = 2048
    http_client: str = "raw"
    # Client processes sharing the load (each its own event loop). More than one gives the client
    # more of a busy machine's CPU, as wrk's -t does.
    processes: int = 1
    # Seeds the choice of event names and user ids (reproducible payloads).
    random_seed: int | None = None
    # Seconds at the start whose events are marked "warmup" (analysis leaves them out of its
    # figures). 0 here, for the simulator on its own; the harness's default is a run parameter.
    warmup_s: float = 0.0
    # When set, send for warmup_s + duration_s seconds; `events` is then ignored.
    duration_s: float | None = None

    def __post_init__(self) -> None:
        if self.endpoint not in ENDPOINT_PATHS:
            known = sorted(ENDPOINT_PATHS)
            raise ValueError(f"endpoint must be one of {known}, not {self.endpoint!r}")
        if self.http_client not in HTTP_CLIENTS:
            raise ValueError(f"http_client must be one of {HTTP_CLIENTS}, not {self.http_client!r}")
        if self.events < 1:
            raise ValueError("events must be >= 1")
        if not (self.warmup_s >= 0 and math.isfinite(self.warmup_s)):
            raise ValueError("warmup_s must be a number of seconds >= 0")
        if self.duration_s is not None and not (
            self.duration_s > 0 and math.isfinite(self.duration_s)
        ):
            raise ValueError("duration_s must be > 0 seconds (or None to send `events` events)")
        if self.threads < 1:
            raise ValueError("threads must be >= 1")
        if self.events_per_request < 1:
            raise ValueError("events_per_request must be >= 1")
        if self.rate is not None and not self.rate > 0:
            raise ValueError("rate must be > 0 events/s (or None for a closed loop)")
        if self.timeout_s <= 0:
            raise ValueError("timeout_s must be > 0")
        if self.max_in_flight < 1:
            raise ValueError("max_in_flight must be >= 1")
        if not 1 <= self.processes <= self.threads:
            raise ValueError("processes must be between 1 and threads")

    @property
    def open_loop(self) -> bool:
        return self.rate is not None

    @property
    def batch_size(self) -> int:
        """Events carried by one request."""
        return self.events_per_request if self.endpoint == "batch" else 1

    @property
    def total_s(self) -> float | None:
        """How long the senders send (warm-up included), when the run is timed."""
        return None if self.duration_s is None else self.warmup_s + self.duration_s

    @cached_property  # read per request (request_events): computed once
    def planned_events(self) -> int | None:
        """Events to send: `events`; when timed, rate x total_s in open loop, unknown (None) in
        closed loop, where the senders stop at the deadline."""
        if self.duration_s is None:
            return self.events
        if self.open_loop:
            return max(1, math.ceil(self.rate * self.total_s))
        return None

    @property
    def requests(self) -> int | None:
        """Requests to send (None when unknown: a timed closed loop)."""
        events = self.planned_events
        return None if events is None else math.ceil(events / self.batch_size)

    @property
    def rate_requests(self) -> float | None:
        """Requests per second in open loop: `rate` counts events."""
        return None if self.rate is None else self.rate / self.batch_size

    @property
    def target_url(self) -> str:
        return self.url.rstrip("/") + ENDPOINT_PATHS[self.endpoint]

    def request_events(self, request_id: int) -> range:
        """The event sequence numbers carried by request `request_id`."""
        first = request_id * self.batch_size
        stop, events = first + self.batch_size, self.planned_events
        return range(first, stop if events is None else min(stop, events))

    def pool_size(self) -> int:
        """Connections to keep: one per concurrent request."""
        if self.open_loop:
            return self.max_in_flight
        return self.threads if self.requests is None else min(self.threads, self.requests)
