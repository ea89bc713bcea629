"""The API's command-line flags, defined once for `python -m app.producer` and `python -m harness up`.

Server flags say where and how the API serves; producer flags set `ProducerSettings` fields, and a
flag left out (None) falls through to the environment, then to the settings' default.
"""

from __future__ import annotations

import argparse

from app.settings import (
    ACKS,
    CLIENTS,
    COMPRESSIONS,
    DEFAULT_CLIENT,
    DEFAULT_SERVER,
    DELIVERY_MODES,
    SERVERS,
)

DEFAULT_WORKERS = 2  # one per core on the 2-core reference machine
# Threads per worker process that run the handler. In `ack` mode each waits ~ linger + one broker
# round trip per request, so the threads bound the requests in flight per worker.
DEFAULT_WORKER_THREADS = {"granian": 64, "gunicorn": 32}


def add_server_flags(p: argparse.ArgumentParser) -> None:
    """Where and how the API serves."""
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5000)
    p.add_argument(
        "--server", choices=SERVERS, default=DEFAULT_SERVER, help=f"default {DEFAULT_SERVER}"
    )
    p.add_argument(
        "--workers",
        type=int,
        default=DEFAULT_WORKERS,
        help=f"worker processes (granian, gunicorn; default {DEFAULT_WORKERS})",
    )
    p.add_argument(
        "--worker-threads",
        type=int,
        default=None,
        help="threads per worker that run the handler (granian's blocking threads, gunicorn's "
        "gthread threads; default "
        + ", ".join(f"{k} {v}" for k, v in DEFAULT_WORKER_THREADS.items())
        + ")",
    )
    p.add_argument(
        "--backpressure",
        type=int,
        default=None,
        help="granian: requests in progress per worker, keep-alive connections included "
        "(default: granian's own, its listen backlog / workers)",
    )


def worker_threads(args: argparse.Namespace) -> int | None:
    """The threads per worker for `args.server`: the flag, else that server's default."""
    if args.worker_threads is not None:
        return args.worker_threads
    return DEFAULT_WORKER_THREADS.get(args.server)


# Producer settings a flag may set; None means "not given": the environment or the default applies.
PRODUCER_FLAGS = {
    "client": {"choices": CLIENTS, "help": f"default: KAFKA_CLIENT or {DEFAULT_CLIENT}"},
    "delivery": {"choices": DELIVERY_MODES},
    "acks": {"choices": ACKS},
    "linger_ms": {"type": int},
    "batch_size": {"type": int},
    "compression": {"choices": COMPRESSIONS},
    "delivery_timeout_s": {"type": float},
    "max_body_bytes": {"type": int},
    "max_batch_events": {"type": int},
    "key": {
        "help": "none (records without a key), or a top-level field whose value, as text, "
        "becomes each record's key (events without it get a 400); default: PRODUCER_KEY or none"
    },
    "idempotence": {
        "action": argparse.BooleanOptionalAction,
        "help": "the idempotent producer (default: PRODUCER_IDEMPOTENCE, else on with acks=all)",
    },
    "max_in_flight": {
        "type": int,
        "help": "requests in flight per broker connection (default: PRODUCER_MAX_IN_FLIGHT or 5)",
    },
}


def add_producer_flags(p: argparse.ArgumentParser) -> None:
    """The producer's settings as flags."""
    for name, kwargs in PRODUCER_FLAGS.items():
        p.add_argument("--" + name.replace("_", "-"), **kwargs)


def producer_overrides(args: argparse.Namespace) -> dict:
    return {name: getattr(args, name) for name in PRODUCER_FLAGS}
