"""SIGTERM on the API mid-load with async delivery: every event answered 2xx is in the topic.

With `async` a 2xx only means "queued in the producer"; a long linger keeps records buffered, so
the test depends on each server's graceful shutdown flushing every worker's producer on exit
(gunicorn's `worker_exit` hook; granian's worker finalizer, app/granian_server.py).
"""

from __future__ import annotations

import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from api_helpers import WORKER_SERVERS, post, read_topic

from app.settings import CLIENTS, ProducerSettings
from harness.services import ApiService

pytestmark = pytest.mark.kafka


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("server", WORKER_SERVERS)
def test_sigterm_with_async_delivery_loses_nothing_answered(
    kafka, new_topic, tmp_path, server, client
):
    topic = new_topic(3)
    settings = ProducerSettings(
        bootstrap_servers=kafka.bootstrap_servers,
        topic=topic,
        client=client,
        delivery="async",
        linger_ms=2000,  # records sit in the producer's buffer when SIGTERM arrives
    )
    api = ApiService(settings, tmp_path / "api.log", server=server, workers=2,
                     worker_threads=8).start()  # fmt: skip
    accepted: list[str] = []
    lock = threading.Lock()
    stop_sending = threading.Event()

    def sender(worker: int) -> None:
        n = 0
        while not stop_sending.is_set() and n < 2000:
            status, body = post(
                api.url + "/register_event", {"event": "e", "w": worker, "n": n}, timeout=10
            )
            n += 1
            if status == 202:
                with lock:
                    accepted.append(body["event_id"])
            elif status == 0:  # the server is gone
                return

    try:
        with ThreadPoolExecutor(8) as pool:
            for i in range(8):
                pool.submit(sender, i)
            while len(accepted) < 200:
                time.sleep(0.01)
            api.process.signal(signal.SIGTERM)  # the graceful shutdown, as `kill` does
            assert api.process.proc.wait(timeout=60) == 0
            stop_sending.set()
    finally:
        stop_sending.set()
        api.stop()
    assert len(accepted) >= 200
    got = {e["event_id"] for e in read_topic(kafka.bootstrap_servers, topic, len(accepted))}
    missing = set(accepted) - got
    assert not missing, f"{len(missing)} of {len(accepted)} accepted events are not in the topic"
