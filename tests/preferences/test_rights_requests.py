"""Access and erasure requests a brand received by email, by phone or at a counter, carried out
through the API (`requests` scope): the very document of the hosted download, the very erasure of
the hosted page, each recorded with the API key (by its public prefix) as the requester."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
import time_machine
from django.db import IntegrityError, connection, transaction

from consent.identifiers import email_hmac
from consent.models import ConsentEvent, ConsentEvidence, Contact, RightsRequest, Suppression
from preferences.models import Subscription
from sync.models import Event
from tests.preferences.conftest import PREFERENCE_SCOPES
from tests.preferences.pages import open_centre

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
ADDRESS = "ada@example.com"
EXPORT = "/api/v1/contacts/{}/export"
CONTACT = "/api/v1/contacts/{}"
OTHER_SCOPES = ["consent:read", "consent:write", *PREFERENCE_SCOPES, "events:read", "decisions:read"]


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def requests_api(brand, make_client):
    return make_client(brand, ["requests"])


@pytest.fixture
def twin(brand, topics, notice_version):
    """Two contacts with the same history: one for the hosted path, one for the API."""
    from consent.services import EvidenceInput, contact_upsert
    from preferences.services import SubscriptionChange, preferences_update

    for external_id, email in (("cust-1", ADDRESS), ("cust-2", "grace@example.com")):
        contact_upsert(brand=brand, external_id=external_id, email=email, phone="+4915123456789")
        preferences_update(
            brand=brand,
            external_id=external_id,
            method="api",
            recorded_by="test",
            subscriptions=[
                SubscriptionChange(
                    topic="newsletter",
                    channel="email",
                    status="subscribed",
                    notice_version=notice_version.public_id,
                )
            ],
            evidence=EvidenceInput(ip="203.0.113.0", user_agent="Firefox/140"),
        )
    return Contact.objects.get(brand=brand, external_id="cust-1"), Contact.objects.get(
        brand=brand, external_id="cust-2"
    )


def hosted_step_up(client, brand, contact, start, verify, mailoutbox, capture):
    page = open_centre(client, brand, contact)
    with capture(execute=True):
        assert page.post(start).status_code == 303
    [code] = re.findall(r"^(\d{6})$", mailoutbox[-1].body, re.MULTILINE)
    return page.post(verify, {"code": code})


def requests_of(contact: Contact) -> list[tuple[str, str, str, str]]:
    return list(
        RightsRequest.objects.filter(contact=contact)
        .order_by("pk")
        .values_list("kind", "requested_via", "actor", "reason")
    )


# --- Access ---------------------------------------------------------------------------------------


def test_the_export_is_the_hosted_download_and_both_are_recorded(
    client, brand, contact, twin, requests_api, mailoutbox, django_capture_on_commit_callbacks
):
    hosted = hosted_step_up(
        client,
        brand,
        contact,
        "/p/acme/my-data",
        "/p/acme/verify/export",
        mailoutbox,
        django_capture_on_commit_callbacks,
    )
    assert hosted.status_code == 200

    response = requests_api.get(EXPORT.format("cust-1"), {"reason": "ticket 4711, by phone"})

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == json.loads(hosted.content)
    assert response.json()["contact"]["external_id"] == "cust-1"
    assert [e["purpose"] for e in response.json()["consent_history"]] == ["email-marketing"]
    key = f"api_key:{requests_api.api_key.prefix}"
    assert requests_of(contact) == [
        ("access", "preference_centre", "subject", ""),
        ("access", "api", key, "ticket 4711, by phone"),
    ]
    assert RightsRequest.objects.get(reason="ticket 4711, by phone").requested_at == NOW
    # The raw key never lands in the record.
    assert requests_api._credentials["HTTP_AUTHORIZATION"].split()[1] not in key


def test_a_head_of_the_export_records_nothing(brand, contact, requests_api):
    assert requests_api.head(EXPORT.format("cust-1")).status_code == 200
    assert RightsRequest.objects.count() == 0


# --- Erasure --------------------------------------------------------------------------------------


def _effects(contact: Contact) -> dict:
    """What an erasure leaves, with the parts that name who asked and how set aside."""
    contact.refresh_from_db()
    return {
        "shell": (contact.email, contact.phone, contact.locale, contact.suppressed, contact.erased_at),
        "pseudonym": contact.external_id.startswith("erased-"),
        "ledger": [
            (e.sequence, e.purpose.slug, e.decision)
            for e in ConsentEvent.objects.filter(contact=contact)
            .select_related("purpose")
            .order_by("sequence")
        ],
        "evidence": list(
            ConsentEvidence.objects.filter(event__contact=contact)
            .order_by("event__sequence")
            .values_list("ip", "user_agent", "salt", "erased_at")
        ),
        "subscriptions": Subscription.objects.filter(contact=contact).count(),
        "outbox": [
            (e.sequence, e.type, e.subject == contact.external_id)
            for e in Event.objects.filter(contact_ref=contact.pk).order_by("sequence")
        ],
        "suppressed": Suppression.objects.filter(email_hmac=contact.email_hmac).exists(),
    }


def test_erasure_through_the_api_is_the_hosted_erasure(
    client, brand, twin, requests_api, mailoutbox, django_capture_on_commit_callbacks
):
    hosted_contact, api_contact = twin
    hosted = hosted_step_up(
        client,
        brand,
        hosted_contact,
        "/p/acme/delete",
        "/p/acme/verify/erase",
        mailoutbox,
        django_capture_on_commit_callbacks,
    )
    assert hosted.status_code == 303

    response = requests_api.delete(
        CONTACT.format("cust-2"), {"reason": "ticket 4712, at the counter"}, format="json"
    )

    assert response.status_code == 204
    assert response.content == b""
    assert _effects(api_contact) == _effects(hosted_contact)
    assert _effects(api_contact)["ledger"] == [
        (1, "email-marketing", "granted"),
        (2, "email-marketing", "withdrawn"),
    ]
    assert _effects(api_contact)["suppressed"] is True
    # Who asked, and how: the API key by its public prefix, on the withdrawal, the request and
    # contact.erased.
    key = f"api_key:{requests_api.api_key.prefix}"
    withdrawal = ConsentEvent.objects.get(contact=api_contact, sequence=2)
    assert (withdrawal.method, withdrawal.actor, withdrawal.recorded_by) == ("api", key, key)
    hosted_withdrawal = ConsentEvent.objects.get(contact=hosted_contact, sequence=2)
    assert (hosted_withdrawal.method, hosted_withdrawal.actor, hosted_withdrawal.recorded_by) == (
        "preference_centre",
        "subject",
        "erasure",
    )
    assert requests_of(api_contact) == [("erasure", "api", key, "ticket 4712, at the counter")]
    assert requests_of(hosted_contact) == [("erasure", "preference_centre", "subject", "")]
    erased = Event.objects.get(contact_ref=api_contact.pk, type="contact.erased")
    assert erased.data == {
        "contact": "cust-2",
        "sequence": 4,
        "erased_at": "2026-11-22T10:00:00.000000Z",
        "requested_via": "api",
    }
    assert Suppression.objects.filter(email_hmac=email_hmac("grace@example.com")).count() == 1
    # The old id is unknown now; the request stays as proof.
    assert (
        requests_api.delete(CONTACT.format("cust-2"), {"reason": "again"}, format="json").status_code == 404
    )


def test_the_reason_may_come_in_the_query(brand, contact, requests_api):
    response = requests_api.delete(CONTACT.format("cust-1") + "?reason=email+of+22+Nov")
    assert response.status_code == 204
    assert requests_of(contact) == [
        ("erasure", "api", f"api_key:{requests_api.api_key.prefix}", "email of 22 Nov")
    ]


@pytest.mark.parametrize(
    ("body", "query", "message"),
    [
        (None, "", "Say why: the request's reference or channel (not the person's data)."),
        ({"reason": "   "}, "", "Say why: the request's reference or channel (not the person's data)."),
        ({}, "?reason=", "Say why: the request's reference or channel (not the person's data)."),
        ({"reason": "x" * 501}, "", "reason must be at most 500 characters."),
        (None, "?reason=a%00b", "reason must not contain NUL characters."),
    ],
    ids=["none", "blank", "empty-query", "too-long", "nul"],
)
def test_an_erasure_without_a_valid_reason_is_422_and_erases_nothing(
    brand, contact, requests_api, body, query, message
):
    response = requests_api.delete(CONTACT.format("cust-1") + query, body, format="json")

    assert response.status_code == 422
    assert response.json() == {
        "type": "urn:candor:problem:validation-error",
        "title": "Validation failed",
        "status": 422,
        "detail": message,
        "errors": {"reason": [message]},
    }
    contact.refresh_from_db()
    assert (contact.erased_at, contact.email) == (None, ADDRESS)
    assert RightsRequest.objects.count() == 0
    assert Suppression.objects.count() == 0


def test_both_need_the_requests_scope(brand, contact, make_client):
    others = make_client(brand, OTHER_SCOPES)
    assert others.get(EXPORT.format("cust-1")).status_code == 403
    refused = others.delete(CONTACT.format("cust-1"), {"reason": "r"}, format="json")
    assert refused.status_code == 403
    assert refused.json()["detail"] == "This API key needs the scope(s) requests."
    assert Contact.objects.get(pk=contact.pk).erased_at is None
    assert RightsRequest.objects.count() == 0
    # `requests` alone opens neither the contact's reads nor its writes.
    only_requests = make_client(brand, ["requests"])
    assert only_requests.get(CONTACT.format("cust-1")).status_code == 403
    assert only_requests.put(CONTACT.format("cust-1"), {"locale": "de"}, format="json").status_code == 403
    # `admin` implies every scope.
    admin = make_client(brand, ["admin"])
    assert admin.get(EXPORT.format("cust-1")).status_code == 200


def test_another_brand_cannot_export_or_erase(brand, other_brand, contact, make_client):
    outsider = make_client(other_brand, ["requests"])
    assert outsider.get(EXPORT.format("cust-1")).status_code == 404
    assert outsider.delete(CONTACT.format("cust-1"), {"reason": "r"}, format="json").status_code == 404
    contact.refresh_from_db()
    assert (contact.erased_at, contact.email) == (None, ADDRESS)
    assert RightsRequest.objects.count() == 0


def test_the_requests_record_is_append_only(brand, contact, requests_api):
    requests_api.get(EXPORT.format("cust-1"), {"reason": "r"})
    for statement in (
        "UPDATE consent_rightsrequest SET actor = 'forged'",
        "DELETE FROM consent_rightsrequest",
    ):
        with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)
    assert RightsRequest.objects.get().actor == f"api_key:{requests_api.api_key.prefix}"


def test_create_api_key_issues_a_requests_key(brand):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("create_api_key", "--brand", "acme", "--scopes", "requests", stdout=out)
    from brands.models import ApiKey

    assert ApiKey.objects.get().scopes == ["requests"]
