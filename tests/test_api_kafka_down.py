"""The API when Kafka goes away: 503 within the delivery timeout, a fast unhealthy /healthz, and
recovery on its own once the broker is back. Each test owns a dedicated broker it can stop.

Every API is checked in a thread of its own, all at once: each check waits on its own API (the
delivery timeout, the health cache), not on the CPU, and times its own requests, so the bounds
are the same as one API at a time while the test waits once instead of once per API."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from api_helpers import WORKER_SERVERS, get, post, post_to_worker, read_topic, worker_pids

from app.settings import CLIENTS, ProducerSettings
from harness import admin
from harness.kafka import EmbeddedKafka
from harness.services import ApiService

# Alone on the machine under xdist (conftest.py): answers timed against the delivery timeout.
pytestmark = [pytest.mark.kafka, pytest.mark.exclusive]

DELIVERY_TIMEOUT = 2.0
SLACK = 1.5  # process scheduling on a busy 2-core machine


def timed(fn, *args):
    started = time.monotonic()
    result = fn(*args)
    return result, time.monotonic() - started


def settings_for(broker: EmbeddedKafka, client: str) -> ProducerSettings:
    return ProducerSettings(
        bootstrap_servers=broker.bootstrap_servers,
        topic="events",
        client=client,
        delivery_timeout_s=DELIVERY_TIMEOUT,
        health_cache_s=0.2,
        health_timeout_s=0.5,
    )


def wait_until(predicate, timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def on_each(check, apis: list[ApiService]) -> list:
    """`check(api)` for every API at once; every check's failure is raised (the first here)."""
    with ThreadPoolExecutor(len(apis)) as pool:
        futures = [pool.submit(check, api) for api in apis]
    return [f.result() for f in futures]


def start_all(apis: list[ApiService], wait: bool = True) -> None:
    """Starts the APIs' processes together, then waits until each is ready."""
    for api in apis:
        api.start(wait=False)
    if wait:
        on_each(lambda api: api.wait_ready(), apis)


def stop_all(apis: list[ApiService]) -> None:
    on_each(lambda api: api.stop(), apis)


def assert_unavailable_in_time(api: ApiService) -> None:
    (status, body), elapsed = timed(post, api.url + "/register_event", {"event": "while-down"})
    assert status == 503 and body["error"], body
    assert elapsed < DELIVERY_TIMEOUT + SLACK
    (status, body), elapsed = timed(post, api.url + "/events", [{"event": "a"}, {"event": "b"}])
    assert status == 503 and body["failed"] == 2 and body["accepted"] == 0, body
    assert elapsed < DELIVERY_TIMEOUT + SLACK
    # The health probe is cached for 0.2 s: within a second it must have noticed.
    assert wait_until(lambda: get(api.url + "/healthz")[0] == 503, timeout=3)
    (status, body), elapsed = timed(get, api.url + "/healthz")
    assert status == 503 and body["status"] == "unavailable"
    assert elapsed < 0.5 + SLACK


WORKERS = 2  # the APIs' worker processes: each owns a producer, and each must recover
IN_A_ROW = 3  # 202s in a row that make a worker count as recovered


def assert_recovers(api: ApiService) -> list[str]:
    """Every worker answers 202 again by itself; returns the accepted event ids.

    Requests go out concurrently, on new connections, so that each round reaches every worker:
    a worker whose producer stayed wedged answers 503 for ever, and its streak never grows
    (requests sent one at a time could all reach the healthy worker)."""
    workers = worker_pids(api.pid)
    assert len(workers) == WORKERS, workers
    streaks = dict.fromkeys(map(str, workers), 0)
    accepted: list[str] = []

    def every_worker_recovered() -> bool:
        with ThreadPoolExecutor(4 * WORKERS) as pool:
            answers = list(pool.map(
                lambda _: post_to_worker(api.url + "/register_event", {"event": "after"},
                                         timeout=10),
                range(4 * WORKERS)))  # fmt: skip
        for status, body, worker in answers:
            if status == 202:
                accepted.append(body["event_id"])
            if worker is not None:
                assert worker in streaks, f"an answer from {worker}, not a worker of {workers}"
                streaks[worker] = streaks[worker] + 1 if status == 202 else 0
        return min(streaks.values()) >= IN_A_ROW

    assert wait_until(every_worker_recovered, timeout=60, interval=0.5), (
        f"202s in a row per worker after 60 s: {streaks}"
    )
    assert wait_until(lambda: get(api.url + "/healthz")[0] == 200, timeout=5)
    return accepted


def test_broker_stopped_then_restarted(tmp_path):
    """Both client libraries on every server with workers at once, one API each, against one
    broker (one restart to wait for)."""
    with EmbeddedKafka(root=tmp_path / "kafka") as broker:
        admin.create_topic(broker.bootstrap_servers, "events", 1, 1)
        apis = [
            ApiService(
                settings_for(broker, client), tmp_path / f"api-{server}-{client}.log",
                server=server, workers=WORKERS, worker_threads=8,
            )
            for server in WORKER_SERVERS
            for client in CLIENTS
        ]  # fmt: skip
        accepted: list[str] = []
        try:
            start_all(apis)
            for api in apis:
                status, body = post(api.url + "/register_event", {"event": "before"})
                assert status == 202
                accepted.append(body["event_id"])

            broker.stop_node(1)
            on_each(assert_unavailable_in_time, apis)

            broker.start_node(1)
            for ids in on_each(assert_recovers, apis):
                accepted += ids
        finally:
            stop_all(apis)
        ids = {e["event_id"] for e in read_topic(broker.bootstrap_servers, "events", len(accepted))}
        assert set(accepted) <= ids


def test_broker_absent_when_the_api_starts(tmp_path):
    """Every server with workers, one API each, started before the broker exists."""
    broker = EmbeddedKafka(root=tmp_path / "kafka")  # ports chosen, nothing running yet
    settings = settings_for(broker, "kafka-python")
    apis = [
        ApiService(settings, tmp_path / f"api-{server}.log", server=server, workers=WORKERS,
                   worker_threads=8)
        for server in WORKER_SERVERS
    ]  # fmt: skip

    def unavailable_from_the_start(api: ApiService) -> None:
        assert wait_until(lambda: get(api.url + "/healthz")[0] == 503, timeout=20)
        assert_unavailable_in_time(api)

    try:
        start_all(apis, wait=False)  # never ready: there is no broker yet
        on_each(unavailable_from_the_start, apis)
        with broker:
            admin.create_topic(broker.bootstrap_servers, "events", 1, 1)
            on_each(assert_recovers, apis)
    finally:
        stop_all(apis)
