"""The API on granian with a Kafka client that only waits: what waiting for an ack costs a handler.

    .venv/bin/python benchmarks/waiting_api.py [python -m app.producer's flags] --server granian

The same Flask app, Publisher, server and flags as `python -m app.producer`, but the Publisher's
client is `SimulatedAcks`: send() parks the request like `ack` delivery, and a ticker thread
releases every parked request each `linger_ms` (a batch's acknowledgements arriving together),
without librdkafka, a socket or a broker. bench_api.py runs it beside the no-op handler and the
full path, so the gap between the three says what the wait costs and what the Kafka client costs.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Sequence

from app.api import create_app
from app.delivery import Publisher
from app.flags import worker_threads
from app.producer import build_parser, keep_freed_heap, settings_from_args
from app.producer_client import DeliveryStats, Pending
from app.settings import ProducerSettings


class _Parked(Pending):
    def __init__(self, total: int) -> None:
        super().__init__(total)
        self.queued = total
        self.latch = threading.Lock()
        self.latch.acquire()


class SimulatedAcks:
    """A ProducerClient (app/producer_client.py) whose records are acknowledged by a ticker."""

    def __init__(self, settings: ProducerSettings, connect_timeout: float | None = None) -> None:
        self.stats = DeliveryStats()
        self._every_s = max(settings.linger_ms, 1) / 1000
        self._lock = threading.Lock()
        self._parked: list[_Parked] = []
        threading.Thread(target=self._tick, name="simulated-acks", daemon=True).start()

    def _tick(self) -> None:
        while True:
            time.sleep(self._every_s)
            with self._lock:
                batch, self._parked = self._parked, []
            for pending in batch:
                pending.latch.release()

    def send(
        self, values: Sequence[bytes], watch: bool = True, keys: Sequence[bytes] | None = None
    ) -> Pending:
        pending = _Parked(len(values))
        with self._lock:
            self._parked.append(pending)
        self.stats.add_sent(len(values))
        return pending

    def wait(self, pending: _Parked, deadline: float) -> list[str | None]:
        acked = pending.latch.acquire(timeout=max(0.0, deadline - time.monotonic()))
        return [None if acked else "not acknowledged"] * pending.total

    def flush(self, timeout: float) -> bool:
        return True

    def ping(self, timeout: float) -> bool:
        return True

    def close(self, timeout: float) -> None:
        pass


def load_waiting_app(settings: ProducerSettings):
    """granian's target loader: the app with the simulated client, one per worker."""
    return create_app(settings, Publisher(settings, client_factory=SimulatedAcks))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper())
    if args.server != "granian":
        print("waiting_api.py serves on granian only", file=sys.stderr)
        return 2
    from app.granian_server import run_granian

    keep_freed_heap()  # as python -m app.producer does
    run_granian(settings_from_args(args), args, worker_threads(args), loader=load_waiting_app)
    return 0


if __name__ == "__main__":
    sys.exit(main())
