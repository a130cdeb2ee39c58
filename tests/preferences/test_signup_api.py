"""`POST /api/v1/contacts/{id}/signup`: the contact, consent decisions with their evidence and
subscriptions in one request and one transaction, through the same services as the separate
calls, so the same rows and events; all of it or nothing."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from brands.models import Scope
from consent.identifiers import email_hmac
from consent.models import ConsentEvent, Contact, Suppression, SuppressionReason
from preferences.models import Subscription
from sync.models import Event
from tests.preferences.conftest import PREFERENCE_SCOPES, ledger, outbox, stored
from tests.roundtrips import round_trips

pytestmark = pytest.mark.django_db

AT = "2026-11-22T10:00:00Z"
EVIDENCE = {"ip": "203.0.113.7", "user_agent": "Mozilla/5.0", "page_url": "https://shop.example/join?x=1"}


@pytest.fixture
def signup_api(brand, make_client):
    return make_client(brand, [Scope.CONSENT_READ, Scope.CONSENT_WRITE, *PREFERENCE_SCOPES])


def signup(client, external_id: str, body: dict[str, Any], **headers: str):
    return client.post(f"/api/v1/contacts/{external_id}/signup", body, format="json", **headers)


def nothing_written() -> dict[str, int]:
    return {
        "contacts": Contact.objects.count(),
        "ledger": ConsentEvent.objects.count(),
        "outbox": Event.objects.count(),
        "subscriptions": Subscription.objects.count(),
    }


def test_one_request_creates_the_contact_and_records_the_decision(signup_api, brand, notice_version):
    body = {
        "contact": {"email": "Ada@Example.com", "locale": "de_DE", "jurisdiction": "DE"},
        "consents": [
            {"purpose": "email-marketing", "decision": "granted", "notice_version": notice_version.public_id}
        ],
        "occurred_at": AT,
        "evidence": EVIDENCE,
    }
    response = signup(signup_api, "cust-9", body)
    assert response.status_code == 201, response.json()
    contact = Contact.objects.get(brand=brand, external_id="cust-9")
    event = ConsentEvent.objects.get(contact=contact)
    reply = response.json()
    assert reply["contact"] | {"created_at": None, "updated_at": None} == {
        "external_id": "cust-9",
        "email": "ada@example.com",
        "phone": None,
        "locale": "de-DE",
        "timezone": "",
        "jurisdiction": "DE",
        "suppressed": False,
        "created_at": None,
        "updated_at": None,
    }
    assert reply["events"] == [
        {
            "event_id": str(event.id),
            "purpose": "email-marketing",
            "decision": "granted",
            "notice_version": notice_version.public_id,
            "method": "api",
            "occurred_at": AT,
            "recorded_at": event.recorded_at.isoformat().replace("+00:00", "Z"),
            "expires_at": None,
            "sequence": 1,
            "hash": event.hash,
            "prev_hash": event.prev_hash,
        }
    ]
    assert reply["preferences"] is None
    assert contact.email_hmac == email_hmac("ada@example.com")
    assert (event.evidence.ip, event.evidence.user_agent, event.evidence.page_url) == (
        "203.0.113.0",
        "Mozilla/5.0",
        "https://shop.example/join",
    )
    assert [(seq, kind) for seq, kind, _ in outbox(contact)] == [(1, "consent.granted")]

    again = signup(
        signup_api, "cust-9", {"consents": [{"purpose": "email-marketing", "decision": "withdrawn"}]}
    )
    assert again.status_code == 200
    assert [e["decision"] for e in again.json()["events"]] == ["withdrawn"]
    assert again.json()["contact"]["email"] == "ada@example.com"  # omitted fields keep their value


def test_the_same_rows_and_feed_events_as_the_separate_calls(
    signup_api, brand, topics, notice_version, news_version
):
    """One sign-up for cust-b; PUT, POST …/consents and PATCH …/preferences for cust-a."""
    contact_fields = {"email": "a@example.com", "locale": "en"}
    consent = {"purpose": "product-news", "decision": "granted", "notice_version": news_version.public_id}
    rows = [
        # needs email-marketing, not granted yet: the subscription records the grant
        {
            "topic": "newsletter",
            "channel": "email",
            "status": "subscribed",
            "notice_version": notice_version.public_id,
        },
        # double opt-in, but its purpose was just granted: subscribed at once
        {"topic": "launches", "channel": "email", "status": "subscribed"},
    ]
    shared = {"method": "import", "actor": "shop-checkout", "occurred_at": AT, "evidence": EVIDENCE}

    assert signup_api.put("/api/v1/contacts/cust-a", contact_fields, format="json").status_code == 201
    posted = signup_api.post("/api/v1/contacts/cust-a/consents", {**consent, **shared}, format="json")
    assert posted.status_code == 201
    patched = signup_api.patch(
        "/api/v1/contacts/cust-a/preferences", {"subscriptions": rows, **shared}, format="json"
    )
    assert patched.status_code == 200

    one = signup(
        signup_api,
        "cust-b",
        {"contact": contact_fields, "consents": [consent], "subscriptions": rows, **shared},
    )
    assert one.status_code == 201, one.json()

    a, b = (Contact.objects.get(brand=brand, external_id=x) for x in ("cust-a", "cust-b"))
    assert (
        ledger(b)
        == ledger(a)
        == [
            (1, "product-news", "granted", "import", news_version.public_id),
            (2, "email-marketing", "granted", "import", notice_version.public_id),
        ]
    )

    def feed(contact):
        return [
            (seq, kind, {k: v for k, v in data.items() if k not in ("event_id", "contact")})
            for seq, kind, data in outbox(contact)
        ]

    assert feed(b) == feed(a)
    assert [kind for _, kind, _ in feed(b)] == ["consent.granted", "consent.granted", "preferences.updated"]
    assert (
        stored(b)
        == stored(a)
        == {
            ("newsletter", "email"): ("subscribed", "weekly"),
            ("launches", "email"): ("subscribed", "immediate"),
        }
    )
    reply = one.json()
    assert [(e["sequence"], e["purpose"]) for e in reply["events"]] == [
        (1, "product-news"),
        (2, "email-marketing"),
    ]
    assert reply["preferences"] == patched.json() | {"contact": "cust-b"}
    assert len(mail.outbox) == 0


def test_a_double_opt_in_topic_stays_pending_and_its_confirmation_is_sent(
    signup_api, brand, topics, news_version, django_capture_on_commit_callbacks
):
    body = {
        "contact": {"email": "ada@example.com"},
        "subscriptions": [
            {
                "topic": "launches",
                "channel": "email",
                "status": "subscribed",
                "notice_version": news_version.public_id,
            }
        ],
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = signup(signup_api, "cust-9", body)
    assert response.status_code == 201, response.json()
    contact = Contact.objects.get(brand=brand, external_id="cust-9")
    assert stored(contact) == {("launches", "email"): ("pending", "immediate")}
    assert ledger(contact) == []  # nothing is granted before the person confirms
    assert [kind for _, kind, _ in outbox(contact)] == ["preferences.updated"]
    assert response.json()["events"] == []
    assert [m.to for m in mail.outbox] == [["ada@example.com"]]
    assert "/c/" in mail.outbox[0].body


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"contact": {"email": "not-an-email"}}, ["contact.email"]),
        ({"contact": {"phone": "12345"}}, ["contact.phone"]),
        ({"consents": [{"purpose": "email-marketing", "decision": "maybe"}]}, ["consents.0.decision"]),
        (
            {"consents": [{"purpose": "email-marketing", "decision": "granted", "wat": 1}]},
            ["consents.0.wat"],
        ),
        (
            {
                "consents": [
                    {"purpose": "email-marketing", "decision": "granted", "notice_version": "NV"},
                    {"purpose": "email-marketing", "decision": "granted", "notice_version": "nv_unknown"},
                ]
            },
            ["consents.1.notice_version"],
        ),
        ({"consents": [{"purpose": "no-such", "decision": "withdrawn"}]}, ["consents.0.purpose"]),
        (
            {"consents": [{"purpose": "product-news", "decision": "granted", "notice_version": "NV"}]},
            ["consents.0.notice_version"],  # the version belongs to another purpose
        ),
        (
            {"consents": [{"purpose": "email-marketing", "decision": "granted"}]},
            ["consents.0.notice_version"],
        ),
        (
            {
                "consents": [
                    {
                        "purpose": "email-marketing",
                        "decision": "granted",
                        "notice_version": "NV",
                        "implied_basis": "purchase",
                    }
                ]
            },
            ["consents.0.implied_basis"],
        ),
        (
            {"subscriptions": [{"topic": "no-such", "channel": "email", "status": "subscribed"}]},
            ["subscriptions.0.topic"],
        ),
        (
            {
                "consents": [{"purpose": "product-news", "decision": "withdrawn"}],
                "subscriptions": [{"topic": "newsletter", "channel": "email", "status": "subscribed"}],
            },
            ["subscriptions.0.notice_version"],  # email-marketing is not granted
        ),
        ({"occurred_at": "2999-01-01T00:00:00Z"}, ["occurred_at"]),
    ],
)
def test_any_invalid_part_is_422_naming_it_and_nothing_is_written(
    signup_api, topics, notice_version, body, errors
):
    for row in body.get("consents", []):
        if row.get("notice_version") == "NV":
            row["notice_version"] = notice_version.public_id
    valid = {
        "contact": {"email": "ada@example.com"},
        "consents": [
            {"purpose": "email-marketing", "decision": "granted", "notice_version": notice_version.public_id}
        ],
    }
    response = signup(signup_api, "cust-9", valid | body)
    assert response.status_code == 422, response.json()
    assert sorted(response.json()["errors"]) == errors
    assert nothing_written() == {"contacts": 0, "ledger": 0, "outbox": 0, "subscriptions": 0}


def test_an_erased_contact_is_409_and_nothing_is_written(signup_api, brand, notice_version):
    Contact.objects.create(brand=brand, external_id="cust-9", erased_at=timezone.now())
    before = nothing_written()
    body = {
        "contact": {"email": "ada@example.com"},
        "consents": [
            {"purpose": "email-marketing", "decision": "granted", "notice_version": notice_version.public_id}
        ],
    }
    response = signup(signup_api, "cust-9", body)
    assert (response.status_code, response.json()["type"]) == (409, "urn:candor:problem:conflict")
    assert nothing_written() == before


def test_a_suppressed_address_cannot_be_opted_in_and_the_whole_sign_up_is_refused(
    signup_api, brand, notice_version
):
    Suppression.objects.create(
        brand=brand,
        email_hmac=email_hmac("gone@example.com"),
        reason=SuppressionReason.ERASED,
        created_at=timezone.now(),
    )
    grant = {"purpose": "email-marketing", "decision": "granted", "notice_version": notice_version.public_id}
    refused = signup(signup_api, "cust-9", {"contact": {"email": "gone@example.com"}, "consents": [grant]})
    assert (refused.status_code, refused.json()["type"]) == (409, "urn:candor:problem:suppressed")
    assert nothing_written() == {"contacts": 0, "ledger": 0, "outbox": 0, "subscriptions": 0}
    # Without the grant the contact is created, and reads suppressed (as PUT does).
    created = signup(signup_api, "cust-9", {"contact": {"email": "gone@example.com"}})
    assert (created.status_code, created.json()["contact"]["suppressed"]) == (201, True)


def test_idempotency_key_replays_the_first_answer(signup_api, notice_version):
    body = {
        "consents": [
            {"purpose": "email-marketing", "decision": "granted", "notice_version": notice_version.public_id}
        ]
    }
    first = signup(signup_api, "cust-9", body, HTTP_IDEMPOTENCY_KEY="k-1")
    replay = signup(signup_api, "cust-9", body, HTTP_IDEMPOTENCY_KEY="k-1")
    assert (first.status_code, replay.status_code, replay.headers["Idempotent-Replayed"]) == (
        201,
        201,
        "true",
    )
    assert replay.json() == first.json()
    assert ConsentEvent.objects.count() == 1
    other = signup(signup_api, "cust-9", {"contact": {"locale": "fr"}}, HTTP_IDEMPOTENCY_KEY="k-1")
    assert other.status_code == 422


def test_scopes(make_client, brand, topics, notice_version):
    rows = {"subscriptions": [{"topic": "orders", "channel": "email", "status": "subscribed"}]}
    consent_only = make_client(brand, [Scope.CONSENT_WRITE])
    assert signup(consent_only, "cust-9", {"contact": {"locale": "en"}}).status_code == 201
    assert signup(consent_only, "cust-9", rows).status_code == 403  # subscriptions need preferences:write
    assert signup(make_client(brand, PREFERENCE_SCOPES), "cust-9", {}).status_code == 403
    assert (
        signup(make_client(brand, [Scope.CONSENT_WRITE, Scope.PREFERENCES_WRITE]), "cust-9", rows).status_code
        == 200
    )


@pytest.mark.django_db(transaction=True)
def test_a_sign_up_with_one_consent_costs_fewer_round_trips_than_put_and_post(signup_api, notice_version):
    """Counted as production runs them: BEGIN and COMMIT, not the test's savepoints."""
    grant = {"purpose": "email-marketing", "decision": "granted", "notice_version": notice_version.public_id}
    # Warm the caches both paths read (the API key, its last_used_at, the brand's endpoints) and
    # prepare their statements (config.db._run prepares a single one in a round trip of its own).
    assert signup(signup_api, "warm-up", {"consents": [grant]}).status_code == 201
    signup_api.put("/api/v1/contacts/warm-up-2", {"email": "w@example.com"}, format="json")
    signup_api.post("/api/v1/contacts/warm-up-2/consents", grant, format="json")
    with round_trips() as pair:
        signup_api.put("/api/v1/contacts/cust-a", {"email": "a@example.com"}, format="json")
        signup_api.post("/api/v1/contacts/cust-a/consents", grant, format="json")
    with round_trips() as one:
        response = signup(signup_api, "cust-b", {"contact": {"email": "b@example.com"}, "consents": [grant]})
    assert response.status_code == 201
    assert (one.count, pair.count) == (4, 5), (one, pair)


def test_schema_lists_the_signup_endpoint(client, db):
    paths = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()["paths"]
    operation = paths["/api/v1/contacts/{external_id}/signup"]["post"]
    assert operation["operationId"] == "contacts_signup"
    assert {"200", "201", "409", "422"} <= set(operation["responses"])
