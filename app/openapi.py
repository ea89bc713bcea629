"""The OpenAPI 3.1 description served at GET /openapi.json.

Limits come from the running settings, so the document states what this server enforces.
tests/test_api_openapi.py keeps it true to the code: its routes are the Flask url_map's, and its
examples pass both the schemas and the real endpoints.
"""

from __future__ import annotations

from app.settings import ProducerSettings
from app.validation import MAX_EVENT_ID, MAX_EVENT_NAME, MAX_USER_ID


def event_schema(settings: ProducerSettings) -> dict:
    keyed = (
        f" The API keys its Kafka records by `{settings.key}`: that field is required, and its "
        "value as text (a string as it is, any other value as its JSON) is the record's key."
        if settings.keyed
        else ""
    )
    return {
        "type": "object",
        "description": (
            "One event. Fields other than those below are kept as sent (any JSON), with the whole "
            f"event nested at most {settings.max_json_depth} levels deep. The API adds `event_id` "
            "(UUID4 hex) when absent and sets `received_at` (epoch seconds)." + keyed
        ),
        "required": [
            "event",
            *([settings.key] if settings.keyed and settings.key != "event" else []),
        ],  # fmt: skip
        "properties": {
            "event": {"type": "string", "minLength": 1, "maxLength": MAX_EVENT_NAME},
            "user_id": {
                "oneOf": [{"type": "integer"}, {"type": "string", "maxLength": MAX_USER_ID}]
            },
            "event_id": {"type": "string", "minLength": 1, "maxLength": MAX_EVENT_ID},
            "sent_at": {"type": "number", "description": "epoch seconds when the client sent it"},
        },
        "additionalProperties": True,
    }


def _error_response(description: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _json_response(description: str, schema_ref: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_ref}"}}},
    }


def _ingestion_errors(settings: ProducerSettings) -> dict:
    return {
        "400": _error_response(
            "malformed JSON, invalid UTF-8, an empty body, too deep nesting, a wrong shape or field"
        ),
        "401": _error_response("X-API-Key missing or wrong (only when the server has an API key)"),
        "413": _error_response(f"body over {settings.max_body_bytes} bytes"),
        "415": _error_response("Content-Type is not application/json"),
    }


def openapi_spec(settings: ProducerSettings) -> dict:
    security = [{"ApiKey": []}] if settings.api_key else []
    register_example = {"event": "signup", "user_id": 123}
    batch_example = [
        {"event": "signup", "user_id": 123},
        {"event": "purchase", "user_id": "u-42", "sent_at": 1751836736.84, "amount": 9.99},
    ]
    if settings.keyed:  # every example carries the field the records are keyed by
        for example in (register_example, *batch_example):
            example.setdefault(settings.key, "key-1")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Event ingestion API",
            "version": "1.0.0",
            "description": (
                "Accepts events over HTTP and produces them to the Kafka topic "
                f"`{settings.topic}`. Delivery mode `{settings.delivery}`: with `ack` a 2xx means "
                "the broker acknowledged the event; with `async` that it was queued in the "
                "producer; with `noop` nothing is sent (a benchmark ceiling)."
            ),
        },
        "paths": {
            "/register_event": {
                "post": {
                    "operationId": "registerEvent",
                    "summary": "Ingest one event",
                    "security": security,
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/Event"},
                                "examples": {"signup": {"value": register_example}},
                            }
                        },
                    },
                    "responses": {
                        "202": _json_response("accepted", "Accepted"),
                        **_ingestion_errors(settings),
                        "503": _error_response(
                            "Kafka did not acknowledge within the delivery timeout"
                        ),
                    },
                }
            },
            "/events": {
                "post": {
                    "operationId": "registerEvents",
                    "summary": f"Ingest a batch of 1 to {settings.max_batch_events} events",
                    "security": security,
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/EventBatch"},
                                "examples": {"two": {"value": batch_example}},
                            }
                        },
                    },
                    "responses": {
                        "202": _json_response("at least one event accepted", "BatchResult"),
                        **_ingestion_errors(settings),
                        "503": _json_response(
                            "no event accepted because Kafka did not acknowledge", "BatchResult"
                        ),
                    },
                }
            },
            "/healthz": {
                "get": {
                    "operationId": "healthz",
                    "summary": "Whether the API can reach Kafka (probe cached briefly)",
                    "responses": {
                        "200": _json_response("Kafka reachable", "Health"),
                        "503": _json_response("Kafka unreachable", "Health"),
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document",
                    "responses": {
                        "200": {"description": "OpenAPI 3.1", "content": {"application/json": {}}}
                    },
                }
            },
        },
        "components": {
            "schemas": {
                "Event": event_schema(settings),
                "EventBatch": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": settings.max_batch_events,
                    "items": {"$ref": "#/components/schemas/Event"},
                    "description": "Events are validated one by one: invalid ones are rejected "
                    "in the answer's `results` while the valid ones go on (202).",
                },
                "Accepted": {
                    "type": "object",
                    "required": ["status", "event_id"],
                    "properties": {
                        "status": {"const": "accepted"},
                        "event_id": {"type": "string"},
                    },
                },
                "BatchResult": {
                    "type": "object",
                    "required": ["accepted", "rejected", "failed", "results"],
                    "properties": {
                        "accepted": {"type": "integer"},
                        "rejected": {"type": "integer", "description": "invalid events"},
                        "failed": {"type": "integer", "description": "valid, not delivered"},
                        "error": {"type": "string"},
                        "results": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["index", "event_id", "status"],
                                "properties": {
                                    "index": {"type": "integer"},
                                    "event_id": {"type": ["string", "null"]},
                                    "status": {"enum": ["accepted", "rejected", "failed"]},
                                    "error": {"type": "string"},
                                },
                            },
                        },
                    },
                },
                "Health": {
                    "type": "object",
                    "required": ["status"],
                    "properties": {
                        "status": {"enum": ["ok", "unavailable"]},
                        "kafka": {"type": "string"},
                        "delivery": {"type": "string"},
                        "error": {"type": "string"},
                    },
                },
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {"type": "string"}},
                },
            },
            "securitySchemes": {"ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}},
        },
    }
