"""The run parameters (docs/CONTRACTS.md): one definition serves the CLI flags, notebooks and grids.

Flags are the field names in kebab-case (`--linger-ms`); notebooks and grid files use the
snake_case names. Validation lives here, so a bad grid point fails before anything starts.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import sys
import types
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Union, get_args, get_origin, get_type_hints

from app.flags import DEFAULT_WORKER_THREADS, DEFAULT_WORKERS
from app.settings import (
    ACKS,
    CLIENTS,
    COMPRESSIONS,
    DEFAULT_SERVER,
    DELIVERY_MODES,
    NO_KEY,
    SERVERS,
    ProducerSettings,
    idempotence_conflict,
    key_field_error,
    parse_bool,
)
from harness.cluster import choose_bootstrap
from harness.loadgen.config import RUN_ID_CHARS, SimulatorConfig
from harness.loadgen.eventsfile import load_events
from harness.loadgen.payload import (
    DEFAULT_PAYLOAD_RANDOM,
    DEFAULT_USERS,
    USER_FIELD,
    seed_shape_fields,
    sized_fields,
)
from harness.loadgen.schedule import ARRIVALS, StagesError, parse_stages, stages_text

ENDPOINTS = ("single", "batch")
# Each fault and the part of the system it acts on (harness/faults.py carries them out).
FAULT_TARGETS = {
    "none": None,
    "kill-broker": "brokers",
    "kill-broker-twice": "brokers",
    "kafka-outage": "brokers",
    "kill-consumer": "consumer",
    "restart-api": "api",
    "kill-api": "api",
    "rolling-restart": "brokers",
    "throttle-broker": "brokers",
}
FAULTS = tuple(FAULT_TARGETS)
# Faults that need the harness's own embedded cluster, and those that need its own API and consumers.
BROKER_FAULTS = tuple(f for f, target in FAULT_TARGETS.items() if target == "brokers")
SERVICE_FAULTS = tuple(f for f, target in FAULT_TARGETS.items() if target in ("api", "consumer"))
# Faults that last `outage_s`.
OUTAGE_FAULTS = ("kafka-outage", "throttle-broker")
# The seed-style baseline: the original system's way (the Werkzeug dev server, a Kafka send and
# flush per request, kafka-python). Benchmarks, grids and tests compare against it.
SEED_STYLE = {"server": "werkzeug", "delivery": "flush", "client": "kafka-python"}
# Who counts what reached Kafka: the consumers' logs, or the harness reading the topic itself.
AUDITS = ("log", "topic")

CHOICES = {
    "endpoint": ENDPOINTS,
    "acks": ACKS,
    "compression": COMPRESSIONS,
    "client": CLIENTS,
    "server": SERVERS,
    "delivery": tuple(d for d in DELIVERY_MODES),
    "fault": FAULTS,
    "audit": AUDITS,
    "arrivals": ARRIVALS,
}

# A Dask scheduler's address: [protocol://]host:port
DASK_ADDRESS = re.compile(r"([a-z][a-z0-9+]*://)?[^\s/]+:\d+/?")
# A grid point's capacity_from may name another point of the same grid by its label:
# `capacity_from: label:NAME` (harness/sweep.py resolves it to that point's directory).
LABEL_REFERENCE = "label:"

# The API key may come from the environment instead of a flag or a grid (they end up in shell
# histories and files); what files say of it.
API_KEY_ENV = "HARNESS_API_KEY"
SECRET_SET = "(set)"

# What each parameter does; `--help` adds its default, from RunConfig (DEFAULT_WORDS where the
# default is not a plain value). Helpers inside a help text are argparse's: %% is a percent sign.
HELP = {
    "events": "events to send (ignored when duration_s is set)",
    "warmup_s": "seconds at the start whose events are sent and counted but left out of every "
    "figure",
    "duration_s": "send for warmup_s + duration_s seconds instead of a fixed number of events",
    "threads": "closed loop: concurrent senders (the simulator's asyncio coroutines; the seed's "
    "threads), each sending when its last answer came; no effect with rate (open loop)",
    "rate": "events/s on a fixed schedule: open loop when set (latency counts from the schedule)",
    "endpoint": "single: POST /register_event; batch: POST /events",
    "events_per_request": "events per request of the batch endpoint",
    "acks": "producer acks: 0, 1 or all",
    "linger_ms": "producer linger.ms",
    "batch_size": "producer batch.size in bytes",
    "compression": "producer compression",
    "topic": "the Kafka topic (with api_url: the topic that API produces to)",
    "partitions": "partitions of the run's topic",
    "consumers": "consumer processes in the group",
    "client": "Kafka client library of the API and the consumers",
    "server": "the API's HTTP server: granian, gunicorn (gthread workers), gunicorn-gevent "
    "(gevent workers), or werkzeug (the seed-style dev server)",
    "workers": "API worker processes (granian, gunicorn, gunicorn-gevent)",
    "worker_threads": "threads per API worker that run the handler (granian, gunicorn)",
    "delivery": "ack: 2xx after the broker acked; async: once queued; flush: seed-style; noop",
    "delivery_timeout_s": "how long the API waits for Kafka before a 503",
    "brokers": "embedded brokers (a cluster of the run's own when > 1)",
    "replication_factor": "replication factor of the run's topic",
    "min_insync_replicas": "min.insync.replicas of the run's topic",
    "fault": "fault injected mid-run (harness/faults.py, docs/RELIABILITY.md)",
    "outage_s": "kafka-outage: how long every broker stays down; throttle-broker: how long "
    "one broker is paused and resumed in turn",
    "bootstrap_servers": "an external cluster: nothing is started, the run uses it",
    "api_url": "an API already running (e.g. http://host:5000): no API or consumer is started "
    "and the topic is audited",
    "audit": "log: count what the consumers logged; topic: read the topic itself (always with "
    "api_url)",
    "random_seed": "seeds the simulator's event names and user ids (reproducible payloads)",
    "drain_timeout_s": "how long to wait for the consumers to log every accepted event",
    "broker_warmup_s": "seconds of this run's load, not measured, through a broker the harness "
    "has just started, before the first measured run (a cold JVM costs ~4x the CPU per event; "
    "0: none)",
    "ceiling_rps": "the simulator's rate against a no-op API (information: client_bound uses "
    "its own CPU)",
    "api_key": "sent as X-API-Key to an API that requires one (and required by an API the "
    "harness starts); never written to any file",
    "keep_topic": "keep the topic a run creates on an external cluster (else it is deleted "
    "after the run)",
    "measure_ceiling": "measure the simulator's ceiling before the run (adds ~20 s)",
    "event_bytes": "the size of each event's JSON as sent, reached with a `payload` string",
    "payload_random": "share of the payload's characters drawn at random, the rest repeated "
    "text: how well it compresses (the default compresses ~4x with zstd; event_bytes only)",
    "events_file": "a JSON Lines file of your own events, sent in order and cycled; only "
    "event_id and sent_at are set (relative paths: from the working directory)",
    "key": "none, or the top-level field whose value (as text) the API makes each record's "
    "Kafka key; the order per key is then audited",
    "users": "distinct user ids of the simulator's events",
    "key_skew": "Zipf exponent of the user ids' popularity (0: uniform; 1.1: a few very hot)",
    "idempotence": "the API's idempotent producer",
    "max_in_flight": "the API producer's requests in flight per broker connection",
    "stages": "open loop over time: SECONDS:RATE,... (e.g. 10:1000,20:4000,10:1000); the "
    "warm-up holds the first rate, each stage ramps linearly to its rate (0 s: a jump); replaces "
    "rate and duration_s",
    "arrivals": "open loop: uniform (evenly spaced) or poisson (exponential gaps at the same "
    "mean rate, seeded by random_seed, else by the run id)",
    "capacity_from": "a capacity search's directory (or its capacity.json): the rate is "
    "rate_fraction x the capacity it found (open loop); where it came from is recorded",
    "rate_fraction": "with capacity_from: the share of the capacity to offer (0.8: 80%%)",
    "bin_s": "the width of timeline.parquet's bins and of the fault figures' bins, in seconds",
    "fault_at_s": "the fault in time: seconds into the measured window (else at a share of "
    "the events, docs/RELIABILITY.md)",
    "fault_cycles": "how many times the fault comes in one run (with fault_at_s); each cycle "
    "waits for full recovery (replicas back in sync) before the next",
    "fault_every_s": "seconds from one cycle's start to the next's (at least: a cycle waits for "
    "the last one's recovery)",
    "generators": "load generators sharing the load (request i goes to generator i mod N, "
    "closed-loop senders are divided): 1 sends from the harness's own process; more run on "
    "Dask, a LocalCluster of the run's own of that many single-threaded worker processes, or "
    "that many workers of --dask-scheduler",
    "dask_scheduler": "a Dask cluster's scheduler (e.g. tcp://host:8786) whose workers are the "
    "generators; the run starts and stops nothing of it",
}
# Defaults that are not a plain value (None means something), in words for --help.
DEFAULT_WORDS = {
    "warmup_s": "auto: 3 s, but at most the first 20%% of a run of `events` events",
    "duration_s": "unset: send `events`",
    "rate": "unset: closed loop",
    "workers": f"the API's own, {DEFAULT_WORKERS}",
    "worker_threads": "the server's own: "
    + ", ".join(f"{k} {v}" for k, v in DEFAULT_WORKER_THREADS.items()),
    "min_insync_replicas": "2 when replication_factor >= 3, else 1",
    "bootstrap_servers": "KAFKA_BOOTSTRAP_SERVERS, else an embedded broker",
    "api_url": "unset: the harness starts the API",
    "random_seed": "unset: fresh payloads each run",
    "ceiling_rps": "unset",
    "api_key": f"{API_KEY_ENV}, else none",
    "event_bytes": "unset: the seed's ~90-byte shape",
    "events_file": "unset: the simulator's own events",
    "idempotence": "on with acks=all, off otherwise",
    "stages": "unset: rate (or a closed loop)",
    "capacity_from": "unset",
    "fault_at_s": "unset: at a share of the events",
    "fault_every_s": "unset: 5 s after the last cycle recovered",
    "generators": "1; with dask_scheduler, all its workers",
    "dask_scheduler": "unset: with generators > 1, a LocalCluster of the run's own",
}


def help_text(name: str) -> str:
    """A parameter's help with its default, as RunConfig defines it."""
    default = DEFAULT_WORDS.get(name)
    if default is None:
        value = RunConfig.__dataclass_fields__[name].default
        default = value if not isinstance(value, bool) else str(value).lower()
    return f"{HELP[name]} (default: {default})"


# The warm-up when `warmup_s` is not given: AUTO_WARMUP_S seconds, but in a run of a fixed number
# of events never more than its first AUTO_WARMUP_SHARE of requests, so every such run keeps at
# least 80% of its events measured however fast it goes. A timed run (duration_s) is measured for
# duration_s after its warm-up whatever the warm-up, so it keeps AUTO_WARMUP_S.
AUTO_WARMUP_S = 3.0
AUTO_WARMUP_SHARE = 0.2
# timeline.parquet's bins (and the fault figures' good-bin rule) are this wide by default.
DEFAULT_BIN_S = 1.0


class ParameterError(ValueError):
    """A run parameter (or a sweep's) that cannot work: said before anything starts."""


@dataclass(frozen=True)
class RunConfig:
    events: int = 10_000
    # None: auto (AUTO_WARMUP_S, capped at AUTO_WARMUP_SHARE of a count run): a run of 10,000
    # events can take 1.5 s, and a fixed 3 s warm-up would leave it no measured window.
    warmup_s: float | None = None
    duration_s: float | None = None
    threads: int = 200
    rate: float | None = None
    endpoint: str = "single"
    events_per_request: int = 500
    # The producer's defaults are the API's own (app/settings.py): one source of truth.
    acks: str = ProducerSettings.acks
    linger_ms: int = ProducerSettings.linger_ms
    batch_size: int = ProducerSettings.batch_size
    compression: str = ProducerSettings.compression
    topic: str = "events"
    partitions: int = 3
    consumers: int = 1
    client: str = ProducerSettings.client
    server: str = DEFAULT_SERVER
    workers: int | None = None
    worker_threads: int | None = None
    delivery: str = ProducerSettings.delivery
    delivery_timeout_s: float = ProducerSettings.delivery_timeout_s
    brokers: int = 1
    replication_factor: int = 1
    min_insync_replicas: int | None = None
    fault: str = "none"
    outage_s: float = 10.0
    bootstrap_servers: str | None = None
    api_url: str | None = None
    audit: str = "log"
    random_seed: int | None = None
    drain_timeout_s: float = 60.0
    # A broker the harness starts is cold: its JVM runs the first tens of thousands of requests
    # interpreted, at ~4x the CPU per event (measured: 240 against ~60 CPU-us), which would be
    # charged to the first measured run. Only brokers the harness started are warmed.
    broker_warmup_s: float = 15.0
    ceiling_rps: float | None = None
    measure_ceiling: bool = False
    # A secret: kept out of repr(), to_dict() (config.json, metrics.json, tables) and notebooks.
    api_key: str | None = field(default=None, repr=False)
    keep_topic: bool = False
    # The events (harness/loadgen/payload.py) and how the API keys and produces them.
    event_bytes: int | None = None
    payload_random: float = DEFAULT_PAYLOAD_RANDOM
    events_file: str | None = None
    key: str = ProducerSettings.key
    users: int = DEFAULT_USERS
    key_skew: float = 0.0
    # None: on with acks=all, off otherwise (app/settings.py owns the rule and its conflicts)
    idempotence: bool | None = ProducerSettings.idempotence
    max_in_flight: int = ProducerSettings.max_in_flight
    # Load over time (harness/loadgen/schedule.py) and a rate taken from a measured capacity.
    stages: str | None = None
    arrivals: str = "uniform"
    capacity_from: str | None = None
    rate_fraction: float = 1.0
    bin_s: float = DEFAULT_BIN_S
    # Faults in time (harness/faults.py): seconds into the measured window, how many cycles, and
    # the seconds between their starts.
    fault_at_s: float | None = None
    fault_cycles: int = 1
    fault_every_s: float | None = None
    # The load generators (harness/loadgen/generators.py); None: 1, or every worker of the
    # dask_scheduler's cluster.
    generators: int | None = None
    dask_scheduler: str | None = None

    def __post_init__(self) -> None:
        # The cluster: this field, else KAFKA_BOOTSTRAP_SERVERS, else (None) an embedded broker.
        object.__setattr__(self, "bootstrap_servers", choose_bootstrap(self.bootstrap_servers))
        # The API key: this field, else HARNESS_API_KEY (keeps it off command lines and grids).
        object.__setattr__(self, "api_key", self.api_key or os.environ.get(API_KEY_ENV) or None)
        if self.api_url is not None:
            object.__setattr__(self, "audit", "topic")  # the consumers are someone else's
        for name, choices in CHOICES.items():
            value = getattr(self, name)
            if value not in choices:
                raise ValueError(f"{name} must be one of {list(choices)}, not {value!r}")
        for name in ("events", "threads", "events_per_request", "partitions", "consumers",
                     "brokers", "replication_factor"):  # fmt: skip
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, not {getattr(self, name)!r}")
        if self.rate is not None and self.rate <= 0:
            raise ValueError("rate must be > 0 events/s (leave it unset for a closed loop)")
        for name in ("warmup_s", "broker_warmup_s"):
            if (getattr(self, name) or 0) < 0:
                raise ValueError(f"{name} must be >= 0, not {getattr(self, name)!r}")
        if self.duration_s is not None and self.duration_s <= 0:
            raise ValueError(
                f"duration_s must be > 0 (or unset to send `events`), not {self.duration_s!r}"
            )
        if self.api_url is not None:
            if not self.api_url.startswith(("http://", "https://")):
                raise ValueError(
                    f"api_url must be an http:// or https:// URL, not {self.api_url!r}"
                )
            if not self.bootstrap_servers:
                raise ValueError(
                    "api_url needs the system's Kafka cluster too (--bootstrap-servers or "
                    "KAFKA_BOOTSTRAP_SERVERS), so the harness can audit the topic"
                )
            if self.fault in SERVICE_FAULTS:
                raise ValueError(
                    f"fault={self.fault} stops the API or a consumer, but with api_url they are "
                    "someone else's: drop --fault or --api-url"
                )
        self._check_load_shape()
        if (self.fault != "none" and self.fault_at_s is None and self.duration_s is not None
                and self.rate is None):  # fmt: skip
            raise ValueError(
                f"fault={self.fault} is triggered at a share of the run's events: with duration_s "
                "set a rate too (open loop), send a fixed number of events, or place the fault in "
                "time (--fault-at-s)"
            )
        if self.replication_factor > self.brokers and not self.bootstrap_servers:
            raise ValueError(
                f"replication_factor={self.replication_factor} needs at least that many brokers "
                f"(brokers={self.brokers})"
            )
        if self.fault in BROKER_FAULTS and self.bootstrap_servers:
            raise ValueError(f"fault={self.fault} needs the embedded cluster, not an external one")
        if self.brokers > 1 and self.bootstrap_servers:
            raise ValueError(
                f"brokers={self.brokers} asks for an embedded cluster of the run's own, but the "
                f"run uses the external cluster {self.bootstrap_servers}: drop --brokers, or the "
                "external cluster (--bootstrap-servers / KAFKA_BOOTSTRAP_SERVERS)"
            )
        if self.fault.startswith("kill-broker") and (
            self.brokers < 2 or self.replication_factor < 2
        ):
            raise ValueError(
                f"fault={self.fault} needs brokers >= 2 and replication_factor >= 2, so that "
                "no partition's only replica dies (e.g. --brokers 3 --replication-factor 3)"
            )
        if self.isr() > self.replication_factor:
            raise ValueError("min_insync_replicas cannot exceed replication_factor")
        if self.warmup_s is not None and self.duration_s is None and self.rate is not None:
            planned_s = self.events / self.rate
            if self.warmup_s >= planned_s:
                raise ValueError(
                    f"warmup_s={self.warmup_s:g} covers the whole run ({self.events} events at "
                    f"{self.rate:g}/s take {planned_s:g} s), so nothing would be measured: lower "
                    "--warmup-s (or leave it unset: auto), send more --events, or set --duration-s"
                )

        self._check_fault_timing()
        if self.generators is not None and self.generators < 1:
            raise ValueError(f"generators must be >= 1, not {self.generators!r}")
        if self.dask_scheduler is not None and not DASK_ADDRESS.fullmatch(self.dask_scheduler):
            raise ValueError(
                f"dask_scheduler must be a Dask scheduler's address such as tcp://host:8786, "
                f"not {self.dask_scheduler!r}"
            )
        for problem in (
            key_field_error(self.key),
            idempotence_conflict(self.acks, self.idempotence, self.max_in_flight),
        ):
            if problem:
                raise ValueError(problem)
        self._check_events()

    def _check_events(self) -> None:
        """What the events are: sizes, the events file, the key field, users and skew. A
        parameter that would do nothing in this combination is refused, not ignored."""
        if self.events_file:
            path = str(Path(self.events_file).expanduser().resolve())
            object.__setattr__(self, "events_file", path)
            # the whole file is checked: an EventsFileError names the file and the line
            load_events(path, ProducerSettings.max_json_depth, ProducerSettings.max_body_bytes,
                        self.key)  # fmt: skip
        idle = [name for name, default in (("users", DEFAULT_USERS), ("key_skew", 0.0))
                if getattr(self, name) != default]  # fmt: skip
        if self.events_file and (idle or self.event_bytes is not None):
            raise ValueError(
                f"{', '.join(idle) or 'event_bytes'} shape(s) the simulator's own events; "
                "events_file sends yours as they are: drop one"
            )
        if self.payload_random != DEFAULT_PAYLOAD_RANDOM and self.event_bytes is None:
            raise ValueError(
                "payload_random shapes the payload of sized events: set event_bytes too"
            )
        if self.event_bytes is not None:
            if self.event_bytes > ProducerSettings.max_body_bytes:
                raise ValueError(
                    f"event_bytes={self.event_bytes} is over the API's body limit of "
                    f"{ProducerSettings.max_body_bytes} bytes"
                )
            if idle and self.key != USER_FIELD:
                raise ValueError(
                    f"{', '.join(idle)} shape(s) user_id, which sized events (event_bytes) carry "
                    f"only when the records are keyed by it: set key={USER_FIELD}, or drop them"
                )
        if self.key != NO_KEY and not self.events_file:
            fields_ = sized_fields(self.key) if self.event_bytes else seed_shape_fields()
            if self.key not in fields_:
                raise ValueError(
                    f"key={self.key}: the simulator's events have no such field "
                    f"({', '.join(fields_)}); send your own with events_file"
                )
        # the simulator's own checks (the minimum event size names its bytes)
        self.simulator_config("http://planned", "x" * RUN_ID_CHARS)

    def _check_load_shape(self) -> None:
        """stages, arrivals, capacity_from and rate_fraction, bin_s: the open loop's shape over
        time. A rate taken from a capacity is resolved here (the capacity file is read): every
        later use of the config sees `rate` set, and replacing other fields keeps it."""
        if not self.bin_s > 0:
            raise ValueError(f"bin_s must be > 0 seconds, not {self.bin_s!r}")
        if self.stages is not None:
            try:
                stages = parse_stages(self.stages)
            except StagesError as exc:
                raise ValueError(str(exc)) from None
            object.__setattr__(self, "stages", stages_text(stages))
            if self.rate is not None or self.duration_s is not None or self.capacity_from:
                raise ValueError(
                    "stages set the rate and the length of the run: leave rate, duration_s and "
                    "capacity_from unset"
                )
        if not self.rate_fraction > 0:
            raise ValueError(f"rate_fraction must be > 0, not {self.rate_fraction!r}")
        if self.capacity_from:
            if self.capacity_from.startswith(LABEL_REFERENCE):
                raise ValueError(
                    f"capacity_from={self.capacity_from}: a {LABEL_REFERENCE}NAME reference names "
                    "a capacity point of the same grid (python -m harness sweep); a run needs the "
                    "directory of a capacity search"
                )
            from harness.capacity.tables import measured_capacity

            source = measured_capacity(self.capacity_from)
            rate = round(self.rate_fraction * source["capacity_eps"], 1)
            if self.rate is not None and self.rate != rate:
                raise ValueError(
                    f"rate={self.rate:g} and capacity_from both set the rate (capacity_from gives "
                    f"{rate:g} events/s): drop one"
                )
            object.__setattr__(self, "capacity_from", source["file"])
            object.__setattr__(self, "rate", rate)
        if self.arrivals != "uniform" and not self.open_loop():
            raise ValueError(
                f"arrivals={self.arrivals} shapes an open loop's schedule: set rate, stages or "
                "capacity_from (a closed loop sends when the last answer came)"
            )

    def _check_fault_timing(self) -> None:
        """fault_at_s, fault_cycles, fault_every_s: a fault placed in time must fall inside the
        measured window of a run whose length is known before it starts."""
        if self.fault_cycles < 1:
            raise ValueError(f"fault_cycles must be >= 1, not {self.fault_cycles!r}")
        if self.fault_every_s is not None and not self.fault_every_s > 0:
            raise ValueError(f"fault_every_s must be > 0 seconds, not {self.fault_every_s!r}")
        if self.fault_at_s is None:
            if self.fault_cycles > 1 or self.fault_every_s is not None:
                raise ValueError(
                    "fault_cycles and fault_every_s repeat a fault placed in time: set "
                    "--fault-at-s too"
                )
            return
        if self.fault == "none":
            raise ValueError("fault_at_s places a fault in time: set --fault too")
        if not self.fault_at_s >= 0:
            raise ValueError(f"fault_at_s must be >= 0 seconds, not {self.fault_at_s!r}")
        if self.fault == "kill-broker-twice":
            raise ValueError(
                "kill-broker-twice is triggered at shares of the events; in time, write "
                "--fault kill-broker --fault-cycles 2"
            )
        measured = self.measured_s()
        if measured is None:
            raise ValueError(
                "fault_at_s needs a run whose length is known before it starts: set rate, "
                "stages or duration_s (a closed loop of a number of events lasts as long as "
                "it takes)"
            )
        if self.fault_at_s >= measured:
            raise ValueError(
                f"fault_at_s={self.fault_at_s:g} is not inside the measured window ({measured:g} "
                "s): the fault would miss the load; lower --fault-at-s or lengthen the run"
            )
        last = self.fault_at_s + (self.fault_cycles - 1) * (self.fault_every_s or 0)
        if last >= measured:
            raise ValueError(
                f"fault_cycles={self.fault_cycles} every {self.fault_every_s:g} s from "
                f"fault_at_s={self.fault_at_s:g}: the last cycle ({last:g} s) is not inside the "
                f"measured window ({measured:g} s); fewer cycles, or lengthen the run"
            )

    def open_loop(self) -> bool:
        return self.rate is not None or self.stages is not None

    def stage_list(self) -> tuple[tuple[float, float], ...] | None:
        return None if self.stages is None else parse_stages(self.stages)

    def load_s(self) -> float | None:
        """Seconds from the first request due to the last (warm-up included), when known before
        the run: an open loop, or a timed run; None for a closed loop of `events` events."""
        return self.simulator_config("http://planned", "planned").total_s or (
            self.events / self.rate if self.rate else None
        )

    def measured_start_s(self) -> float:
        """Seconds from the start to the measured window's start (the warm-up: auto is capped
        at a share of a run of events, which in open loop is a share of its length)."""
        warmup = self.warmup_seconds()
        share = self.warmup_share()
        if share is not None and self.rate:
            warmup = min(warmup, share * self.events / self.rate)
        return warmup

    def measured_s(self) -> float | None:
        """The measured window's planned length (None when unknown: a closed loop of events)."""
        load = self.load_s()
        return None if load is None else load - self.measured_start_s()

    def warmup_seconds(self) -> float:
        """The warm-up's length in seconds (auto: AUTO_WARMUP_S)."""
        return AUTO_WARMUP_S if self.warmup_s is None else self.warmup_s

    def warmup_share(self) -> float | None:
        """The most of a count run the warm-up may take (auto only); None: no cap."""
        timed = self.duration_s is not None or self.stages is not None
        return AUTO_WARMUP_SHARE if self.warmup_s is None and not timed else None

    def needs_own_cluster(self) -> bool:
        """A cluster of its own: several brokers, or a fault that stops brokers."""
        return not self.bootstrap_servers and (self.brokers > 1 or self.fault in BROKER_FAULTS)

    def planned_events(self) -> int | None:
        """Events the run sends (faults are placed by it); None for a timed closed loop."""
        return self.simulator_config("http://planned", "planned").planned_events

    def producer_settings(
        self, bootstrap: str, topic: str, delivery: str | None = None, security=None
    ):
        """The API's settings for this run (the producer fields of ProducerSettings); `security`
        is the cluster's (harness.cluster.cluster_security), none by default."""
        return ProducerSettings.from_env(
            {},
            bootstrap_servers=bootstrap,
            topic=topic,
            client=self.client,
            acks=self.acks,
            linger_ms=self.linger_ms,
            batch_size=self.batch_size,
            compression=self.compression,
            delivery=delivery or self.delivery,
            delivery_timeout_s=self.delivery_timeout_s,
            max_batch_events=max(1000, self.events_per_request),
            api_key=self.api_key,
            security=security,
            max_body_bytes=self.max_body_bytes(),
            key=self.key,
            idempotence=self.idempotence,
            max_in_flight=self.max_in_flight,
        )

    def max_body_bytes(self) -> int:
        """The body limit of an API the harness starts: the API's own, or more when this run's
        batches of big events need it (as max_batch_events follows events_per_request)."""
        if self.endpoint != "batch":
            return ProducerSettings.max_body_bytes
        if self.event_bytes is not None:
            largest = self.event_bytes
        elif self.events_file:
            events = load_events(self.events_file, ProducerSettings.max_json_depth,
                                 ProducerSettings.max_body_bytes, self.key)  # fmt: skip
            largest = max(map(len, events.prefixes)) + 64  # + event_id, sent_at
        else:
            return ProducerSettings.max_body_bytes
        return max(ProducerSettings.max_body_bytes, (largest + 1) * self.events_per_request + 2)

    def simulator_config(self, url: str, run_id: str, **overrides) -> SimulatorConfig:
        """The simulator's settings for this run (overrides: e.g. a probe's events)."""
        values = dict(
            url=url,
            events=self.events,
            threads=self.threads,
            rate=self.rate,
            endpoint=self.endpoint,
            events_per_request=self.events_per_request,
            run_id=run_id,
            warmup_s=self.warmup_seconds(),
            warmup_share=self.warmup_share(),
            duration_s=self.duration_s,
            random_seed=self.random_seed,
            api_key=self.api_key,
            event_bytes=self.event_bytes,
            payload_random=self.payload_random,
            events_file=self.events_file,
            key=self.key,
            users=self.users,
            key_skew=self.key_skew,
            generators=self.generator_count(),
            dask_scheduler=self.dask_scheduler,
            stages=self.stage_list(),
            arrivals=self.arrivals,
        )
        values.update(overrides)
        return SimulatorConfig(**values)

    def generator_count(self) -> int | None:
        """How many generators: the one given, else 1 (None with a scheduler: all its workers)."""
        if self.generators is None:
            return None if self.dask_scheduler else 1
        return self.generators

    def uses_dask(self) -> bool:
        return self.generator_count() != 1 or bool(self.dask_scheduler)

    def isr(self) -> int:
        if self.min_insync_replicas is not None:
            return self.min_insync_replicas
        return 2 if self.replication_factor >= 3 else 1

    def to_dict(self) -> dict:
        """Every parameter, for config.json, metrics.json and the tables: the API key only says
        whether one was set (SECRET_SET), never what it is."""
        values = dataclasses.asdict(self)
        values["api_key"] = SECRET_SET if self.api_key else None
        return values

    @classmethod
    def from_dict(cls, values: dict) -> RunConfig:
        """From notebook parameters or a grid point; unknown names are an error that lists the known.
        A value of None (YAML's null) is the parameter's default: an extra point can take back a
        value the grid gives every point."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown run parameter(s) {unknown}; known: {sorted(known)}")
        try:
            return cls(**{k: _coerce(k, v) for k, v in values.items() if v is not None})
        except (TypeError, ValueError) as exc:
            raise ParameterError(str(exc)) from None


# The API's settings: with api_url the API is someone else's, and none of them applies.
API_PARAMS = ("acks", "linger_ms", "batch_size", "compression", "client", "server", "workers",
              "worker_threads", "delivery", "delivery_timeout_s", "consumers")  # fmt: skip


def ineffective(given: Mapping, cfg: RunConfig, as_flags: bool = True) -> list[str]:
    """Warnings for parameters that were given but do nothing with the others (never silently
    ignored): `given` holds the parameters the user set (flags, a grid point, notebook values),
    named as flags (`--linger-ms`) or as grid keys (`linger_ms`)."""
    said = {k for k, v in given.items() if v is not None}
    out = []

    def name(param: str) -> str:
        return "--" + param.replace("_", "-") if as_flags else param

    def warn(names, why: str) -> None:
        names = [n for n in names if n in said]
        if names:
            shown = ", ".join(name(n) for n in names)
            out.append(f"{shown} {'has' if len(names) == 1 else 'have'} no effect: {why}")

    if cfg.open_loop():
        warn(["threads"], "with rate the loop is open (requests leave on the schedule)")
    if not cfg.bootstrap_servers or cfg.api_url:
        warn(["keep_topic"], "only a topic the run creates on an external cluster is deleted")
    if cfg.duration_s is not None:
        warn(["events"], "with duration_s the run is timed")
    if cfg.stages is not None:
        warn(["events"], "stages set the run's length")
    if not cfg.capacity_from:
        warn(["rate_fraction"], "it is the share of the capacity given by --capacity-from")
    if cfg.endpoint == "single":
        warn(["events_per_request"], "it sizes the batch endpoint's requests (--endpoint batch)")
    if cfg.fault not in OUTAGE_FAULTS:
        warn(["outage_s"], "it is the length of --fault kafka-outage and throttle-broker")
    if cfg.api_url:
        warn(API_PARAMS, "with api_url the API and its consumers are someone else's")
        if given.get("audit") == "log":
            out.append(f"{name('audit')} log has no effect: with api_url the topic is audited")
    elif cfg.server == "werkzeug":
        warn(["workers", "worker_threads"], "werkzeug is one process, a thread per request")
    elif cfg.server == "gunicorn-gevent":
        warn(["worker_threads"], "gevent workers serve each connection on a greenlet")
    return out


def _field_type(name: str) -> type:
    """The plain type of a field (`int | None` -> int)."""
    hint = get_type_hints(RunConfig)[name]
    if get_origin(hint) in (Union, types.UnionType):
        hint = next(a for a in get_args(hint) if a is not type(None))
    return hint


def _coerce(name: str, value):
    """Grid values come from YAML: `acks: 1` is an int there, but a string here."""
    if value is None:
        return None
    kind = _field_type(name)
    if kind is bool:
        return value if isinstance(value, bool) else parse_bool(value)
    return kind(value)


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """One `--kebab-case` flag per run parameter, defaulting to None ("not given")."""
    for f in fields(RunConfig):
        flag = "--" + f.name.replace("_", "-")
        kind = _field_type(f.name)
        if kind is bool:  # --name / --no-name: a default of True must be possible to turn off
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None,
                                help=help_text(f.name))  # fmt: skip
        else:
            parser.add_argument(
                flag, type=kind, choices=CHOICES.get(f.name), default=None, help=help_text(f.name)
            )


def given_args(args: argparse.Namespace) -> dict:
    """The run parameters given as flags (those left out are None)."""
    given = {f.name: getattr(args, f.name) for f in fields(RunConfig)}
    return {k: v for k, v in given.items() if v is not None}


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr)


def config_from_args(args: argparse.Namespace, warn=_to_stderr) -> RunConfig:
    """The run's config from its flags; `warn` gets each warning of `ineffective`."""
    given = given_args(args)
    cfg = RunConfig.from_dict(given)
    for message in ineffective(given, cfg):
        warn(f"warning: {message}")
    return cfg
