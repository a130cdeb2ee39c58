"""Schemathesis fuzzes every operation of the published OpenAPI schema (/api/schema/) through
the WSGI application, with an admin key of a seeded brand: no answer may be a 5xx, and every
answer must match what the schema says of it (status code, content type, headers, body).

Deterministic: Hypothesis runs derandomized (a fixed seed per test) and with a bounded number of
examples per operation (SCHEMATHESIS_EXAMPLES, default 10). Webhook endpoints that fuzzed
registrations create point at a local receiver, and after each operation the fan-out and
sending run as the worker would, so deliveries to them are attempted and must either reach the
receiver, signed, or be recorded as a failed attempt."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from pytest_httpserver import HTTPServer
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from standardwebhooks import Webhook
from werkzeug import Request, Response

from brands.models import Scope
from brands.services import api_key_create, brand_create
from config.wsgi import application
from consent.services import contact_upsert, notice_version_publish, purpose_create
from sync.delivery import sending
from sync.models import Attempt, Delivery, Endpoint
from tests.actors import TEST_ACTOR

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "10"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


class _Receiver:
    """Stands in for a brand's webhook receiver: every POST must verify with the secret of the
    endpoint it was sent to."""

    def __init__(self) -> None:
        self.server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
        self.received: list[str] = []
        self.failures: list[str] = []
        self.server.expect_request("/hook").respond_with_handler(self.handle)

    def handle(self, request: Request) -> Response:
        body = request.get_data(as_text=True)
        secrets = [s for pair in Endpoint.objects.values_list("secret", "previous_secret") for s in pair if s]
        for secret in secrets:
            try:
                Webhook(secret).verify(body, dict(request.headers))
            except Exception:  # noqa: S112 - the next secret may be the endpoint's
                continue
            self.received.append(body)
            return Response("ok")
        self.failures.append(body[:200])
        return Response("bad signature", status=400)


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    box = _Receiver()
    box.server.start()
    sending.http_client_reset()
    yield box
    sending.http_client_reset()
    box.server.stop()


@pytest.fixture
def api(transactional_db: None, receiver: _Receiver, settings: Any) -> dict[str, Any]:
    """A brand with a purpose, a published notice and one contact; an admin key (every scope)."""
    settings.WEBHOOK_ALLOW_PRIVATE = True  # the receiver is on 127.0.0.1
    settings.SECURE_SSL_REDIRECT = False
    settings.ALLOWED_HOSTS = ["*"]
    brand, _ = brand_create(actor=TEST_ACTOR, slug="fuzz", name="Fuzz")
    purpose = purpose_create(actor=TEST_ACTOR, brand=brand, slug="email-marketing", name="Email marketing")
    notice_version_publish(
        actor=TEST_ACTOR, purpose=purpose, language="en", title="News by email", text="We email you our news."
    )
    contact_upsert(brand=brand, external_id="cust-1", email="one@example.com")
    raw_key = api_key_create(actor=TEST_ACTOR, brand=brand, name="fuzz", scopes=[Scope.ADMIN]).raw_key
    return {"headers": {"Authorization": f"Bearer {raw_key}"}, "brand": brand, "receiver": receiver}


# Loaded at collection (the schema view reads no database). schemathesis.pytest.from_fixture
# would load it per test, but sets a node attribute that pytest 9 no longer has.
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)


def _deliver_pending(api: dict[str, Any]) -> None:
    """Fan out and send what fuzzed writes produced, as the worker would."""
    from sync import tasks
    from tests.sync.webhook_support import settle

    endpoint_ids = list(Endpoint.objects.filter(brand=api["brand"]).values_list("id", flat=True))
    if not endpoint_ids:
        return
    settle()
    for endpoint_id in endpoint_ids:
        tasks.endpoint_fanout(endpoint_id)
    pending = Delivery.objects.filter(endpoint_id__in=endpoint_ids, status=Delivery.Status.PENDING)
    for delivery_id in pending.values_list("id", flat=True):
        tasks.delivery_send(delivery_id)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_its_schema_says_and_never_5xx(case: Any, api: dict[str, Any]) -> None:
    receiver: _Receiver = api["receiver"]
    if isinstance(case.body, dict) and "url" in case.body and case.method in {"POST", "PUT", "PATCH"}:
        case.body["url"] = receiver.server.url_for("/hook")  # fuzzed registrations call us back
    case.call_and_validate(headers=api["headers"], checks=CHECKS)
    _deliver_pending(api)
    assert not receiver.failures, receiver.failures
    # Every delivery that left the pending state did so by a recorded attempt.
    for delivery in Delivery.objects.exclude(status=Delivery.Status.PENDING):
        assert Attempt.objects.filter(delivery=delivery).exists()
