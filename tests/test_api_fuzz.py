"""Property-based fuzzing of the API from its own OpenAPI document (schemathesis + hypothesis):
whatever the generated request, the answer is never a 5xx and conforms to the document."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from app.api import create_app
from app.settings import ProducerSettings

app = create_app(ProducerSettings(delivery="noop", max_batch_events=20))
schema = schemathesis.openapi.from_wsgi("/openapi.json", app)

# POST /events validates each event on its own by design: a batch with some invalid events is
# answered 202 with those rejected in `results` (and one with none valid, 400), so the
# whole-request "invalid data must be rejected / valid data accepted" checks do not apply to it.
PER_ITEM_CHECKS = [negative_data_rejection, positive_data_acceptance]


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_document(case):
    excluded = PER_ITEM_CHECKS if case.path == "/events" else []
    case.call_and_validate(excluded_checks=excluded)
