"""The HubSpot connector against a faithful local fake of HubSpot (tests/fakes/hubspot.py):
configuration checked against the account, consent changes pushed through the webhooks'
delivery pipeline as v4 subscription statuses with their legal basis, HubSpot's rate limits
honoured, and the fake's own refusals."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from rest_framework.test import APIClient

from brands.models import Brand, Scope
from consent.services import contact_upsert
from preferences.services import preferences_update
from sync.delivery.connectors.crypto import credentials_decrypt
from sync.delivery.connectors.hubspot import HubSpotAdapter, rate_wait
from sync.delivery.connectors.hubspot_moves import address_mark
from sync.delivery.connectors.vendors import Item, Target
from sync.delivery.fanout import endpoint_fanout
from sync.delivery.sending import http_client
from sync.models import Attempt, Connector, Delivery, VendorContact
from sync.outbox.contact_state import ContactState
from tests.connectors.support import drain, grant, withdraw
from tests.fakes.hubspot import CLIENT_SECRET, TOKEN, FakeHubSpot
from tests.sync.webhook_support import published

__all__ = ["published"]

pytestmark = pytest.mark.django_db(transaction=True)
WRITE = "/communication-preferences/v4/statuses/batch/write"
UPSERT = "/crm/v3/objects/contacts/batch/upsert"
UNSUBSCRIBE_ALL = "/communication-preferences/v4/statuses/batch/unsubscribe-all"


@pytest.fixture
def fake(settings: Any) -> Iterator[FakeHubSpot]:
    settings.WEBHOOK_ALLOW_PRIVATE = True
    settings.WEBHOOK_RETRY_DELAYS = [1, 1, 1, 1, 1, 1, 1, 1]
    fake = FakeHubSpot()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def admin_api(brand: Brand, make_client: Any) -> APIClient:
    return make_client(brand, [Scope.ADMIN])


def body(fake: FakeHubSpot, **overrides: Any) -> dict[str, Any]:
    return {
        "vendor": "hubspot",
        "name": "Main portal",
        "credentials": {"access_token": TOKEN, "client_secret": CLIENT_SECRET},
        "mapping": {"subscriptions": [{"subscription_id": "101", "purpose": "email-marketing"}]},
        "api_base_url": fake.base_url,
        **overrides,
    }


def connect(admin_api: APIClient, fake: FakeHubSpot, **overrides: Any) -> Connector:
    reply = admin_api.post("/api/v1/connectors", body(fake, **overrides), format="json")
    assert reply.status_code == 201, reply.content
    return Connector.objects.select_related("endpoint", "brand").get(public_id=reply.json()["id"])


def written(fake: FakeHubSpot) -> list[dict[str, Any]]:
    """Every status row HubSpot accepted, in order."""
    return [row for r in fake.requests if r["path"] == WRITE for row in r["body"]["inputs"]]


# --- configuration -------------------------------------------------------------------------------


def test_create_keeps_the_token_encrypted_and_the_test_call_lists_the_active_types(admin_api, purpose, fake):
    connector = connect(admin_api, fake)
    assert TOKEN not in connector.credentials
    assert credentials_decrypt(connector.credentials) == {
        "access_token": TOKEN,
        "client_secret": CLIENT_SECRET,
    }
    reply = admin_api.post(f"/api/v1/connectors/{connector.public_id}/test").json()
    assert reply["ok"] is True
    assert reply["lists"] == [
        {"id": "101", "name": "Marketing newsletter"},
        {"id": "102", "name": "Product updates"},
    ]  # 103 is inactive
    fake.tokens.clear()
    reply = admin_api.post(f"/api/v1/connectors/{connector.public_id}/test").json()
    assert reply["ok"] is False
    assert "401" in reply["detail"]
    assert "INVALID_AUTHENTICATION" in reply["detail"]
    assert TOKEN not in json.dumps(reply)


@pytest.mark.parametrize(
    ("overrides", "field", "says"),
    [
        (
            {"mapping": {"subscriptions": [{"subscription_id": "999", "purpose": "email-marketing"}]}},
            "mapping",
            "999",
        ),
        (
            {"mapping": {"subscriptions": [{"subscription_id": "103", "purpose": "email-marketing"}]}},
            "mapping",
            "103",
        ),
        (
            {
                "mapping": {
                    "subscriptions": [
                        {"subscription_id": "101", "purpose": "email-marketing", "legal_basis": "BECAUSE"}
                    ]
                }
            },
            "mapping.subscriptions.0",
            "legal_basis",
        ),
        (
            {
                "mapping": {
                    "subscriptions": [
                        {"subscription_id": "101", "purpose": "email-marketing", "channels": ["sms"]}
                    ]
                }
            },
            "mapping.subscriptions.0",
            "EMAIL only",
        ),
        (
            {"mapping": {"subscriptions": [{"subscription_id": "101", "purpose": "nope"}]}},
            "mapping.subscriptions.0",
            "nope",
        ),
        (
            {"mapping": {"subscriptions": [{"subscription_id": 101, "purpose": "email-marketing"}]}},
            "mapping.subscriptions.0",
            "digits",
        ),
        ({"mapping": {"lists": []}}, "mapping", "subscriptions"),
        ({"credentials": {"access_token": "pat-eu1-not-a-known-token-000"}}, "credentials", "401"),
        ({"credentials": {"api_key": "x"}}, "credentials", "access_token"),
        ({"credentials": {"access_token": TOKEN, "client_secret": "short"}}, "credentials", "client_secret"),
    ],
)
def test_invalid_configuration_is_a_precise_422(admin_api, purpose, fake, overrides, field, says):
    response = admin_api.post("/api/v1/connectors", body(fake, **overrides), format="json")
    assert response.status_code == 422, response.content
    errors = response.json()["errors"]
    assert field in errors
    assert says in " ".join(errors[field])
    assert not Connector.objects.exists()
    assert TOKEN not in response.content.decode()


# --- push ----------------------------------------------------------------------------------------


def test_a_grant_subscribes_with_its_legal_basis_and_a_withdrawal_unsubscribes(
    admin_api, brand, purpose, contact, fake, published
):
    connector = connect(admin_api, fake)
    grant(brand, purpose)
    assert endpoint_fanout(endpoint_id=connector.endpoint_id) == 1
    assert fake.paths() == [UPSERT, WRITE]
    hubspot_id = fake.contacts["ada@example.com"]
    # The HubSpot id, and the mark of the address it was given (hubspot_moves).
    assert sorted(VendorContact.objects.values_list("vendor_id", "contact_ref")) == [
        (hubspot_id, contact.pk),
        (address_mark(contact_ref=contact.pk, email="ada@example.com"), contact.pk),
    ]
    row = fake.statuses[("ada@example.com", "101")]
    assert row["status"] == "SUBSCRIBED"
    assert row["legalBasis"] == "CONSENT_WITH_NOTICE"
    assert row["legalBasisExplanation"] == "Recorded in Candor: purpose 'email-marketing'."
    assert fake.status("ada@example.com", "102") == "NOT_SPECIFIED"  # not mapped: untouched

    withdraw(brand, purpose)
    endpoint_fanout(endpoint_id=connector.endpoint_id)
    assert fake.paths() == [UPSERT, WRITE, WRITE]  # the contact is known now: no second upsert
    assert fake.status("ada@example.com", "101") == "UNSUBSCRIBED"
    assert "legalBasis" not in written(fake)[-1]
    assert set(Delivery.objects.filter(endpoint=connector.endpoint).values_list("status", flat=True)) == {
        "succeeded"
    }


def test_the_mapping_names_the_legal_basis_and_its_explanation(
    admin_api, brand, purpose, contact, fake, published
):
    entry = {
        "subscription_id": "102",
        "purpose": "email-marketing",
        "legal_basis": "LEGITIMATE_INTEREST_CLIENT",
        "legal_basis_explanation": "Existing customer, product news only.",
    }
    connector = connect(admin_api, fake, mapping={"subscriptions": [entry]})
    grant(brand, purpose)
    endpoint_fanout(endpoint_id=connector.endpoint_id)
    assert written(fake) == [
        {
            "subscriberIdString": "ada@example.com",
            "subscriptionId": 102,
            "channel": "EMAIL",
            "statusState": "SUBSCRIBED",
            "legalBasis": "LEGITIMATE_INTEREST_CLIENT",
            "legalBasisExplanation": "Existing customer, product news only.",
        }
    ]


def test_unsubscribed_from_all_email_is_hubspots_unsubscribe_all(
    admin_api, brand, purpose, contact, fake, published
):
    connector = connect(admin_api, fake)
    grant(brand, purpose)
    endpoint_fanout(endpoint_id=connector.endpoint_id)
    preferences_update(
        brand=brand, external_id="cust-1", method="api", recorded_by="test", unsubscribed_all={"email": True}
    )
    endpoint_fanout(endpoint_id=connector.endpoint_id)
    drain(connector.endpoint)
    assert fake.paths()[-1] == UNSUBSCRIBE_ALL
    assert fake.requests[-1]["query"] == {"channel": "EMAIL"}
    assert fake.requests[-1]["body"] == {"inputs": ["ada@example.com"]}
    assert fake.unsubscribed_all == {"ada@example.com"}
    assert {fake.status("ada@example.com", sid) for sid in ("101", "102")} == {"UNSUBSCRIBED"}
    assert [r["statusState"] for r in written(fake)] == ["SUBSCRIBED"]  # nothing subscribed after


def test_a_withdrawal_wins_over_an_older_grant_not_sent_yet(
    admin_api, brand, purpose, contact, fake, published
):
    connector = connect(admin_api, fake)
    grant(brand, purpose)
    withdraw(brand, purpose)
    endpoint_fanout(endpoint_id=connector.endpoint_id)
    drain(connector.endpoint)
    assert [r["statusState"] for r in written(fake)] == ["UNSUBSCRIBED", "UNSUBSCRIBED"]
    assert fake.status("ada@example.com", "101") == "UNSUBSCRIBED"


def test_batches_keep_to_hubspots_limit_of_100_inputs(admin_api, brand, purpose, fake):
    mapping = {
        "subscriptions": [
            {"subscription_id": "101", "purpose": "email-marketing"},
            {"subscription_id": "102", "purpose": "email-marketing"},
        ]
    }
    connector = connect(admin_api, fake, mapping=mapping)
    adapter = HubSpotAdapter()
    assert adapter.max_batch == 100
    items = [
        Item(
            delivery_id=n,
            type="consent.granted",
            contact_ref=n,
            state=ContactState(
                contact_ref=n,
                external_id=f"c{n}",
                email=f"p{n}@example.com",
                phone=None,
                consents={"email-marketing": "granted"},
            ),
        )
        for n in range(100)
    ]
    target = Target(
        public_id=connector.public_id,
        base_url=fake.base_url,
        credentials={"access_token": TOKEN},
        mapping=mapping,
    )
    results = adapter.push(target, items, client=http_client())
    assert all(r.succeeded for r in results)
    sizes = [(r["path"], len(r["body"]["inputs"])) for r in fake.requests]
    assert sizes == [(UPSERT, 100), (WRITE, 100), (WRITE, 100)]  # 200 status rows: two calls
    assert len(fake.contacts) == 100
    assert (
        VendorContact.objects.filter(connector=connector).exclude(vendor_id__startswith="address:").count()
        == 100
    )
    assert {fake.status(f"p{n}@example.com", sid) for n in range(100) for sid in ("101", "102")} == {
        "SUBSCRIBED"
    }


def test_a_429_storm_loses_nothing_and_subscribes_no_one_twice(admin_api, brand, purpose, fake, published):
    connector = connect(admin_api, fake)
    emails = {f"p{i}@example.com" for i in range(5)}
    for i in range(5):
        contact_upsert(brand=brand, external_id=f"c{i}", email=f"p{i}@example.com")
        grant(brand, purpose, external_id=f"c{i}")
    fake.throttle(3)
    endpoint_fanout(endpoint_id=connector.endpoint_id)
    first = list(Attempt.objects.filter(delivery__endpoint=connector.endpoint).order_by("id"))
    assert {a.status_code for a in first} == {429}
    assert all(TOKEN not in a.response_excerpt + a.error for a in first)
    assert '"errorType": "RATE_LIMIT"' in first[0].response_excerpt
    # Retried after HubSpot's ten-second window, not the schedule's one second.
    for delivery in Delivery.objects.filter(endpoint=connector.endpoint):
        attempt = delivery.attempts.order_by("-id").first()
        assert attempt is not None
        assert (delivery.next_attempt_at - attempt.started_at).total_seconds() >= 10
    assert Delivery.objects.filter(endpoint=connector.endpoint, status="pending").count() == 5
    drain(connector.endpoint)
    assert set(Delivery.objects.filter(endpoint=connector.endpoint).values_list("status", flat=True)) == {
        "succeeded"
    }
    assert sorted(r["subscriberIdString"] for r in written(fake)) == sorted(emails)  # each once
    assert sorted(
        i for r in fake.requests if r["path"] == UPSERT for i in (x["id"] for x in r["body"]["inputs"])
    ) == sorted(emails)


def test_a_spent_window_stops_the_batch_before_a_429_and_resumes_after_it(
    admin_api, brand, purpose, contact, fake, published
):
    connector = connect(admin_api, fake)
    fake.window_max = 1  # the upsert spends the window: Remaining 0
    fake._calls.clear()
    grant(brand, purpose)
    endpoint_fanout(endpoint_id=connector.endpoint_id)
    assert fake.paths() == [UPSERT]  # stopped before the status write, not refused
    attempt = Attempt.objects.get(delivery__endpoint=connector.endpoint)
    assert attempt.status_code == 200
    assert "rate-limit window" in attempt.error
    delivery = Delivery.objects.get(endpoint=connector.endpoint)
    assert delivery.status == "pending"
    fake.window_max = 190
    drain(connector.endpoint)
    assert fake.paths() == [UPSERT, WRITE]  # the upsert is not made twice
    assert fake.status("ada@example.com", "101") == "SUBSCRIBED"


def test_a_contact_without_an_address_or_mapping_action_pushes_nothing(
    admin_api, brand, purpose, fake, published
):
    connector = connect(admin_api, fake)
    contact_upsert(brand=brand, external_id="no-mail", phone="+4915112345678")
    grant(brand, purpose, external_id="no-mail")
    endpoint_fanout(endpoint_id=connector.endpoint_id)
    assert fake.requests == []
    assert Delivery.objects.get(endpoint=connector.endpoint).status == "succeeded"


# --- the fake refuses what HubSpot refuses ---------------------------------------------------------


def _post(
    fake: FakeHubSpot, path: str, body: Any, token: str | None = TOKEN, **params: str
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(f"{fake.base_url}{path}", json=body, headers=headers, params=params or None)


def _row(**overrides: Any) -> dict[str, Any]:
    return {
        "subscriberIdString": "a@example.com",
        "subscriptionId": 101,
        "channel": "EMAIL",
        "statusState": "SUBSCRIBED",
        "legalBasis": "CONSENT_WITH_NOTICE",
        "legalBasisExplanation": "Asked on the form.",
        **overrides,
    }


def test_the_fake_refuses_a_bad_token_with_hubspots_body(fake):
    for token in (None, "pat-eu1-wrong"):
        response = _post(fake, WRITE, {"inputs": [_row()]}, token=token)
        assert response.status_code == 401
        reply = response.json()
        assert reply["status"] == "error"
        assert reply["category"] == "INVALID_AUTHENTICATION"
        assert reply["correlationId"]
        assert reply["message"]
    assert fake.statuses == {}


@pytest.mark.parametrize(
    ("path", "body", "params", "says"),
    [
        (WRITE, {"inputs": [_row(subscriptionId=999)]}, {}, "999 does not exist"),
        (WRITE, {"inputs": [_row(statusState="NOT_SUBSCRIBED")]}, {}, "statusState"),
        (WRITE, {"inputs": [_row(legalBasis=None)]}, {}, "legal basis is required"),
        (WRITE, {"inputs": [_row(legalBasis="BECAUSE")]}, {}, "legalBasis"),
        (WRITE, {"inputs": [_row(channel="SMS")]}, {}, "channel"),
        (WRITE, {"inputs": [_row(subscriberIdString=f"p{n}@example.com") for n in range(101)]}, {}, "limit"),
        (WRITE, {"rows": []}, {}, "inputs is required"),
        (UNSUBSCRIBE_ALL, {"inputs": ["a@example.com"]}, {}, "channel"),
        (UNSUBSCRIBE_ALL, {"inputs": ["not-an-email"]}, {"channel": "EMAIL"}, "email"),
        (
            UPSERT,
            {"inputs": [{"id": "a@example.com", "properties": {"email": "a@example.com"}}]},
            {},
            "idProperty",
        ),
        (
            UPSERT,
            {"inputs": [{"id": "bad", "idProperty": "email", "properties": {"email": "bad"}}]},
            {},
            "not valid",
        ),
        (
            UPSERT,
            {"inputs": [{"id": "a@example.com", "idProperty": "email", "properties": {}}] * 2},
            {},
            "Duplicate",
        ),
    ],
)
def test_the_fake_refuses_bad_bodies_with_a_validation_error(fake, path, body, params, says):
    response = _post(fake, path, body, **params)
    assert response.status_code == 400, response.text
    reply = response.json()
    assert reply["status"] == "error"
    assert reply["category"] == "VALIDATION_ERROR"
    assert says in json.dumps(reply)
    assert fake.statuses == {}
    assert fake.contacts == {}
    assert fake.requests == []


def test_the_fake_limits_rates_with_hubspots_headers_and_429_body(fake):
    fake.window_max = 2
    first = _post(fake, WRITE, {"inputs": [_row()]})
    assert first.status_code == 200
    assert first.headers["X-HubSpot-RateLimit-Max"] == "2"
    assert first.headers["X-HubSpot-RateLimit-Remaining"] == "1"
    assert first.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    assert first.headers["X-HubSpot-RateLimit-Daily-Remaining"] == str(fake.daily_max - 1)
    assert "X-HubSpot-RateLimit-Secondly-Remaining" in first.headers
    assert _post(fake, WRITE, {"inputs": [_row()]}).headers["X-HubSpot-RateLimit-Remaining"] == "0"
    refused = _post(fake, WRITE, {"inputs": [_row(statusState="UNSUBSCRIBED")]})
    assert refused.status_code == 429
    reply = refused.json()
    assert (reply["status"], reply["errorType"], reply["policyName"]) == (
        "error",
        "RATE_LIMIT",
        "TEN_SECONDLY_ROLLING",
    )
    assert reply["correlationId"]
    assert "ten_secondly_rolling" in reply["message"]
    assert refused.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    assert fake.status("a@example.com", "101") == "SUBSCRIBED"  # the refused call changed nothing


@pytest.mark.parametrize(
    ("status", "headers", "body", "wait"),
    [
        (
            429,
            {"X-HubSpot-RateLimit-Interval-Milliseconds": "10000"},
            {"policyName": "TEN_SECONDLY_ROLLING"},
            10.0,
        ),
        (429, {}, {"policyName": "SECONDLY"}, 1.0),
        (429, {}, {"policyName": "DAILY"}, 3600.0),
        (429, {"Retry-After": "7"}, {"policyName": "TEN_SECONDLY_ROLLING"}, 7.0),
        (
            200,
            {"X-HubSpot-RateLimit-Remaining": "0", "X-HubSpot-RateLimit-Interval-Milliseconds": "2000"},
            {},
            2.0,
        ),
        (200, {"X-HubSpot-RateLimit-Remaining": "5", "X-HubSpot-RateLimit-Secondly-Remaining": "0"}, {}, 1.0),
        (200, {"X-HubSpot-RateLimit-Daily-Remaining": "0"}, {}, 3600.0),
        (200, {"X-HubSpot-RateLimit-Remaining": "5", "X-HubSpot-RateLimit-Daily-Remaining": "99"}, {}, None),
    ],
)
def test_hubspots_rate_limit_headers_and_429_policies_set_the_wait(status, headers, body, wait):
    assert rate_wait(httpx.Response(status, headers=headers, json=body)) == wait


def test_an_erasure_deletes_the_contact_in_hubspot_by_the_id_kept(
    admin_api, brand, purpose, contact, fake, published
):
    from consent.erasure import contact_erase

    connector = connect(admin_api, fake)
    grant(brand, purpose)
    endpoint_fanout(endpoint_id=connector.endpoint_id)
    hubspot_id = fake.contacts["ada@example.com"]
    fake.contacts["bob@example.com"] = "77"  # someone else HubSpot holds: untouched
    contact_erase(brand=brand, contact=contact, requested_via="api")
    endpoint_fanout(endpoint_id=connector.endpoint_id)
    drain(connector.endpoint)
    deletes = [r for r in fake.requests if r["path"] == "/crm/v3/objects/contacts/gdpr-delete"]
    assert [r["body"] for r in deletes] == [{"objectId": hubspot_id}]  # once, by id: no address sent
    assert fake.contacts == {"bob@example.com": "77"}
    assert ("ada@example.com", "101") not in fake.statuses
    assert fake.blocklist == {"ada@example.com"}
    assert not VendorContact.objects.exists()
    assert set(Delivery.objects.filter(endpoint=connector.endpoint).values_list("status", flat=True)) == {
        "succeeded"
    }
    assert all("ada@example.com" not in json.dumps(r["body"]) for r in fake.requests[-len(deletes) :])


def test_an_erased_contact_candor_never_pushed_calls_nothing(
    admin_api, brand, purpose, contact, fake, published
):
    from consent.erasure import contact_erase

    connector = connect(admin_api, fake)
    contact_erase(brand=brand, contact=contact, requested_via="api")
    endpoint_fanout(endpoint_id=connector.endpoint_id)
    drain(connector.endpoint)
    assert fake.requests == []


def test_a_token_without_the_write_scope_is_retried_not_given_up(
    admin_api, brand, purpose, contact, fake, published
):
    connector = connect(admin_api, fake)
    fake.scopes.discard("communication_preferences.statuses.batch.write")
    grant(brand, purpose)
    endpoint_fanout(endpoint_id=connector.endpoint_id)
    attempt = Attempt.objects.get(delivery__endpoint=connector.endpoint)
    assert attempt.status_code == 403
    assert "MISSING_SCOPES" in attempt.response_excerpt
    assert "communication_preferences.statuses.batch.write" in attempt.response_excerpt
    assert Delivery.objects.get(endpoint=connector.endpoint).status == "pending"  # fixable: retried
    fake.scopes.add("communication_preferences.statuses.batch.write")
    drain(connector.endpoint)
    assert fake.status("ada@example.com", "101") == "SUBSCRIBED"
    assert fake.paths().count(UPSERT) == 1  # the contact's id was kept the first time


def test_two_contacts_sharing_an_address_send_hubspot_one_status_and_the_no_wins(
    admin_api, brand, purpose, fake
):
    connector = connect(admin_api, fake)
    adapter = HubSpotAdapter()
    shared = "team@example.com"
    yes = ContactState(
        contact_ref=1, external_id="a", email=shared, phone=None, consents={"email-marketing": "granted"}
    )
    no = ContactState(
        contact_ref=2, external_id="b", email=shared, phone=None, consents={"email-marketing": "withdrawn"}
    )
    target = Target(
        public_id=connector.public_id,
        base_url=fake.base_url,
        credentials={"access_token": TOKEN},
        mapping=connector.mapping,
    )
    items = [
        Item(delivery_id=1, type="consent.granted", contact_ref=1, state=yes),
        Item(delivery_id=2, type="consent.withdrawn", contact_ref=2, state=no),
    ]
    results = adapter.push(target, items, client=http_client())
    assert [r.succeeded for r in results] == [True, True]
    assert written(fake) == [
        {
            "subscriberIdString": shared,
            "subscriptionId": 101,
            "channel": "EMAIL",
            "statusState": "UNSUBSCRIBED",
        }
    ]
    assert fake.status(shared, "101") == "UNSUBSCRIBED"
