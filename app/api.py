"""The Flask producer API: `create_app(settings)`.

Nothing here connects to Kafka: the app's `Publisher` builds its producer on first use, so each
gunicorn worker gets its own after the fork (app/producer.py also warms it in `post_worker_init`
and closes it, flushing, in `worker_exit`).

Answers:
- `POST /register_event`: 202 `{"status": "accepted", "event_id": ...}`; 503 `{"error", "event_id"}`
  when Kafka did not take the event within the delivery timeout.
- `POST /events`: `{"accepted", "rejected", "failed", "results": [{"index", "event_id", "status",
  "error"?}]}`; 202 when at least one event was accepted, 503 when none was but some were valid
  (Kafka away), 400 when every event was invalid.
- any bad request: 4xx `{"error": "..."}`, Flask's own 404/405/413 included; never a 5xx.

Every answer carries `X-Api-Worker: <pid>`, the worker process that served it: each worker owns
a producer, so a test (or a person with curl) can tell that every worker recovered, not only one.
"""

from __future__ import annotations

import hmac
import logging
import os
import time
import uuid

import orjson
from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from app.delivery import Publisher
from app.openapi import openapi_spec
from app.settings import ProducerSettings
from app.validation import (
    InvalidBody,
    event_error,
    is_json_content_type,
    may_nest,
    missing_key_error,
    parse_json,
    record_key,
)

log = logging.getLogger(__name__)

PUBLISHER_KEY = "event_publisher"
# The answer's header that names the worker process (its pid) that served the request.
WORKER_HEADER = "X-Api-Worker"


def json_response(body: object, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status=status, mimetype="application/json")


def error_response(message: str, status: int, **extra) -> Response:
    return json_response({"error": message, **extra}, status)


def publisher_of(app: Flask) -> Publisher:
    return app.extensions[PUBLISHER_KEY]


def create_app(
    settings: ProducerSettings | None = None, publisher: Publisher | None = None
) -> Flask:
    settings = ProducerSettings.from_env() if settings is None else settings
    app = Flask(__name__, static_folder=None)  # no /static route: the API serves no files
    # Werkzeug enforces this on Content-Length and, for chunked bodies, while reading the stream.
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.extensions[PUBLISHER_KEY] = publisher if publisher is not None else Publisher(settings)
    _register_error_handlers(app, settings)
    _register_routes(app, settings)
    _name_the_worker(app)
    return app


def _name_the_worker(app: Flask) -> None:
    # Every server builds the app in the worker, after the fork (app/producer.py,
    # app/granian_server.py): the pid read here is the worker's own, once.
    worker = str(os.getpid())

    @app.after_request
    def say_worker(response: Response) -> Response:
        response.headers[WORKER_HEADER] = worker
        return response


def _register_error_handlers(app: Flask, settings: ProducerSettings) -> None:
    @app.errorhandler(InvalidBody)
    def invalid_body(exc: InvalidBody):
        return error_response(str(exc), exc.status)

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(exc: RequestEntityTooLarge):
        return error_response(f"body larger than {settings.max_body_bytes} bytes", 413)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        resp = error_response(exc.description or exc.name, exc.code or 500)
        for name, value in exc.get_headers():  # e.g. Allow on a 405, as RFC 9110 requires
            if name.lower() != "content-type":
                resp.headers[name] = value
        return resp

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response("internal error", 500)


def _register_routes(app: Flask, settings: ProducerSettings) -> None:
    publisher = publisher_of(app)
    spec = orjson.dumps(openapi_spec(settings))
    key_field = settings.key if settings.keyed else None

    @app.post("/register_event")
    def register_event():
        received_at = time.time()
        raw = _read_json(settings)
        body = parse_json(raw)
        if type(body) is not dict:
            raise InvalidBody("expected a JSON object (use POST /events for an array)")
        error = event_error(body, settings.max_json_depth, may_nest(raw, 1))
        if error:
            raise InvalidBody(error)
        keys = None
        if key_field:
            key = record_key(body, key_field)
            if key is None:
                raise InvalidBody(missing_key_error(key_field))
            keys = [key]
        event_id = _stamp(body, received_at)
        deadline = time.monotonic() + settings.delivery_timeout_s
        (failure,) = publisher.publish([orjson.dumps(body)], deadline, keys)
        if failure:
            return error_response(failure, 503, event_id=event_id)
        return json_response({"status": "accepted", "event_id": event_id}, 202)

    @app.post("/events")
    def register_events():
        received_at = time.time()
        raw = _read_json(settings)
        events = parse_json(raw)
        if type(events) is not list:
            raise InvalidBody("expected a JSON array of events (use POST /register_event for one)")
        if not events:
            raise InvalidBody("empty batch: expected at least one event")
        if len(events) > settings.max_batch_events:
            raise InvalidBody(
                f"batch of {len(events)} events is over the limit of {settings.max_batch_events}"
            )
        batch = prepare_batch(events, received_at, settings.max_json_depth,
                              may_nest(raw, len(events) + 1), key_field)  # fmt: skip
        return _publish_batch(publisher, settings, batch)

    @app.get("/healthz")
    def healthz():
        ok, detail = publisher.health()
        body = {
            "status": "ok" if ok else "unavailable",
            "kafka": detail,
            "delivery": settings.delivery,
        }
        if not ok:
            body["error"] = detail
        return json_response(body, 200 if ok else 503)

    @app.get("/openapi.json")
    def openapi():
        return Response(spec, mimetype="application/json")

    if settings.api_key:
        _require_api_key(app, settings.api_key, {"register_event", "register_events"})


def _require_api_key(app: Flask, api_key: str, endpoints: set[str]) -> None:
    expected = api_key.encode()

    @app.before_request
    def check_api_key():
        if request.endpoint not in endpoints:
            return None
        given = request.headers.get("X-API-Key", "").encode()
        if not hmac.compare_digest(given, expected):
            return error_response("missing or invalid X-API-Key", 401)
        return None


def _read_json(settings: ProducerSettings) -> bytes:
    """The body of a JSON request (not parsed yet); 415 for another content type."""
    if not is_json_content_type(request.mimetype):
        shown = request.mimetype or "none"
        raise InvalidBody(f"Content-Type must be application/json, got {shown}", 415)
    return _read_body(settings.max_body_bytes)


def _read_body(max_bytes: int) -> bytes:
    """The body; 413 when over `max_bytes`, also for chunked bodies that carry no Content-Length.

    Werkzeug rejects a Content-Length over the limit, but silently stops a chunked stream at the
    limit: a body that filled it is treated as cut short, i.e. too large.
    """
    data = request.get_data(cache=False)
    if request.content_length is None and len(data) >= max_bytes:
        raise RequestEntityTooLarge()
    return data


def _stamp(event: dict, received_at: float) -> str:
    """Add the API's fields; returns the event_id."""
    event_id = event.get("event_id")
    if event_id is None:
        event_id = event["event_id"] = uuid.uuid4().hex
    event["received_at"] = received_at
    return event_id


class Batch:
    """The events of one POST /events, validated, stamped and serialized in one pass.

    `results` has one entry per event, in order; `values` are the valid events as Kafka records,
    `keys` their record keys (None when the API keys no records), and `accepted[i]` is the
    result of `values[i]` (its status changes if delivery fails).
    """

    __slots__ = ("results", "values", "keys", "accepted")

    def __init__(self, keyed: bool = False) -> None:
        self.results: list[dict] = []
        self.values: list[bytes] = []
        self.keys: list[bytes] | None = [] if keyed else None
        self.accepted: list[dict] = []


def prepare_batch(
    events: list, received_at: float, max_depth: int, nested: bool, key_field: str | None = None
) -> Batch:
    batch = Batch(keyed=key_field is not None)
    results, values, accepted, keys = batch.results, batch.values, batch.accepted, batch.keys
    dumps = orjson.dumps
    for index, event in enumerate(events):
        error = event_error(event, max_depth, nested)
        if not error and keys is not None:
            key = record_key(event, key_field)
            if key is None:
                error = missing_key_error(key_field)
            else:
                keys.append(key)
        if error:
            event_id = event.get("event_id") if type(event) is dict else None
            results.append({"index": index, "event_id": event_id if type(event_id) is str else None,
                            "status": "rejected", "error": error})  # fmt: skip
            continue
        result = {"index": index, "event_id": _stamp(event, received_at), "status": "accepted"}
        results.append(result)
        accepted.append(result)
        values.append(dumps(event))
    return batch


def _publish_batch(publisher: Publisher, settings: ProducerSettings, batch: Batch) -> Response:
    values = batch.values
    deadline = time.monotonic() + settings.delivery_timeout_s
    failures = publisher.publish(values, deadline, batch.keys) if values else []
    failed = len(failures) - failures.count(None)
    if failed:
        for result, failure in zip(batch.accepted, failures, strict=True):
            if failure:
                result["status"] = "failed"
                result["error"] = failure
    accepted = len(values) - failed
    body = {
        "accepted": accepted,
        "rejected": len(batch.results) - len(values),
        "failed": failed,
        "results": batch.results,
    }
    if accepted:
        return json_response(body, 202)
    if failed:
        return json_response({"error": "Kafka did not accept any event", **body}, 503)
    return json_response({"error": "no valid event in the batch", **body}, 400)
