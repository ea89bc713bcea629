"""GET /openapi.json stays true to the code: the same routes and methods as the Flask url_map, and
its examples pass both the schemas and the real endpoints."""

from __future__ import annotations

import jsonschema
import pytest
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from app.api import create_app
from app.settings import ProducerSettings

IGNORED_METHODS = {"HEAD", "OPTIONS"}


@pytest.fixture(scope="module")
def app():
    return create_app(ProducerSettings(delivery="noop", max_batch_events=50))


@pytest.fixture(scope="module")
def spec(app):
    resp = app.test_client().get("/openapi.json")
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    return resp.get_json()


def flask_routes(app) -> set[tuple[str, str]]:
    return {
        (rule.rule, method.lower())
        for rule in app.url_map.iter_rules()
        for method in rule.methods - IGNORED_METHODS
    }


def spec_routes(spec) -> set[tuple[str, str]]:
    return {(path, method) for path, ops in spec["paths"].items() for method in ops}


def test_every_route_is_documented_and_every_documented_route_exists(app, spec):
    assert flask_routes(app) == spec_routes(spec)


def test_spec_is_openapi_3(spec):
    assert spec["openapi"].startswith("3.")
    assert spec["components"]["schemas"]["EventBatch"]["maxItems"] == 50  # the live setting


def _validator(spec, ref: str):
    # Refs resolve against the document itself, as an OpenAPI 3.1 tool would.
    registry = Registry().with_resource("urn:spec", DRAFT202012.create_resource(spec))
    return jsonschema.Draft202012Validator({"$ref": f"urn:spec{ref}"}, registry=registry)


def request_examples(spec):
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            body = op.get("requestBody")
            if not body:
                continue
            media = body["content"]["application/json"]
            for name, example in media["examples"].items():
                yield path, method, name, media["schema"]["$ref"].lstrip("#"), example["value"]


def test_request_examples_exist_for_each_body(spec):
    paths = {p for p, *_ in request_examples(spec)}
    assert paths == {"/register_event", "/events"}


def test_request_examples_validate_and_are_accepted_by_the_endpoints(app, spec):
    client = app.test_client()
    for path, method, name, ref, value in request_examples(spec):
        _validator(spec, "#" + ref).validate(value)
        resp = client.open(path, method=method.upper(), json=value)
        assert resp.status_code in {int(c) for c in spec["paths"][path][method]["responses"]}
        assert resp.status_code == 202, (path, name, resp.get_json())
        success = spec["paths"][path][method]["responses"]["202"]
        schema_ref = success["content"]["application/json"]["schema"]["$ref"]
        _validator(spec, schema_ref).validate(resp.get_json())


def test_error_answers_match_the_error_schema(app, spec):
    client = app.test_client()
    resp = client.post("/register_event", data=b"{", content_type="application/json")
    assert str(resp.status_code) in spec["paths"]["/register_event"]["post"]["responses"]
    _validator(spec, "#/components/schemas/Error").validate(resp.get_json())


def test_event_schema_agrees_with_the_validator(app, spec):
    """Events the schema rejects, the API rejects too (and vice versa for valid ones)."""
    client = app.test_client()
    validator = _validator(spec, "#/components/schemas/Event")
    cases = [
        {"event": "a"},
        {"event": "a", "user_id": 5, "sent_at": 1.5, "extra": {"k": [1, 2]}},
        {"event": "a", "user_id": "u"},
        {},
        {"event": ""},
        {"event": 3},
        {"event": "a", "user_id": 1.5},
        {"event": "a", "event_id": ""},
        {"event": "a", "sent_at": "x"},
    ]
    for event in cases:
        schema_ok = validator.is_valid(event)
        api_ok = client.post("/register_event", json=event).status_code == 202
        assert schema_ok == api_ok, event


def test_health_answer_matches_its_schema(app, spec):
    resp = app.test_client().get("/healthz")
    _validator(spec, "#/components/schemas/Health").validate(resp.get_json())
