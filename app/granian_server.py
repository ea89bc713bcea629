"""The API on granian: a Rust HTTP server calling the Flask app (WSGI) on a pool of blocking threads.

HTTP parsing, connections and keep-alive stay in Rust; Python runs only the handler. The same
guarantees as on gunicorn, without gunicorn's worker hooks:
- each worker process builds the app in `load_worker_app`, granian's target loader, which runs in
  the worker after the fork: one producer per worker, warmed in the background;
- on SIGTERM granian stops accepting, lets the requests in progress finish, and returns from the
  worker's serve function; the worker process then ends through multiprocessing's exit path,
  which runs the finalizer registered here: the producer flushes what was answered 2xx (in
  `async` mode, records only queued). `atexit` would not do: a forked multiprocessing child
  leaves through `os._exit`, and granian forks on Linux.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from functools import partial
from multiprocessing.util import Finalize

from flask import Flask

from app.api import create_app, publisher_of
from app.settings import ProducerSettings

log = logging.getLogger("app.producer")

# Run after the worker's serve function returned, before the process exits; among
# multiprocessing's finalizers, the higher priority runs first.
_FLUSH_PRIORITY = 100


def load_worker_app(settings: ProducerSettings) -> Flask:
    """Granian's target loader: the app of one worker process, flushed when the worker ends."""
    app = create_app(settings)
    publisher = publisher_of(app)
    publisher.warm_in_background()
    Finalize(None, publisher.close, exitpriority=_FLUSH_PRIORITY)
    return app


def run_granian(
    settings: ProducerSettings,
    args: argparse.Namespace,
    worker_threads: int | None,
    loader: Callable[[ProducerSettings], Flask] = load_worker_app,
) -> None:
    """Serves `loader(settings)` (run in each worker after the fork); benchmarks pass their own."""
    from granian.constants import HTTPModes, Interfaces
    from granian.log import LogLevels
    from granian.server import Server

    server = Server(
        "app.api:create_app",  # shown in granian's log; `load_worker_app` builds the app
        address=args.host,
        port=args.port,
        interface=Interfaces.WSGI,
        http=HTTPModes.http1,
        websockets=False,
        workers=args.workers,
        blocking_threads=worker_threads,
        backpressure=args.backpressure,
        backlog=2048,
        log_level=LogLevels(args.log_level.lower()),
        log_access=args.access_log,
        # In-progress requests get the delivery timeout, then the flush gets it too; a worker
        # stuck beyond that is killed rather than keeping the API from stopping.
        workers_kill_timeout=int(settings.delivery_timeout_s * 2 + 5),
    )
    server.serve(target_loader=partial(loader, settings), wrap_loader=False)
