"""Run the producer API: `python -m app.producer [--port 5000] [--server granian|gunicorn|...]`.

Every server runs the same Flask app (app/api.py) in `--workers` processes (werkzeug: one), each
building its own Kafka producer after the fork (warmed in the background) and flushing it when the
worker exits, so SIGTERM (the graceful shutdown) drops nothing it answered 2xx:
- granian (the default): a Rust HTTP server calling the app on `--worker-threads` blocking threads
  per worker (app/granian_server.py); the least CPU per event of the servers here;
- gunicorn: gthread workers with `--worker-threads` threads each;
- gunicorn-gevent: gevent workers (a greenlet per connection; both clients, app/producer_client.py);
- werkzeug: the seed's threaded dev server, kept as the baseline.

Every flag left out falls back to the environment (see app/settings.py), then to the default.
"""

from __future__ import annotations

import argparse
import ctypes
import logging
import os
import signal
import sys

from app.api import create_app, publisher_of
from app.flags import add_producer_flags, add_server_flags, producer_overrides, worker_threads
from app.settings import ProducerSettings

log = logging.getLogger("app.producer")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m app.producer", description=__doc__.split("\n")[0])
    add_server_flags(p)
    p.add_argument("--access-log", action="store_true", help="log every request (slows it down)")
    p.add_argument("--log-level", default="info")
    p.add_argument("--bootstrap-servers")
    p.add_argument("--topic")
    add_producer_flags(p)
    return p


def settings_from_args(args: argparse.Namespace) -> ProducerSettings:
    return ProducerSettings.from_env(
        bootstrap_servers=args.bootstrap_servers, topic=args.topic, **producer_overrides(args)
    )


# ---------------------------------------------------------------- gunicorn


def _warm_producer(worker) -> None:
    publisher_of(worker.wsgi).warm_in_background()


def _close_producer(server, worker) -> None:
    app = getattr(worker, "wsgi", None)
    if app is not None:
        publisher_of(app).close()


def run_gunicorn(settings: ProducerSettings, args: argparse.Namespace, threads: int | None) -> None:
    from gunicorn.app.base import BaseApplication

    options = {
        "bind": f"{args.host}:{args.port}",
        "workers": args.workers,
        "threads": threads or 1,
        "worker_class": "gevent" if args.server == "gunicorn-gevent" else "gthread",
        "worker_connections": 2000,
        "backlog": 2048,
        "keepalive": 30,  # load generators keep their connections open
        # Workers get the delivery timeout to finish in-flight requests, then their flush.
        "graceful_timeout": int(settings.delivery_timeout_s * 2 + 5),
        "timeout": max(30, int(settings.delivery_timeout_s * 3)),
        "accesslog": "-" if args.access_log else None,
        "errorlog": "-",
        "loglevel": args.log_level,
        "proc_name": "event-api",
        # gunicorn >= 25 opens one control socket per user by default: parallel servers would fight.
        "control_socket_disable": True,
        "post_worker_init": _warm_producer,
        "worker_exit": _close_producer,
    }

    class EventApi(BaseApplication):
        def load_config(self) -> None:
            for key, value in options.items():
                if (
                    key in self.cfg.settings
                ):  # settings newer than the installed gunicorn are skipped
                    self.cfg.set(key, value)

        def load(self):
            return create_app(settings)

    EventApi().run()


# ---------------------------------------------------------------- werkzeug


def run_werkzeug(settings: ProducerSettings, args: argparse.Namespace) -> None:
    from werkzeug.serving import run_simple

    app = create_app(settings)

    def on_sigterm(signum, frame):
        raise KeyboardInterrupt  # serve_forever() stops on it; the finally below flushes

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        run_simple(args.host, args.port, app, threaded=True, use_reloader=False)
    except KeyboardInterrupt:
        pass
    finally:
        publisher_of(app).close()


# glibc returns the top of the heap to the kernel once this much is free there (128 KiB by
# default). A batch's records (one orjson.dumps each, every one allocated at 1 KiB and then
# shrunk) span more than that, so each batch freed it and the next faulted it back in: the batch
# endpoint cost ~4 CPU-us per event, under 2 with the freed heap kept (bench_batch_path.py).
HEAP_TRIM_THRESHOLD = 64 << 20
_M_TRIM_THRESHOLD = -1  # mallopt's parameter number, from glibc's malloc.h


def keep_freed_heap() -> bool:
    """Raise glibc's heap trim threshold for this process and the workers it forks.

    False where the C library has no mallopt (musl): nothing changes then.
    """
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    return bool(mallopt and mallopt(_M_TRIM_THRESHOLD, HEAP_TRIM_THRESHOLD))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s",
    )
    # kafka-python narrates every connection attempt at INFO: keep its warnings and errors only.
    logging.getLogger("kafka").setLevel(max(logging.WARNING, logging.getLogger().level))
    try:
        settings = settings_from_args(args)
    except ValueError as exc:
        print(f"invalid settings: {exc}", file=sys.stderr)
        return 2
    log.info("settings: %s (server %s, pid %d)", settings.public_dict(), args.server, os.getpid())
    keep_freed_heap()
    threads = worker_threads(args)
    if args.server == "granian":
        from app.granian_server import run_granian

        run_granian(settings, args, threads)
    elif args.server == "werkzeug":
        run_werkzeug(settings, args)
    else:
        run_gunicorn(settings, args, threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
