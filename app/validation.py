"""Request body parsing and the event schema.

An event is a JSON object:
- `event`: required, a non-empty string of at most 256 characters;
- `user_id`: optional, an integer (10.0 counts, as in JSON Schema) or a string (at most 256 chars);
- `event_id`: optional, a non-empty string of at most 128 characters (the API adds a UUID4 hex when absent);
- `sent_at`: optional, a number (epoch seconds, as the simulator stamps it);
- any other field: any JSON value, with the whole event nested at most `max_depth` levels deep.

`received_at` is the API's own field: a client's value is overwritten.

With a record key (`key` setting, a field name), that field is required too: its value as text (a
string as it is, any other JSON value as its compact JSON) becomes the Kafka record's key.
"""

from __future__ import annotations

import math

import orjson

MAX_EVENT_NAME = 256
MAX_USER_ID = 256
MAX_EVENT_ID = 128


class InvalidBody(ValueError):
    """The request body as a whole is unusable; `status` is the HTTP answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def is_json_content_type(mimetype: str) -> bool:
    """application/json or any application/*+json type."""
    return mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    )


def parse_json(body: bytes) -> object:
    """The JSON value in `body`; InvalidBody on empty, non-UTF-8, malformed or too deep input."""
    if not body.strip():
        raise InvalidBody("empty body: expected JSON")
    try:
        # orjson rejects invalid UTF-8, NaN/Infinity and integers beyond 64 bits, and stops at
        # 1024 levels instead of overflowing the stack as a recursive parser would.
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        message = str(exc)
        if "depth limit" in message.lower() or "recursion" in message.lower():
            raise InvalidBody("JSON nested too deeply") from None
        if "utf-8" in message.lower():
            raise InvalidBody(f"body is not valid UTF-8: {message}") from None
        raise InvalidBody(f"malformed JSON: {message}") from None


_CONTAINERS = (dict, list)


def json_depth_exceeds(value: object, max_depth: int) -> bool:
    """True when containers in `value` nest deeper than `max_depth` (the value itself is level 1)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > max_depth:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def may_nest(body: bytes, containers: int) -> bool:
    """Whether the JSON in `body` may hold more than `containers` objects and arrays.

    Counts opening brackets, those inside strings too, so it errs only towards True: when it says
    False, no event of the body holds a nested value and the depth walk can be skipped. Two scans
    in C, against a walk over every value of every event.
    """
    return body.count(b"{") + body.count(b"[") > containers


_MISSING = object()


def event_error(event: object, max_depth: int, nested: bool = True) -> str | None:
    """Why `event` is not a valid event, or None when it is.

    This runs once per event of every batch, so it compares exact types (what a JSON parser
    returns; `type(x) is int` also keeps booleans out) and walks nested values only when there may
    be some (`nested`, see `may_nest`).
    """
    if type(event) is not dict:
        return f"an event must be a JSON object, not {_json_type(event)}"
    name = event.get("event")
    if type(name) is not str:
        if name is None:
            return "'event' is required"
        return f"'event' must be a string, not {_json_type(name)}"
    if not 0 < len(name) <= MAX_EVENT_NAME:
        return f"'event' must be 1 to {MAX_EVENT_NAME} characters"
    user_id = event.get("user_id", _MISSING)
    if user_id is not _MISSING:
        kind = type(user_id)
        if kind is str:
            if len(user_id) > MAX_USER_ID:
                return f"'user_id' must be at most {MAX_USER_ID} characters"
        # 10.0 is an integer to JSON Schema (and to the OpenAPI document), so it is one here too.
        elif kind is not int and not (kind is float and user_id.is_integer()):
            return f"'user_id' must be an integer or a string, not {_json_type(user_id)}"
    event_id = event.get("event_id", _MISSING)
    if event_id is not _MISSING:
        if type(event_id) is not str:
            return f"'event_id' must be a string, not {_json_type(event_id)}"
        if not 0 < len(event_id) <= MAX_EVENT_ID:
            return f"'event_id' must be 1 to {MAX_EVENT_ID} characters"
    sent_at = event.get("sent_at", _MISSING)
    if sent_at is not _MISSING:
        if type(sent_at) is not float and type(sent_at) is not int:
            return f"'sent_at' must be a number, not {_json_type(sent_at)}"
        if not math.isfinite(sent_at):
            return "'sent_at' must be finite"
    if nested:
        for value in event.values():
            if type(value) in _CONTAINERS and json_depth_exceeds(value, max_depth - 1):
                return f"event nested deeper than {max_depth} levels"
    return None


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def record_key(event: dict, field: str) -> bytes | None:
    """The record key an event's `field` gives, or None when the field is missing or null."""
    value = event.get(field)
    if value is None:
        return None
    if type(value) is str:
        return value.encode()
    return orjson.dumps(value)


def missing_key_error(field: str) -> str:
    return f"'{field}' is required: the API keys its Kafka records by it (key={field})"
