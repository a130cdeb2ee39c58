"""Expiry: a grant past its `expires_at` (CASL implied consent: 6 months from an inquiry, 2 years
from a purchase) is recorded once as `expired` in the ledger, and `consent.expired` goes out
through the feed and the webhooks, exactly once, however often or concurrently the task runs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from consent.erasure import contact_erase
from consent.models import ConsentEvent, ConsentState, ConsentType, Contact
from consent.services import consents_expire, contact_upsert
from consent.verification import ledger_verify
from sync.models import Event
from tests.actors import TEST_ACTOR
from tests.conftest import current_version

GRANTED_AT = datetime(2026, 5, 22, 10, 0, tzinfo=UTC)
EXPIRES_AT = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)  # six months after an inquiry
RUN_AT = EXPIRES_AT + timedelta(minutes=1)
CONSENTS = "/api/v1/contacts/cust-1/consents"


@pytest.fixture
def implied(brand, make_purpose):
    return make_purpose(brand, "casl-newsletter", consent_type=ConsentType.IMPLIED)


@pytest.fixture
def granted(api, contact, implied):
    with time_machine.travel(GRANTED_AT, tick=False):
        response = api.post(
            CONSENTS,
            {
                "purpose": "casl-newsletter",
                "decision": "granted",
                "notice_version": current_version(implied).public_id,
                "implied_basis": "inquiry",
            },
            format="json",
        )
    assert response.status_code == 201
    assert response.json()["expires_at"] == "2026-11-22T10:00:00Z"
    return ConsentEvent.objects.get(pk=response.json()["event_id"])


def test_a_grant_past_its_expiry_is_recorded_once_and_announced(brand, api, contact, implied, granted):
    assert consents_expire(now=EXPIRES_AT - timedelta(seconds=1)) == 0  # not yet

    assert consents_expire(now=RUN_AT) == 1
    assert consents_expire(now=RUN_AT) == 0  # a second run, or a retry, adds nothing
    assert consents_expire(now=RUN_AT + timedelta(days=1)) == 0

    expired = ConsentEvent.objects.get(contact=contact, sequence=2)
    assert (
        expired.decision,
        expired.method,
        expired.actor,
        expired.recorded_by,
        expired.occurred_at,
        expired.recorded_at,
        expired.expires_at,
        expired.notice_version_id,
        expired.prev_hash,
    ) == (
        "expired",
        "expiry",
        "candor",
        "worker:consent-expiry",
        EXPIRES_AT,
        RUN_AT,
        None,
        None,
        granted.hash,
    )
    state = ConsentState.objects.get(contact=contact, purpose=implied)
    assert (state.decision, state.event_id, state.occurred_at) == ("expired", expired.id, EXPIRES_AT)
    assert ledger_verify(brand=brand).ok

    [announced] = Event.objects.filter(contact_ref=contact.pk, type="consent.expired")
    assert (announced.subject, announced.sequence, announced.occurred_at) == ("cust-1", 2, EXPIRES_AT)
    assert announced.data == {
        "contact": "cust-1",
        "sequence": 2,
        "purpose": "casl-newsletter",
        "state": "expired",
        "valid_for_processing": False,
        "event_id": str(expired.id),
        "notice_version": None,
        "occurred_at": "2026-11-22T10:00:00.000000Z",
        "expires_at": None,
    }

    # The webhook body is that event (sync.delivery.bodies: what fan-out inserts).
    from sync.delivery.bodies import delivery_of
    from sync.delivery.endpoints import endpoint_create

    endpoint = endpoint_create(
        actor=TEST_ACTOR, brand=brand, url="https://hooks.example/h", event_types=["consent.expired"]
    )
    delivery = delivery_of(endpoint=endpoint, event=announced, now=RUN_AT)
    assert json.loads(delivery.body) == {
        "type": "consent.expired",
        "timestamp": json.loads(delivery.body)["timestamp"],
        "data": announced.data,
    }

    # The API reads it as expired, and its receipt says so.
    with time_machine.travel(RUN_AT, tick=False):
        [current] = api.get(CONSENTS).json()["consents"]
    assert (current["state"], current["valid_for_processing"], current["event_id"]) == (
        "expired",
        False,
        str(expired.id),
    )
    dpv = api.get(f"/api/v1/consent-events/{expired.id}/receipt?format=dpv").json()
    assert dpv["dpv:hasConsentStatus"] == {"@id": "dpv:ConsentExpired"}
    kantara = api.get(f"/api/v1/consent-events/{expired.id}/receipt").json()["receipt"]
    assert (
        kantara["services"][0]["purposes"][0]["termination"] == "Consent expired at the time of this event."
    )


def test_what_is_not_due_is_left_alone(brand, api, contact, implied, granted, purpose, notice_version):
    # A renewed grant before the expiry moves the date; an express grant never expires; a
    # withdrawal has nothing to expire; an erased contact's ledger is closed.
    with time_machine.travel(EXPIRES_AT - timedelta(days=1), tick=False):
        renewed = api.post(
            CONSENTS,
            {
                "purpose": "casl-newsletter",
                "decision": "granted",
                "notice_version": current_version(implied).public_id,
                "implied_basis": "purchase",
            },
            format="json",
        )
        assert renewed.status_code == 201
        api.post(
            CONSENTS,
            {"purpose": "email-marketing", "decision": "granted", "notice_version": notice_version.public_id},
            format="json",
        )
        other, _ = contact_upsert(brand=brand, external_id="cust-2", email="grace@example.com")
    with time_machine.travel(GRANTED_AT, tick=False):
        api.post(
            "/api/v1/contacts/cust-2/consents",
            {
                "purpose": "casl-newsletter",
                "decision": "granted",
                "notice_version": current_version(implied).public_id,
                "implied_basis": "inquiry",
            },
            format="json",
        )
    contact_erase(brand=brand, contact=other, requested_via="api")
    before = (ConsentEvent.objects.count(), Event.objects.count())

    assert consents_expire(now=RUN_AT) == 0

    assert (ConsentEvent.objects.count(), Event.objects.count()) == before
    assert not Event.objects.filter(type="consent.expired").exists()


def test_a_brand_cannot_record_an_expiry(api, contact, implied, granted):
    response = api.post(CONSENTS, {"purpose": "casl-newsletter", "decision": "expired"}, format="json")
    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["decision"]
    assert ConsentEvent.objects.filter(contact=contact).count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_record_each_expiry_exactly_once(brand, make_client, implied):
    from tests.consent.test_concurrency import run_in_parallel

    api = make_client(brand)
    contacts = []
    with time_machine.travel(GRANTED_AT, tick=False):
        for index in range(5):
            contact, _ = contact_upsert(brand=brand, external_id=f"cust-{index}")
            contacts.append(contact)
            api.post(
                f"/api/v1/contacts/cust-{index}/consents",
                {
                    "purpose": "casl-newsletter",
                    "decision": "granted",
                    "notice_version": current_version(implied).public_id,
                    "implied_basis": "inquiry",
                },
                format="json",
            )

    results = run_in_parallel(6, lambda _index: consents_expire(now=RUN_AT))

    assert sum(results) == 5
    for contact in contacts:
        assert list(
            ConsentEvent.objects.filter(contact=contact)
            .order_by("sequence")
            .values_list("decision", flat=True)
        ) == ["granted", "expired"]
        assert Event.objects.filter(contact_ref=contact.pk, type="consent.expired").count() == 1
    assert ledger_verify(brand=brand).ok
    # The feed carries each expiry once.
    feed_api = make_client(brand, ["events:read"])
    body = feed_api.get("/api/v1/events", {"type": "consent.expired", "limit": 100}).json()
    assert sorted(event["data"]["contact"] for event in body["events"]) == [f"cust-{i}" for i in range(5)]
    assert Contact.objects.filter(brand=brand).count() == 5


def test_the_task_runs_the_service_on_beats_schedule(settings, brand, contact, implied, granted):
    from consent import tasks

    with time_machine.travel(RUN_AT, tick=False):
        assert tasks.consents_expire() == 1
        assert tasks.consents_expire() == 0
    assert tasks.consents_expire.name == "consent.tasks.consents_expire"
    schedule = {entry["task"]: entry for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert schedule["consent.tasks.consents_expire"]["schedule"] == 60.0
