"""The API on each real server (granian, gunicorn gthread and gevent, Werkzeug) in front of the real
embedded broker: every check runs on every server with workers."""

from __future__ import annotations

import http.client
import io
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import orjson
import pytest
from api_helpers import WORKER_SERVERS, get, post, read_topic

from app.settings import CLIENTS, ProducerSettings
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


@pytest.fixture(scope="module", params=WORKER_SERVERS)
def api(kafka, module_topic, tmp_path_factory, request):
    """One API per server (ack delivery, the default client) shared by the checks below."""
    settings = api_settings(kafka, module_topic, max_body_bytes=64 * 1024)
    log = tmp_path_factory.mktemp("api") / "api.log"
    with ApiService(settings, log, server=request.param, workers=2, worker_threads=8) as service:
        yield service


def send_singles(url: str, events: list[dict], concurrency: int = 16) -> list[tuple[int, dict]]:
    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(lambda e: post(url + "/register_event", e), events))


@pytest.mark.parametrize("server", WORKER_SERVERS)
def test_every_acknowledged_event_is_in_the_topic(kafka, new_topic, tmp_path, server):
    """Happy path for both clients: singles and a batch, fields kept and added, nothing lost."""
    for client in CLIENTS:
        topic = new_topic(3)
        settings = api_settings(kafka, topic, client=client)
        log = tmp_path / f"api-{client}.log"
        with ApiService(settings, log, server=server, workers=2, worker_threads=8) as api:
            singles = [
                {"event": "purchase", "user_id": i, "sent_at": 1000.5 + i} for i in range(60)
            ]
            answers = send_singles(api.url, singles, concurrency=30)
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
        text = log.read_text()
        assert "Traceback" not in text and "MonkeyPatchWarning" not in text, text[-2000:]


def test_bad_input_gets_4xx_and_it_keeps_serving(api):
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


def post_chunked(port: int, body: bytes) -> tuple[int, dict]:
    """POST `body` in 4 KiB chunks over a raw socket; (status, JSON answer).

    A server may answer 413 and close before the client has sent the rest (granian does): the
    answer is read even when sending the remainder failed, as a browser or curl would.
    """
    head = (
        b"POST /register_event HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    chunks = b"".join(
        b"%x\r\n%s\r\n" % (len(body[i : i + 4096]), body[i : i + 4096])
        for i in range(0, len(body), 4096)
    )
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        try:
            sock.sendall(head + chunks + b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered early
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    response = http.client.HTTPResponse(FakeSocket(answer))
    response.begin()
    return response.status, orjson.loads(response.read())


class FakeSocket:
    """Bytes already received, as the socket http.client.HTTPResponse parses."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def makefile(self, mode: str):
        return io.BytesIO(self.data)


def test_chunked_body_over_the_limit_is_413(api):
    big = orjson.dumps({"event": "a", "pad": "x" * 70_000})
    status, answer = post_chunked(api.port, big)
    assert status == 413 and answer["error"], answer
    # A small chunked body is read whole and accepted.
    status, answer = post_chunked(api.port, orjson.dumps(GOOD))
    assert status == 202, answer


def test_flask_errors_and_health(api):
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
