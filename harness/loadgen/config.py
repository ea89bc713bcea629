"""What one simulation sends, and how: the load generator's single settings object.

How long a run lasts: `events` events, or with `duration_s` a time (warmup_s + duration_s seconds;
in open loop that is rate x that time events, in closed loop as many as the senders manage). The
events whose request was due (open loop) or left (closed loop) within the first `warmup_s`
seconds are marked "warmup" in the records, the others "measured". With `warmup_share`, a run of
`events` events marks at most that share of its requests (the first ones due or sent) as warm-up,
however fast it goes.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass, field
from functools import cached_property

from app.settings import NO_KEY
from harness.loadgen.payload import (
    DEFAULT_PAYLOAD_RANDOM,
    DEFAULT_USERS,
    USER_FIELD,
    sized_minimum,
)
from harness.loadgen.schedule import ARRIVALS, RateProfile

ENDPOINT_PATHS = {"single": "/register_event", "batch": "/events"}
# "raw": the lean keep-alive client (loadgen/http.py); "aiohttp": aiohttp's full client, slower.
HTTP_CLIENTS = ("raw", "aiohttp")


RUN_ID_CHARS = 8  # the length of new_run_id's ids


def new_run_id() -> str:
    """A short random id: event ids are `<run_id>-<seq>`, unique across runs sharing one topic."""
    return secrets.token_hex(RUN_ID_CHARS // 2)


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
    # Load generators sharing the load (harness/loadgen/generators.py): 1 sends from this
    # process; more run on Dask workers, of a LocalCluster of the run's own or, with
    # `dask_scheduler`, of that cluster (None there: all its workers).
    generators: int | None = 1
    dask_scheduler: str | None = None
    # Seeds the choice of event names and user ids (reproducible payloads).
    random_seed: int | None = None
    # Seconds at the start whose events are marked "warmup" (analysis leaves them out of its
    # figures). 0 here, for the simulator on its own; the harness's default is a run parameter.
    warmup_s: float = 0.0
    # A cap on the warm-up of a run of `events` events: at most this share of its requests (None:
    # warmup_s alone decides). The harness's auto warm-up sets it (harness/params.py).
    warmup_share: float | None = None
    # When set, send for warmup_s + duration_s seconds; `events` is then ignored.
    duration_s: float | None = None
    # What the events are (harness/loadgen/payload.py): the seed's shape; sized to exactly
    # `event_bytes` bytes with `payload_random` of the payload random; or the lines of
    # `events_file`, cycled. `key`: the field the API keys records by (sized events carry
    # user_id only for it). User ids: 1..users, Zipf with exponent key_skew (0: uniform).
    event_bytes: int | None = None
    payload_random: float = DEFAULT_PAYLOAD_RANDOM
    events_file: str | None = None
    key: str = NO_KEY
    users: int = DEFAULT_USERS
    key_skew: float = 0.0
    # Open loop over time (harness/loadgen/schedule.py): `stages`, ((seconds, target events/s),
    # ...), replaces rate and duration_s; `arrivals`: "uniform" or "poisson".
    stages: tuple[tuple[float, float], ...] | None = None
    arrivals: str = "uniform"

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
        if self.warmup_share is not None and not 0 <= self.warmup_share < 1:
            raise ValueError("warmup_share must be a fraction in [0, 1)")
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
        if self.arrivals not in ARRIVALS:
            raise ValueError(f"arrivals must be one of {list(ARRIVALS)}, not {self.arrivals!r}")
        if self.stages is not None:
            if self.rate is not None or self.duration_s is not None:
                raise ValueError(
                    "stages set the rate and the length: leave rate and duration_s unset"
                )
            object.__setattr__(self, "stages", tuple((float(s), float(r)) for s, r in self.stages))
            if not sum(s for s, _ in self.stages) > 0 or not self.planned_events:
                raise ValueError(f"stages {self.stages} offer no load")
        if self.timeout_s <= 0:
            raise ValueError("timeout_s must be > 0")
        if self.max_in_flight < 1:
            raise ValueError("max_in_flight must be >= 1")
        if self.generators is not None:
            if self.generators < 1:
                raise ValueError(f"generators must be >= 1, not {self.generators}")
            if not self.open_loop and self.generators > self.threads:
                raise ValueError(
                    f"generators={self.generators} would leave a generator without a sender: "
                    f"a closed loop divides its {self.threads} threads among them"
                )
        elif not self.dask_scheduler:
            raise ValueError("generators=None (all workers) needs a dask_scheduler")
        if self.users < 1:
            raise ValueError(f"users must be >= 1, not {self.users}")
        if not (self.key_skew >= 0 and math.isfinite(self.key_skew)):
            raise ValueError(f"key_skew must be a Zipf exponent >= 0, not {self.key_skew}")
        if not 0 <= self.payload_random <= 1:
            raise ValueError(
                f"payload_random must be a share from 0 to 1, not {self.payload_random}"
            )
        if self.event_bytes is not None:
            if self.events_file:
                raise ValueError(
                    "event_bytes sizes the simulator's own events; events_file sends yours as "
                    "they are: set one of them"
                )
            minimum = self.minimum_event_bytes()
            if self.event_bytes < minimum:
                raise ValueError(
                    f"event_bytes={self.event_bytes} is below the minimum of {minimum} bytes "
                    "for this run's events (their fields with an empty payload)"
                )

    def minimum_event_bytes(self) -> int:
        """The smallest event_bytes this run's sized events fit in."""
        events = self.planned_events
        users = self.users if self.key == USER_FIELD else None
        return sized_minimum(self.run_id, None if events is None else events - 1, users)

    @property
    def open_loop(self) -> bool:
        return self.rate is not None or self.stages is not None

    @property
    def batch_size(self) -> int:
        """Events carried by one request."""
        return self.events_per_request if self.endpoint == "batch" else 1

    @property
    def total_s(self) -> float | None:
        """How long the senders send (warm-up included), when the run is timed (stages are)."""
        if self.stages is not None:
            return self.warmup_s + sum(s for s, _ in self.stages)
        return None if self.duration_s is None else self.warmup_s + self.duration_s

    @cached_property  # read per request (request_events): computed once
    def planned_events(self) -> int | None:
        """Events to send: `events`; when timed, rate x total_s in open loop, unknown (None) in
        closed loop, where the senders stop at the deadline."""
        if self.stages is not None:
            events = RateProfile.of(self.warmup_s, self.stages).total()
            return math.ceil(round(events, 6))  # 1000.0000001 events are 1000
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
        """Requests per second in open loop: `rate` counts events (with stages: on average)."""
        rate = self.mean_rate
        return None if rate is None else rate / self.batch_size

    @property
    def mean_rate(self) -> float | None:
        """Events per second offered: `rate`, or with stages their mean over the whole run."""
        if self.stages is not None:
            return self.planned_events / self.total_s
        return self.rate

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
