"""The run parameters of DESIGN.md: one definition serves the CLI flags, notebooks and sweep grids.

Flags are the field names in kebab-case (`--linger-ms`); notebooks and grid files use the
snake_case names. Validation lives here, so a bad grid point fails before anything starts.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
from dataclasses import dataclass, fields
from typing import Union, get_args, get_origin, get_type_hints

from app.settings import ACKS, CLIENTS, COMPRESSIONS, DELIVERY_MODES, SERVERS, ProducerSettings

ENDPOINTS = ("single", "batch")
FAULTS = (
    "none",
    "kill-broker",
    "kill-broker-twice",
    "kafka-outage",
    "kill-consumer",
    "restart-api",
)
# Faults that act on the embedded brokers themselves.
BROKER_FAULTS = ("kill-broker", "kill-broker-twice", "kafka-outage")

CHOICES = {
    "endpoint": ENDPOINTS,
    "acks": ACKS,
    "compression": COMPRESSIONS,
    "client": CLIENTS,
    "server": SERVERS,
    "delivery": tuple(d for d in DELIVERY_MODES),
    "fault": FAULTS,
}

HELP = {
    "events": "events to send (10000)",
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
    "server": "gunicorn (gthread workers), gunicorn-gevent (gevent workers), or werkzeug (the seed-style dev server)",
    "workers": "gunicorn worker processes (default: the API's own)",
    "worker_threads": "threads per gunicorn worker (default: the API's own)",
    "delivery": "ack: 2xx after the broker acked; async: once queued; flush: seed-style; noop",
    "delivery_timeout_s": "how long the API waits for Kafka before a 503",
    "brokers": "embedded brokers",
    "replication_factor": "replication factor of the run's topic",
    "min_insync_replicas": "min.insync.replicas (default: 2 when replication_factor >= 3, else 1)",
    "fault": "fault injected mid-run (see harness/faults.py)",
    "outage_s": "kafka-outage: how long every broker stays down",
    "bootstrap_servers": "an external cluster: nothing is started, the run uses it",
    "drain_timeout_s": "how long to wait for the consumers to log every accepted event",
    "ceiling_rps": "the simulator's ceiling (requests/s vs a no-op API), to flag client-bound runs",
    "measure_ceiling": "measure the simulator's ceiling before the run (adds ~20 s)",
}


@dataclass(frozen=True)
class RunConfig:
    events: int = 10_000
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
    server: str = "gunicorn"
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
    drain_timeout_s: float = 60.0
    ceiling_rps: float | None = None
    measure_ceiling: bool = False

    def __post_init__(self) -> None:
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
        return cls(**{k: _coerce(k, v) for k, v in values.items()})


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
