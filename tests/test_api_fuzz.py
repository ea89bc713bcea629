"""Property-based fuzzing of the API from its own OpenAPI document (schemathesis + hypothesis):
whatever the generated request, the answer is never a 5xx and conforms to the document."""

from __future__ import annotations

import json
import os

import pytest
import schemathesis
from api_helpers import json_values
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from app.api import create_app
from app.settings import ProducerSettings

app = create_app(ProducerSettings(delivery="noop", max_batch_events=20))
schema = schemathesis.openapi.from_wsgi("/openapi.json", app)

# POST /events validates each event on its own by design: a batch with some invalid events is
# answered 202 with those rejected in `results` (and one with none valid, 400), so the
# whole-request "invalid data must be rejected / valid data accepted" checks do not apply to it.
PER_ITEM_CHECKS = [negative_data_rejection, positive_data_acceptance]


# CI runs a bounded number of cases; a longer run by hand: FUZZ_EXAMPLES=2000 pytest tests/test_api_fuzz.py
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "60"))


# One test per operation of the document, each with its own node id: schemathesis' own
# parametrize gives all of them one id, and pytest-xdist then runs only one of them.
OPERATIONS = [result.ok() for result in schema.get_all_operations()]


def test_the_document_has_the_operations_fuzzed():
    assert {(op.method.upper(), op.path) for op in OPERATIONS} >= {
        ("POST", "/register_event"), ("POST", "/events"), ("GET", "/healthz")}  # fmt: skip


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: f"{op.method.upper()} {op.path}")
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_api_conforms_to_its_document(operation, data):
    case = data.draw(operation.as_strategy())
    excluded = PER_ITEM_CHECKS if case.path == "/events" else []
    case.call_and_validate(excluded_checks=excluded)


client = app.test_client()


def _answer_is_sound(response) -> None:
    assert response.status_code < 500, response.get_data(as_text=True)
    body = response.get_json()
    if response.status_code >= 400:
        assert isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"]


@settings(max_examples=EXAMPLES * 5, deadline=None)
@given(value=json_values, path=st.sampled_from(["/register_event", "/events"]))
def test_any_json_value_gets_a_sound_answer(value, path):
    _answer_is_sound(client.post(path, data=json.dumps(value), content_type="application/json"))


@settings(max_examples=EXAMPLES * 5, deadline=None)
@given(body=st.binary(max_size=300), path=st.sampled_from(["/register_event", "/events"]))
def test_any_bytes_get_a_sound_answer(body, path):
    _answer_is_sound(client.post(path, data=body, content_type="application/json"))
