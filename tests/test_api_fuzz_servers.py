"""Fuzzing through each real server (granian, gunicorn gthread and gevent, Werkzeug) in front of
the real broker: what reaches the app has gone through the server's own HTTP parsing, which
tests/test_api_fuzz.py (Flask's test client) skips. Arbitrary bytes and arbitrary JSON values to
both ingestion endpoints, under arbitrary content types: never a 5xx, every rejection a JSON
`error`, and the server keeps serving. A low example count per server keeps it to seconds;
`FUZZ_EXAMPLES=...` runs more (as for test_api_fuzz.py)."""

from __future__ import annotations

import json
import os

import pytest
from api_helpers import json_values, post
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.settings import SERVERS, ProducerSettings
from harness import admin
from harness.services import ApiService

pytestmark = pytest.mark.kafka

EXAMPLES = max(1, int(os.environ.get("FUZZ_EXAMPLES", "60")) // 2)
PATHS = st.sampled_from(["/register_event", "/events"])
GOOD = {"event": "signup", "user_id": 123}
fuzz = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip


@pytest.fixture(scope="module", params=SERVERS)
def api(kafka, tmp_path_factory, request):
    topic = f"fuzz-{request.param}-{os.getpid()}-{id(request)}"
    admin.create_topic(kafka.bootstrap_servers, topic, 1, 1)
    settings_ = ProducerSettings(bootstrap_servers=kafka.bootstrap_servers, topic=topic,
                                 max_batch_events=20, max_body_bytes=64 * 1024)  # fmt: skip
    log = tmp_path_factory.mktemp("api") / "api.log"
    workers = None if request.param == "werkzeug" else 2
    with ApiService(settings_, log, server=request.param, workers=workers,
                    worker_threads=None if workers is None else 8) as service:  # fmt: skip
        yield service
        assert post(service.url + "/register_event", GOOD)[0] == 202  # it still serves
    text = log.read_text()
    assert "Traceback" not in text, text[-3000:]


def assert_sound(answer: tuple[int, dict | None]) -> None:
    status, body = answer
    assert 0 < status < 500, answer
    if status >= 400:
        assert isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"]


@fuzz
@given(body=st.binary(max_size=300), path=PATHS)
def test_any_bytes_get_a_sound_answer(api, body, path):
    assert_sound(post(api.url + path, body))


@fuzz
@given(value=json_values, path=PATHS)
def test_any_json_value_gets_a_sound_answer(api, value, path):
    assert_sound(post(api.url + path, json.dumps(value).encode()))


@fuzz
@given(content_type=st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=60),
       body=st.sampled_from([json.dumps(GOOD).encode(), b"{", b""]), path=PATHS)  # fmt: skip
def test_any_content_type_gets_a_sound_answer(api, content_type, body, path):
    assert_sound(post(api.url + path, body, content_type=content_type))
