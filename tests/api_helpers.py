"""Test helpers: read a topic back with kafka-python; small HTTP calls to the API."""

from __future__ import annotations

import time
import urllib.error
import urllib.request

import orjson
from kafka import KafkaConsumer

from app.settings import SERVERS

# The servers with worker processes, each owning a producer: every guarantee is tested on each
# (Werkzeug, the seed-style baseline, runs one process and flushes per request).
WORKER_SERVERS = [s for s in SERVERS if s != "werkzeug"]


def read_topic(bootstrap_servers: str, topic: str, expected: int, timeout: float = 30.0) -> list:
    """Every record value (parsed JSON) of `topic` from the start; stops at `expected` or timeout."""
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
        consumer_timeout_ms=500,
    )
    values: list = []
    deadline = time.monotonic() + timeout
    try:
        while len(values) < expected and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                values.extend(orjson.loads(r.value) for r in records)
        # A short extra poll catches records beyond `expected` (duplicates would show up).
        for records in consumer.poll(timeout_ms=300).values():
            values.extend(orjson.loads(r.value) for r in records)
    finally:
        consumer.close()
    return values


def post(
    url: str,
    body: bytes | object,
    content_type: str = "application/json",
    timeout: float = 30.0,
    headers: dict | None = None,
) -> tuple[int, dict | None]:
    """(status, parsed JSON answer or None); status 0 when nothing answered.

    `body` that is not bytes is sent as JSON.
    """
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    req = urllib.request.Request(
        url, data=data, method="POST", headers={"Content-Type": content_type, **(headers or {})}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except OSError:  # refused, reset, timed out (URLError is an OSError): nothing answered
        return 0, None
    try:
        return status, orjson.loads(raw)
    except orjson.JSONDecodeError:
        return status, None


def get(url: str, timeout: float = 30.0) -> tuple[int, dict | None]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, orjson.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, orjson.loads(exc.read())
    except OSError:
        return 0, None
