"""Connectors, Klaviyo first: configuration through the API, credentials at rest, and consent
changes reaching a faithful local fake of Klaviyo through the webhooks' delivery pipeline."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from brands.models import AuditEntry, Brand, Scope
from sync.delivery import batches
from sync.delivery.connectors.crypto import credentials_decrypt
from sync.delivery.connectors.klaviyo import KlaviyoAdapter
from sync.delivery.fanout import endpoint_fanout
from sync.models import Attempt, Connector, Delivery, Endpoint
from sync.outbox.contact_state import ContactState
from tests.connectors.support import grant, withdraw
from tests.fakes.klaviyo import FakeKlaviyo
from tests.sync.webhook_support import published

__all__ = ["published"]

KEY = "pk_test_0123456789abcdef"
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fake(settings: Any) -> Iterator[FakeKlaviyo]:
    settings.WEBHOOK_ALLOW_PRIVATE = True
    settings.WEBHOOK_RETRY_DELAYS = [1, 1, 1, 1, 1, 1, 1, 1]
    fake = FakeKlaviyo()
    fake.base_url = fake.start()  # type: ignore[attr-defined]
    yield fake
    fake.stop()


@pytest.fixture
def admin_api(brand: Brand, make_client: Any) -> APIClient:
    return make_client(brand, [Scope.ADMIN])


def body(fake: FakeKlaviyo, **overrides: Any) -> dict[str, Any]:
    return {
        "vendor": "klaviyo",
        "name": "Main account",
        "credentials": {"api_key": KEY},
        "mapping": {"lists": [{"list": "LstNews", "purpose": "email-marketing", "channels": ["email"]}]},
        "api_base_url": fake.base_url,  # type: ignore[attr-defined]
        **overrides,
    }


def test_create_stores_the_key_encrypted_and_never_shows_it(admin_api, brand, purpose, fake, caplog):
    response = admin_api.post("/api/v1/connectors", body(fake), format="json")
    assert response.status_code == 201, response.content
    reply = response.json()
    assert set(reply) == {
        "id",
        "vendor",
        "name",
        "mapping",
        "api_base_url",
        "status",
        "disabled_reason",
        "created_at",
        "updated_at",
    }
    assert reply["id"].startswith("con_")
    assert reply["status"] == "active"
    assert KEY not in response.content.decode()
    connector = Connector.objects.get()
    assert KEY not in connector.credentials
    assert credentials_decrypt(connector.credentials) == {"api_key": KEY}
    assert connector.endpoint.kind == Endpoint.Kind.CONNECTOR
    for path in ("/api/v1/connectors", f"/api/v1/connectors/{reply['id']}"):
        assert KEY not in admin_api.get(path).content.decode()
    entry = AuditEntry.objects.get(action="connector.created")
    assert KEY not in json.dumps(entry.after)
    assert entry.after["vendor"] == "klaviyo"
    assert KEY not in caplog.text
    # A connector's endpoint is not a webhook endpoint.
    assert admin_api.get("/api/v1/endpoints").json()["endpoints"] == []
    assert admin_api.get(f"/api/v1/endpoints/{connector.endpoint.public_id}").status_code == 404


def test_an_unknown_list_is_a_422_naming_it_and_writes_nothing(admin_api, purpose, fake):
    mapping = {"lists": [{"list": "LstNope", "purpose": "email-marketing"}]}
    response = admin_api.post("/api/v1/connectors", body(fake, mapping=mapping), format="json")
    assert response.status_code == 422
    assert "LstNope" in response.json()["errors"]["mapping"][0]
    assert not Connector.objects.exists()
    assert not Endpoint.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"credentials": {"api_key": "pk_wrong_key_123"}}, "credentials"),  # the fake answers 403
        ({"credentials": {"token": "x"}}, "credentials"),
        ({"mapping": {"lists": [{"list": "LstNews", "purpose": "nope"}]}}, "mapping.lists.0"),
        ({"mapping": {"lists": [{"list": "LstNews"}]}}, "mapping.lists.0"),
        ({"api_base_url": "ftp://example.com"}, "api_base_url"),
        ({"vendor": "marketo"}, "vendor"),
    ],
)
def test_invalid_configuration_is_a_precise_422(admin_api, purpose, fake, overrides, field):
    response = admin_api.post("/api/v1/connectors", body(fake, **overrides), format="json")
    assert response.status_code == 422, response.content
    assert field in response.json()["errors"]
    assert not Connector.objects.exists()


def test_other_brands_cannot_see_or_change_it(admin_api, purpose, fake, other_brand, make_client):
    public_id = admin_api.post("/api/v1/connectors", body(fake), format="json").json()["id"]
    outsider = make_client(other_brand, [Scope.ADMIN])
    for method in ("get", "patch", "delete"):
        assert (
            getattr(outsider, method)(f"/api/v1/connectors/{public_id}", {}, format="json").status_code == 404
        )
    assert outsider.post(f"/api/v1/connectors/{public_id}/test").status_code == 404
    assert outsider.get("/api/v1/connectors").json()["connectors"] == []
    assert Connector.objects.filter(public_id=public_id).exists()


def test_test_call_lists_what_the_key_sees(admin_api, purpose, fake):
    fake.lists.update({f"L{i:02}": f"List {i}" for i in range(12)})  # two pages and more
    public_id = admin_api.post("/api/v1/connectors", body(fake), format="json").json()["id"]
    reply = admin_api.post(f"/api/v1/connectors/{public_id}/test").json()
    assert reply["ok"] is True
    assert [row["id"] for row in reply["lists"]] == sorted(fake.lists)
    fake.api_keys.clear()
    reply = admin_api.post(f"/api/v1/connectors/{public_id}/test").json()
    assert reply["ok"] is False
    assert "403" in reply["detail"]
    assert KEY not in reply["detail"]


def test_rotation_reencrypts_under_the_first_key(admin_api, purpose, fake, settings):
    admin_api.post("/api/v1/connectors", body(fake), format="json")
    old = Connector.objects.get().credentials
    new_key = Fernet.generate_key().decode()
    derived = None
    settings.CONNECTOR_KEYS = [new_key]
    with pytest.raises(Exception, match="not in CONNECTOR_KEYS"):
        credentials_decrypt(old)
    from sync.delivery.connectors import crypto

    settings.CONNECTOR_KEYS = []
    derived = crypto._keys()[0].decode()
    settings.CONNECTOR_KEYS = [new_key, derived]
    call_command("rotate_connector_keys")
    settings.CONNECTOR_KEYS = [new_key]  # the old key dropped
    assert credentials_decrypt(Connector.objects.get().credentials) == {"api_key": KEY}


def test_production_without_keys_refuses_to_create(admin_api, purpose, fake, settings):
    settings.CONNECTOR_DERIVED_KEY = False
    settings.CONNECTOR_KEYS = []
    response = admin_api.post("/api/v1/connectors", body(fake), format="json")
    assert response.status_code == 409
    assert response.json()["type"] == "urn:candor:problem:connector-keys-missing"
    assert not Connector.objects.exists()
    assert fake.requests == []


def _connector(admin_api: APIClient, fake: FakeKlaviyo) -> Connector:
    public_id = admin_api.post("/api/v1/connectors", body(fake), format="json").json()["id"]
    return Connector.objects.select_related("endpoint").get(public_id=public_id)


def _drain(endpoint: Endpoint) -> None:
    """Send whatever is pending, as the worker would once each retry is due."""
    for _ in range(20):
        pending = list(Delivery.objects.filter(endpoint=endpoint, status="pending").order_by("id"))
        if not pending:
            return
        Delivery.objects.filter(pk__in=[d.pk for d in pending]).update(
            next_attempt_at=timezone.now() - timedelta(seconds=1)
        )
        for delivery in pending:
            batches.delivery_send(delivery_id=delivery.pk)


def test_a_grant_subscribes_and_a_withdrawal_unsubscribes_in_klaviyo(
    admin_api, brand, purpose, contact, fake, published
):
    connector = _connector(admin_api, fake)
    grant(brand, purpose)
    assert endpoint_fanout(endpoint_id=connector.endpoint_id) == 1
    assert fake.subscribed("LstNews") == {"ada@example.com"}
    assert fake.consent[("ada@example.com", "email")] == "SUBSCRIBED"
    withdraw(brand, purpose)
    endpoint_fanout(endpoint_id=connector.endpoint_id)
    assert fake.subscribed("LstNews") == set()
    assert [r["path"] for r in fake.requests] == [
        "/api/profile-subscription-bulk-create-jobs",
        "/api/profile-subscription-bulk-delete-jobs",
    ]
    assert set(Delivery.objects.filter(endpoint=connector.endpoint).values_list("status", flat=True)) == {
        "succeeded"
    }
    log = admin_api.get(f"/api/v1/connectors/{connector.public_id}/deliveries").json()["deliveries"]
    assert [d["type"] for d in log] == ["consent.withdrawn", "consent.granted"]
    assert KEY not in json.dumps(log)


def test_a_withdrawal_wins_over_an_older_subscribe_not_sent_yet(
    admin_api, brand, purpose, contact, fake, published
):
    connector = _connector(admin_api, fake)
    grant(brand, purpose)
    withdraw(brand, purpose)
    endpoint_fanout(endpoint_id=connector.endpoint_id)
    _drain(connector.endpoint)
    # The grant's delivery pushed the state at send time: withdrawn. No subscribe ever went out,
    # and as Ada is in no list, no unsubscribe either (Klaviyo would have made it global): each
    # delivery only asked who is in the list.
    assert fake.requests == []
    assert fake.calls[1:] == [("GET", "/api/lists/LstNews/profiles")] * 2
    assert fake.subscribed("LstNews") == set()
    assert ("ada@example.com", "email") not in fake.consent


def test_a_429_storm_loses_nothing_and_duplicates_nothing(admin_api, brand, purpose, fake, published):
    from consent.services import contact_upsert

    connector = _connector(admin_api, fake)
    emails = {f"p{i}@example.com" for i in range(5)}
    for i in range(5):
        contact_upsert(brand=brand, external_id=f"c{i}", email=f"p{i}@example.com")
        grant(brand, purpose, external_id=f"c{i}")
    fake.throttle(3)
    endpoint_fanout(endpoint_id=connector.endpoint_id)
    first = Attempt.objects.filter(delivery__endpoint=connector.endpoint).order_by("id")
    assert {a.status_code for a in first} == {429}
    assert all("Retry-After" not in a.error and KEY not in a.response_excerpt + a.error for a in first)
    _drain(connector.endpoint)
    assert fake.subscribed("LstNews") == emails
    assert set(Delivery.objects.filter(endpoint=connector.endpoint).values_list("status", flat=True)) == {
        "succeeded"
    }
    subscribed = [
        row["attributes"]["email"]
        for request in fake.requests
        for row in request["body"]["data"]["attributes"]["profiles"]["data"]
    ]
    assert sorted(subscribed) == sorted(emails)  # each pushed once: the refused calls changed nothing


def test_the_subscribe_job_body_is_klaviyos():
    at = timezone.now().replace(microsecond=0)
    state = ContactState(
        contact_ref=1,
        external_id="c1",
        email="a@example.com",
        phone="+4915112345678",
        consents={"m": "granted"},
        consented_at={"m": at},
    )
    body = KlaviyoAdapter.job_body(
        kind="subscribe", list_id="LstNews", profiles=[{"state": state, "channels": {"email": at, "sms": at}}]
    )
    iso = at.isoformat().replace("+00:00", "Z")
    assert body == {
        "data": {
            "type": "profile-subscription-bulk-create-job",
            "attributes": {
                "custom_source": "Candor",
                "profiles": {
                    "data": [
                        {
                            "type": "profile",
                            "attributes": {
                                "email": "a@example.com",
                                "phone_number": "+4915112345678",
                                "subscriptions": {
                                    "email": {"marketing": {"consent": "SUBSCRIBED", "consented_at": iso}},
                                    "sms": {"marketing": {"consent": "SUBSCRIBED", "consented_at": iso}},
                                },
                            },
                        }
                    ]
                },
                "historical_import": True,
            },
            "relationships": {"list": {"data": {"type": "list", "id": "LstNews"}}},
        }
    }
    unsubscribe = KlaviyoAdapter.job_body(
        kind="unsubscribe", list_id="LstNews", profiles=[{"state": state, "channels": {"email": None}}]
    )
    assert unsubscribe["data"] == {
        "type": "profile-subscription-bulk-delete-job",
        "attributes": {
            "profiles": {
                "data": [
                    {
                        "type": "profile",
                        "attributes": {
                            "email": "a@example.com",
                            "subscriptions": {"email": {"marketing": {"consent": "UNSUBSCRIBED"}}},
                        },
                    }
                ]
            }
        },
        "relationships": {"list": {"data": {"type": "list", "id": "LstNews"}}},
    }
