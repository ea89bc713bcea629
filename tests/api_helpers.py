"""Test helpers: read a topic back with kafka-python; small HTTP calls to the API."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from pathlib import Path

import orjson
from hypothesis import strategies as st
from kafka import KafkaConsumer
from kafka_helpers import parent_pid

from app.api import WORKER_HEADER
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
    status, answer, _ = post_to_worker(url, body, content_type, timeout, headers)
    return status, answer


def post_to_worker(
    url: str,
    body: bytes | object,
    content_type: str = "application/json",
    timeout: float = 30.0,
    headers: dict | None = None,
) -> tuple[int, dict | None, str | None]:
    """`post`, plus the worker that answered (its X-Api-Worker header; None if nothing did)."""
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    req = urllib.request.Request(
        url, data=data, method="POST", headers={"Content-Type": content_type, **(headers or {})}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw, worker = resp.status, resp.read(), resp.headers.get(WORKER_HEADER)
    except urllib.error.HTTPError as exc:
        status, raw, worker = exc.code, exc.read(), exc.headers.get(WORKER_HEADER)
    except OSError:  # refused, reset, timed out (URLError is an OSError): nothing answered
        return 0, None, None
    try:
        return status, orjson.loads(raw), worker
    except orjson.JSONDecodeError:
        return status, None, worker


def worker_pids(pid: int) -> set[int]:
    """The worker processes of the API whose server process is `pid`: its children (werkzeug,
    which has none, serves in the process itself)."""
    children = {int(e.name) for e in Path("/proc").iterdir()
                if e.name.isdigit() and parent_pid(int(e.name)) == pid}  # fmt: skip
    return children or {pid}


def get(url: str, timeout: float = 30.0) -> tuple[int, dict | None]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, orjson.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, orjson.loads(exc.read())
    except OSError:
        return 0, None


# Any JSON value at all, nested, with the field names the API looks at mixed in.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(
            st.sampled_from(["event", "user_id", "event_id", "sent_at", "x"]) | st.text(max_size=8),
            children,
            max_size=6,
        )
    ),
    max_leaves=30,
)
