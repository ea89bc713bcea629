"""Bad input through the Flask test client: each gets a 4xx JSON error, and the API keeps serving.

The app runs with `noop` delivery (validation only); what reaches Kafka is tested against the real
broker in test_api_gunicorn.py.
"""

from __future__ import annotations

import io

import orjson
import pytest

from app.api import create_app
from app.settings import KafkaSecurity, ProducerSettings

GOOD = {"event": "signup", "user_id": 123}


@pytest.fixture
def settings():
    return ProducerSettings(delivery="noop", max_body_bytes=64 * 1024, max_batch_events=5)


@pytest.fixture
def client(settings):
    return create_app(settings).test_client()


def post_raw(client, path, data, content_type="application/json", **kw):
    return client.post(path, data=data, content_type=content_type, **kw)


def assert_error(resp, status, *words):
    assert resp.status_code == status, resp.data
    assert resp.mimetype == "application/json"
    body = resp.get_json()
    assert set(body) >= {"error"} and isinstance(body["error"], str) and body["error"]
    for word in words:
        assert word.lower() in body["error"].lower(), body["error"]


def assert_still_serving(client):
    resp = client.post("/register_event", json=GOOD)
    assert resp.status_code == 202
    assert resp.get_json()["status"] == "accepted"


def test_original_request_is_accepted_with_a_generated_event_id(client):
    resp = client.post("/register_event", json={"event": "signup", "user_id": 123})
    assert resp.status_code == 202
    body = resp.get_json()
    assert body["status"] == "accepted"
    assert len(body["event_id"]) == 32 and int(body["event_id"], 16) >= 0


def test_client_event_id_is_kept(client):
    resp = client.post("/register_event", json={"event": "x", "event_id": "abc-1"})
    assert resp.get_json()["event_id"] == "abc-1"


def test_json_with_charset_and_vendor_types_is_accepted(client):
    for ctype in ("application/json; charset=utf-8", "application/vnd.events+json"):
        assert post_raw(client, "/register_event", orjson.dumps(GOOD), ctype).status_code == 202


BAD_BODIES = [
    pytest.param(b"{bad json", 400, ["malformed"], id="malformed"),
    pytest.param(b"", 400, ["empty"], id="empty"),
    pytest.param(b"   \n", 400, ["empty"], id="whitespace-only"),
    pytest.param(b'{"event": "\xff\xfe"}', 400, ["utf-8"], id="invalid-utf8"),
    pytest.param(b"[" * 5000 + b"]" * 5000, 400, ["deep"], id="deeply-nested-array"),
    pytest.param(b'{"a":' * 3000 + b"1" + b"}" * 3000, 400, ["deep"], id="deeply-nested-object"),
    pytest.param(b'{"event": NaN}', 400, ["malformed"], id="nan"),
    pytest.param(b'{"event": "a", "n": 1e999999}', 400, [], id="huge-number"),
    pytest.param(b"[1, 2]", 400, ["object", "/events"], id="array-to-single"),
    pytest.param(b'"signup"', 400, ["object"], id="string-to-single"),
    pytest.param(b"null", 400, ["object"], id="null-to-single"),
    pytest.param(b"{}", 400, ["'event' is required"], id="missing-event"),
    pytest.param(b'{"event": 5}', 400, ["'event' must be a string"], id="event-number"),
    pytest.param(b'{"event": ""}', 400, ["'event'"], id="event-empty"),
    pytest.param(b'{"event": "' + b"x" * 257 + b'"}', 400, ["'event'"], id="event-too-long"),
    pytest.param(b'{"event": "a", "user_id": 1.5}', 400, ["user_id"], id="user-id-float"),
    pytest.param(b'{"event": "a", "user_id": true}', 400, ["user_id"], id="user-id-bool"),
    pytest.param(b'{"event": "a", "user_id": [1]}', 400, ["user_id"], id="user-id-array"),
    pytest.param(b'{"event": "a", "event_id": 7}', 400, ["event_id"], id="event-id-number"),
    pytest.param(b'{"event": "a", "event_id": ""}', 400, ["event_id"], id="event-id-empty"),
    pytest.param(b'{"event": "a", "sent_at": "now"}', 400, ["sent_at"], id="sent-at-string"),
    pytest.param(
        b'{"event": "a", "x": ' + b"[" * 40 + b"]" * 40 + b"}", 400, ["nested"], id="too-deep"
    ),
]


@pytest.mark.parametrize("body,status,words", BAD_BODIES)
def test_bad_single_body_gets_json_4xx_and_service_keeps_serving(client, body, status, words):
    assert_error(post_raw(client, "/register_event", body), status, *words)
    assert_still_serving(client)


@pytest.mark.parametrize(
    "ctype", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", None]
)
def test_non_json_content_type_is_415(client, ctype):
    kw = {"content_type": ctype} if ctype else {}
    resp = client.post("/register_event", data=orjson.dumps(GOOD), **kw)
    assert_error(resp, 415, "content-type")
    assert_still_serving(client)


def test_body_over_limit_is_413(client, settings):
    big = orjson.dumps({"event": "a", "pad": "x" * settings.max_body_bytes})
    assert_error(post_raw(client, "/register_event", big), 413, str(settings.max_body_bytes))
    assert_still_serving(client)


def test_chunked_body_over_limit_is_413(client, settings):
    big = orjson.dumps({"event": "a", "pad": "x" * settings.max_body_bytes})
    # A chunked body has no Content-Length: Werkzeug must cut the stream itself while reading
    # (servers mark such a stream with wsgi.input_terminated, as gunicorn does).
    resp = client.post(
        "/register_event",
        input_stream=io.BytesIO(big),
        content_type="application/json",
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert_error(resp, 413)
    assert_still_serving(client)


@pytest.mark.parametrize(
    "body,words",
    [
        pytest.param(GOOD, ["array", "/register_event"], id="object-to-batch"),
        pytest.param([], ["empty"], id="empty-batch"),
        pytest.param("x", ["array"], id="string-to-batch"),
    ],
)
def test_wrong_batch_shape_is_400(client, body, words):
    assert_error(client.post("/events", json=body), 400, *words)
    assert_still_serving(client)


def test_batch_over_length_limit_is_400(client, settings):
    resp = client.post("/events", json=[GOOD] * (settings.max_batch_events + 1))
    assert_error(resp, 400, str(settings.max_batch_events))
    assert_still_serving(client)


def test_batch_reports_each_event(client):
    events = [
        GOOD,
        {"user_id": 1},
        5,
        {"event": "b", "event_id": "keep-me"},
        {"event": "c", "event_id": 9},
    ]
    resp = client.post("/events", json=events)
    assert resp.status_code == 202
    body = resp.get_json()
    assert (body["accepted"], body["rejected"], body["failed"]) == (2, 3, 0)
    statuses = [(r["index"], r["status"]) for r in body["results"]]
    assert statuses == [
        (0, "accepted"),
        (1, "rejected"),
        (2, "rejected"),
        (3, "accepted"),
        (4, "rejected"),
    ]
    assert body["results"][3]["event_id"] == "keep-me"
    assert "'event' is required" in body["results"][1]["error"]
    assert "object" in body["results"][2]["error"]
    assert "error" not in body["results"][0]


def test_batch_of_only_invalid_events_is_400_with_results(client):
    resp = client.post("/events", json=[{"x": 1}, {"event": 3}])
    assert_error(resp, 400, "no valid event")
    assert [r["status"] for r in resp.get_json()["results"]] == ["rejected", "rejected"]


def test_flask_own_errors_are_json(client):
    assert_error(client.get("/nope"), 404)
    assert_error(client.get("/register_event"), 405)
    assert_error(client.put("/events", json=[GOOD]), 405)
    assert_still_serving(client)


def test_api_key_required_on_ingestion_only():
    app = create_app(ProducerSettings(delivery="noop", api_key="s3cret"))
    client = app.test_client()
    assert_error(client.post("/register_event", json=GOOD), 401, "x-api-key")
    assert_error(client.post("/events", json=[GOOD], headers={"X-API-Key": "wrong"}), 401)
    ok = client.post("/register_event", json=GOOD, headers={"X-API-Key": "s3cret"})
    assert ok.status_code == 202
    assert client.get("/healthz").status_code == 200
    assert client.get("/openapi.json").status_code == 200


def test_api_key_never_in_repr_or_public_dict():
    settings = ProducerSettings(api_key="s3cret", security=KafkaSecurity(sasl_password="hunter2"))
    assert "s3cret" not in repr(settings) and "hunter2" not in repr(settings)
    assert "s3cret" not in str(settings.public_dict())
    assert "hunter2" not in str(settings.public_dict())


def test_healthz_in_noop_mode_is_200_without_kafka(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.get_json()["status"] == "ok"


def test_nesting_limit_is_exact(settings):
    from app.validation import event_error

    def nested(levels):  # an event whose deepest container sits at level `levels`
        inner: object = 1
        for _ in range(levels - 1):
            inner = [inner]
        return {"event": "a", "x": inner}

    limit = settings.max_json_depth
    assert event_error(nested(limit), limit) is None
    assert "nested deeper" in event_error(nested(limit + 1), limit)
    assert event_error({"event": "a", "flat": 1, "s": "x"}, 1) is None
    assert "nested deeper" in event_error({"event": "a", "o": {}}, 1)


def test_the_depth_walk_is_skipped_only_when_no_event_can_nest(client, settings):
    from app.validation import may_nest

    flat = [{"event": "a", "user_id": 1}, {"event": "b", "s": "{[}"}]
    assert not may_nest(orjson.dumps(flat[:1]), 2)
    assert may_nest(orjson.dumps(flat), 3)  # brackets inside a string only make it walk
    # A deep event among flat ones: the brackets give it away, and it is rejected alone.
    deep: object = 1
    for _ in range(settings.max_json_depth):
        deep = [deep]
    answer = client.post("/events", json=[*flat, {"event": "d", "x": deep}, *flat])
    assert answer.status_code == 202
    statuses = [r["status"] for r in answer.get_json()["results"]]
    assert statuses == ["accepted", "accepted", "rejected", "accepted", "accepted"]
