"""The run parameters (docs/CONTRACTS.md): one definition serves the CLI flags, notebooks and grids.

Flags are the field names in kebab-case (`--linger-ms`); notebooks and grid files use the
snake_case names. Validation lives here, so a bad grid point fails before anything starts.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
from dataclasses import dataclass, fields
from typing import Union, get_args, get_origin, get_type_hints

from app.settings import (
    ACKS,
    CLIENTS,
    COMPRESSIONS,
    DEFAULT_SERVER,
    DELIVERY_MODES,
    SERVERS,
    ProducerSettings,
)
from harness.cluster import choose_bootstrap
from harness.loadgen.config import SimulatorConfig

ENDPOINTS = ("single", "batch")
# Each fault and the part of the system it acts on (harness/faults.py carries them out).
FAULT_TARGETS = {
    "none": None,
    "kill-broker": "brokers",
    "kill-broker-twice": "brokers",
    "kafka-outage": "brokers",
    "kill-consumer": "consumer",
    "restart-api": "api",
}
FAULTS = tuple(FAULT_TARGETS)
# Faults that need the harness's own embedded cluster, and those that need its own API and consumers.
BROKER_FAULTS = tuple(f for f, target in FAULT_TARGETS.items() if target == "brokers")
SERVICE_FAULTS = tuple(f for f, target in FAULT_TARGETS.items() if target in ("api", "consumer"))
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
}

HELP = {
    "events": "events to send (10000; ignored when duration_s is set)",
    "warmup_s": "seconds at the start whose events count but are left out of every figure (3)",
    "duration_s": "send for warmup_s + duration_s seconds instead of a fixed number of events",
    "threads": "concurrent senders in closed loop (200)",
    "rate": "events/s on a fixed schedule: open loop when set",
    "endpoint": "single: POST /register_event; batch: POST /events",
    "events_per_request": "events per request of the batch endpoint (500)",
    "acks": "producer acks: 0, 1 or all",
    "linger_ms": "producer linger.ms",
    "batch_size": "producer batch.size in bytes",
    "compression": "producer compression",
    "topic": "the Kafka topic (events)",
    "partitions": "partitions of the run's topic",
    "consumers": "consumer processes in the group",
    "client": "Kafka client library of the API and the consumers",
    "server": "granian (the default), gunicorn (gthread workers), gunicorn-gevent (gevent workers), or werkzeug (the seed-style dev server)",
    "workers": "API worker processes (default: the API's own)",
    "worker_threads": "threads per API worker that run the handler (default: the server's own)",
    "delivery": "ack: 2xx after the broker acked; async: once queued; flush: seed-style; noop",
    "delivery_timeout_s": "how long the API waits for Kafka before a 503",
    "brokers": "embedded brokers",
    "replication_factor": "replication factor of the run's topic",
    "min_insync_replicas": "min.insync.replicas (default: 2 when replication_factor >= 3, else 1)",
    "fault": "fault injected mid-run (see harness/faults.py)",
    "outage_s": "kafka-outage: how long every broker stays down",
    "bootstrap_servers": "an external cluster: nothing is started, the run uses it "
    "(default: KAFKA_BOOTSTRAP_SERVERS, else an embedded broker)",
    "api_url": "an API already running (e.g. http://host:5000): no API or consumer is started "
    "and the topic is audited",
    "audit": "log: count what the consumers logged; topic: read the topic itself (always with api_url)",
    "random_seed": "seeds the simulator's event names and user ids (reproducible payloads)",
    "drain_timeout_s": "how long to wait for the consumers to log every accepted event",
    "broker_warmup_s": "seconds of this run's load, not measured, through a broker the harness "
    "has just started, before the first measured run (a cold JVM costs ~4x the CPU per event; "
    "0: none)",
    "ceiling_rps": "the simulator's rate against a no-op API (information: client_bound uses its own CPU)",
    "measure_ceiling": "measure the simulator's ceiling before the run (adds ~20 s)",
}


class ParameterError(ValueError):
    """A run parameter (or a sweep's) that cannot work: said before anything starts."""


@dataclass(frozen=True)
class RunConfig:
    events: int = 10_000
    warmup_s: float = 3.0
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

    def __post_init__(self) -> None:
        # The cluster: this field, else KAFKA_BOOTSTRAP_SERVERS, else (None) an embedded broker.
        object.__setattr__(self, "bootstrap_servers", choose_bootstrap(self.bootstrap_servers))
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
            if getattr(self, name) < 0:
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
        if self.fault != "none" and self.duration_s is not None and self.rate is None:
            raise ValueError(
                f"fault={self.fault} is triggered at a share of the run's events: with duration_s "
                "set a rate too (open loop), or send a fixed number of events"
            )
        if self.replication_factor > self.brokers and not self.bootstrap_servers:
            raise ValueError(
                f"replication_factor={self.replication_factor} needs at least that many brokers "
                f"(brokers={self.brokers})"
            )
        if self.fault in BROKER_FAULTS and self.bootstrap_servers:
            raise ValueError(f"fault={self.fault} needs the embedded cluster, not an external one")
        if self.fault.startswith("kill-broker") and (
            self.brokers < 2 or self.replication_factor < 2
        ):
            raise ValueError(
                f"fault={self.fault} needs brokers >= 2 and replication_factor >= 2, so that "
                "no partition's only replica dies (e.g. --brokers 3 --replication-factor 3)"
            )
        if self.isr() > self.replication_factor:
            raise ValueError("min_insync_replicas cannot exceed replication_factor")

    def needs_own_cluster(self) -> bool:
        """A cluster of its own: several brokers, or a fault that stops brokers."""
        return not self.bootstrap_servers and (self.brokers > 1 or self.fault in BROKER_FAULTS)

    def planned_events(self) -> int | None:
        """Events the run sends (faults are placed by it); None for a timed closed loop."""
        return self.simulator_config("http://planned", "planned").planned_events

    def producer_settings(self, bootstrap: str, topic: str, delivery: str | None = None):
        """The API's settings for this run (the producer fields of ProducerSettings)."""
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
        )

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
            warmup_s=self.warmup_s,
            duration_s=self.duration_s,
            random_seed=self.random_seed,
        )
        values.update(overrides)
        return SimulatorConfig(**values)

    def isr(self) -> int:
        if self.min_insync_replicas is not None:
            return self.min_insync_replicas
        return 2 if self.replication_factor >= 3 else 1

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> RunConfig:
        """From notebook parameters or a grid point; unknown names are an error that lists the known."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown run parameter(s) {unknown}; known: {sorted(known)}")
        try:
            return cls(**{k: _coerce(k, v) for k, v in values.items()})
        except (TypeError, ValueError) as exc:
            raise ParameterError(str(exc)) from None


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
        return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes")
    return kind(value)


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """One `--kebab-case` flag per run parameter, defaulting to None ("not given")."""
    for f in fields(RunConfig):
        flag = "--" + f.name.replace("_", "-")
        kind = _field_type(f.name)
        if kind is bool:
            parser.add_argument(flag, action="store_true", default=None, help=HELP.get(f.name))
        else:
            parser.add_argument(
                flag, type=kind, choices=CHOICES.get(f.name), default=None, help=HELP.get(f.name)
            )


def config_from_args(args: argparse.Namespace) -> RunConfig:
    given = {f.name: getattr(args, f.name) for f in fields(RunConfig)}
    return RunConfig.from_dict({k: v for k, v in given.items() if v is not None})
