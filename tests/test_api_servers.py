"""The API as a real gunicorn (and Werkzeug) process in front of the real embedded broker."""

from __future__ import annotations

import http.client
import time
from concurrent.futures import ThreadPoolExecutor

import orjson
import pytest
from api_helpers import get, post, read_topic

from app.settings import ProducerSettings
from harness.services import ApiService

pytestmark = pytest.mark.kafka

GOOD = {"event": "signup", "user_id": 123}


def api_settings(kafka, topic, **kw) -> ProducerSettings:
    return ProducerSettings(bootstrap_servers=kafka.bootstrap_servers, topic=topic, **kw)


@pytest.fixture(scope="module")
def module_topic(kafka):
    from harness import admin

    name = f"t-api-gunicorn-{time.time_ns()}"
    admin.create_topic(kafka.bootstrap_servers, name, 3, 1)
    return name


@pytest.fixture(scope="module")
def api(kafka, module_topic, tmp_path_factory):
    """One gunicorn API (ack delivery, kafka-python) shared by the checks below."""
    settings = api_settings(kafka, module_topic, max_body_bytes=64 * 1024)
    log = tmp_path_factory.mktemp("api") / "api.log"
    with ApiService(settings, log, workers=2, threads=8) as service:
        yield service


def send_singles(url: str, events: list[dict], concurrency: int = 16) -> list[tuple[int, dict]]:
    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(lambda e: post(url + "/register_event", e), events))


def test_events_posted_through_gunicorn_are_in_the_topic(kafka, new_topic, tmp_path):
    """Happy path for both clients: singles and a batch, fields kept and added, nothing lost."""
    for client in ("kafka-python", "confluent-kafka"):
        topic = new_topic(3)
        settings = api_settings(kafka, topic, client=client)
        with ApiService(settings, tmp_path / f"api-{client}.log", workers=2, threads=8) as api:
            singles = [
                {"event": "purchase", "user_id": i, "sent_at": 1000.5 + i} for i in range(60)
            ]
            answers = send_singles(api.url, singles)
            assert all(status == 202 for status, _ in answers), answers[:3]
            batch = [{"event": "view", "user_id": f"u{i}", "event_id": f"b-{i}"} for i in range(40)]
            status, body = post(api.url + "/events", batch)
            assert status == 202 and body["accepted"] == 40 and body["rejected"] == 0
        got = read_topic(kafka.bootstrap_servers, topic, 100)
        by_id = {e["event_id"]: e for e in got}
        assert len(got) == 100 and len(by_id) == 100, client
        for (_, answer), sent in zip(answers, singles, strict=True):
            stored = by_id[answer["event_id"]]
            assert stored["user_id"] == sent["user_id"] and stored["sent_at"] == sent["sent_at"]
            assert stored["event"] == "purchase" and isinstance(stored["received_at"], float)
            assert abs(stored["received_at"] - time.time()) < 120
        assert {f"b-{i}" for i in range(40)} <= set(by_id)


@pytest.mark.parametrize("client", ["kafka-python", "confluent-kafka"])
def test_gevent_workers_deliver_every_acknowledged_event(kafka, new_topic, tmp_path, client):
    """gunicorn-gevent: acks wait cooperatively (confluent-kafka polled from a greenlet); every
    2xx event is in Kafka."""
    topic = new_topic(3)
    settings = api_settings(kafka, topic, client=client)
    with ApiService(settings, tmp_path / "api.log", server="gunicorn-gevent", workers=2) as api:
        singles = [{"event": "purchase", "user_id": i} for i in range(200)]
        answers = send_singles(api.url, singles, concurrency=50)
        assert all(status == 202 for status, _ in answers), answers[:3]
        status, body = post(api.url + "/events", [{"event": "view", "user_id": 1}] * 100)
        assert status == 202 and body["accepted"] == 100
        status, health = get(api.url + "/healthz")
        assert status == 200, health
    got = read_topic(kafka.bootstrap_servers, topic, 300)
    assert {a["event_id"] for _, a in answers} <= {e["event_id"] for e in got}
    assert len(got) == 300
    log = (tmp_path / "api.log").read_text()
    assert "Traceback" not in log and "MonkeyPatchWarning" not in log, log[-2000:]


def test_bad_input_through_gunicorn_gets_4xx_and_it_keeps_serving(api):
    cases = [
        (b"{not json", "application/json", 400),
        (b'{"event": "\xc3\x28"}', "application/json", 400),
        (b"[" * 50_000, "application/json", 400),
        (orjson.dumps(GOOD), "text/plain", 415),
        (b"", "application/json", 400),
        (orjson.dumps([GOOD]), "application/json", 400),
        (orjson.dumps({"event": "a", "pad": "x" * 70_000}), "application/json", 413),
    ]
    for body, ctype, expected in cases:
        status, answer = post(api.url + "/register_event", body, ctype)
        assert status == expected, (body[:40], answer)
        assert isinstance(answer, dict) and answer["error"], answer
        assert post(api.url + "/register_event", GOOD)[0] == 202


def test_chunked_body_over_the_limit_is_413_through_gunicorn(api):
    big = orjson.dumps({"event": "a", "pad": "x" * 70_000})
    conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=30)
    try:
        chunks = (big[i : i + 4096] for i in range(0, len(big), 4096))
        conn.request(
            "POST",
            "/register_event",
            body=chunks,
            encode_chunked=True,
            headers={"Content-Type": "application/json"},
        )
        resp = conn.getresponse()
        assert resp.status == 413 and "error" in orjson.loads(resp.read())
    finally:
        conn.close()
    # A small chunked body is read whole and accepted.
    conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=30)
    try:
        conn.request(
            "POST",
            "/register_event",
            body=iter([orjson.dumps(GOOD)]),
            encode_chunked=True,
            headers={"Content-Type": "application/json"},
        )
        assert conn.getresponse().status == 202
    finally:
        conn.close()


def test_flask_errors_and_health_through_gunicorn(api):
    assert get(api.url + "/nope")[0] == 404
    status, body = get(api.url + "/healthz")
    assert status == 200 and body["status"] == "ok", body
    status, spec = get(api.url + "/openapi.json")
    assert status == 200 and "/register_event" in spec["paths"]


def test_werkzeug_with_flush_delivery_is_the_seed_baseline(kafka, new_topic, tmp_path):
    topic = new_topic(1)
    settings = api_settings(kafka, topic, delivery="flush")
    with ApiService(settings, tmp_path / "api.log", server="werkzeug") as api:
        answers = send_singles(api.url, [{"event": "seed", "n": i} for i in range(20)], 4)
        assert [s for s, _ in answers] == [202] * 20
    assert sorted(e["n"] for e in read_topic(kafka.bootstrap_servers, topic, 20)) == list(range(20))
