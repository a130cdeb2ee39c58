"""Double opt-in proof (compliance #9): the sign-up request's IP and user agent and the version of
the confirmation email sent are kept while the request is pending, carried by the grant its
confirmation records (and so covered by the event's evidence digest), shown in the export and
the receipt, and cleared of the personal parts by erasure and the retention purge."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import time_machine
from django.core import mail
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from brands.services import brand_update
from consent.erasure import contact_erase
from consent.ledger import evidence_digest
from consent.models import ConsentEvidence
from consent.retention import evidence_retention_purge
from consent.services import EvidenceInput
from preferences import services
from preferences.emails import TEMPLATE_VERSION
from preferences.models import Subscription
from preferences.page_selectors import contact_export
from preferences.services import SubscriptionChange
from tests.actors import TEST_ACTOR
from tests.preferences.test_double_opt_in import NOW, URL, ask, builder, confirm

CONFIRMED_AT = NOW + timedelta(hours=5)


def _digest_of(message) -> str:
    """The digest of the message as sent, with its confirm links taken out."""
    [(html, _)] = message.alternatives
    rendered = "\n".join((message.subject, message.body, html))
    return hashlib.sha256(
        rendered.replace(URL.format(topic="launches", channel="email"), "{confirm_url}").encode()
    ).hexdigest()


def _ask_and_send(brand, news_version, capture, *, at=NOW):
    with time_machine.travel(at, tick=False), capture(execute=True):
        ask(brand, news_version, at=at)
    [message] = mail.outbox
    return message


def _email(message, *, sent_at=NOW, language="en"):
    return {
        "template": TEMPLATE_VERSION,
        "language": language,
        "digest": _digest_of(message),
        "sent_at": sent_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }


def _proof(message, *, requested_at=NOW):
    return {
        "requested_at": requested_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "confirmation_email": _email(message, sent_at=requested_at),
    }


def test_the_pending_request_keeps_its_ip_user_agent_and_the_email_sent(
    brand, contact, launches, news_version, django_capture_on_commit_callbacks
):
    message = _ask_and_send(brand, news_version, django_capture_on_commit_callbacks)

    row = Subscription.objects.get()
    assert (row.status, row.confirmation_request_ip, row.confirmation_request_user_agent) == (
        "pending",
        "198.51.100.0",
        "Signup browser",
    )
    assert row.confirmation_email == _email(message)
    assert "{confirm_url}" not in message.body  # the digest is of the sent text, links masked
    assert len(row.confirmation_email["digest"]) == 64


def test_a_request_never_confirmed_forgets_its_ip_and_user_agent_once_it_cannot_be(
    brand, contact, launches, news_version, django_capture_on_commit_callbacks
):
    message = _ask_and_send(brand, news_version, django_capture_on_commit_callbacks)

    assert services.confirmation_requests_forget(now=NOW + timedelta(hours=71)) == 0
    assert Subscription.objects.get().confirmation_request_ip == "198.51.100.0"
    assert services.confirmation_requests_forget(now=NOW + timedelta(hours=72, seconds=1)) == 1

    row = Subscription.objects.get()
    kept = (row.status, row.confirmation_request_ip, row.confirmation_request_user_agent)
    assert kept == ("pending", "", "")
    assert row.confirmation_email == _email(message)  # which email went out is nothing personal
    assert services.confirmation_requests_forget(now=NOW + timedelta(days=5)) == 0


def test_the_same_wording_digests_the_same_and_another_language_differently(
    brand, contact, launches, news_version, django_capture_on_commit_callbacks
):
    first = _ask_and_send(brand, news_version, django_capture_on_commit_callbacks)
    digest_en = Subscription.objects.get().confirmation_email["digest"]
    # A resend ten minutes later (another token in the link) is the same version.
    mail.outbox.clear()
    later = NOW + timedelta(minutes=10)
    with time_machine.travel(later, tick=False), django_capture_on_commit_callbacks(execute=True):
        services.confirmation_resend(
            brand=brand, contact=contact, topic_slug="launches", confirm_url_builder=builder
        )
    assert Subscription.objects.get().confirmation_email == {
        **_email(first),
        "sent_at": "2026-11-22T10:10:00.000000Z",
    }
    assert Subscription.objects.get().confirmation_email["digest"] == digest_en

    contact.locale = "de"
    contact.save(update_fields=["locale"])
    mail.outbox.clear()
    with (
        time_machine.travel(later + timedelta(minutes=10), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        services.confirmation_resend(
            brand=brand, contact=contact, topic_slug="launches", confirm_url_builder=builder
        )
    [german] = mail.outbox
    email = Subscription.objects.get().confirmation_email
    assert (email["language"], email["digest"]) == ("de", _digest_of(german))
    assert email["digest"] != digest_en


def test_the_grant_at_confirmation_carries_the_proof_under_the_events_digest(
    brand, contact, launches, news_version, django_capture_on_commit_callbacks
):
    message = _ask_and_send(brand, news_version, django_capture_on_commit_callbacks)

    result = confirm(brand, contact, launches, issued_at=NOW, at=CONFIRMED_AT)

    [event] = result.consent_events
    evidence = ConsentEvidence.objects.get(event=event)
    # The confirmation's own evidence, and the sign-up request it confirms.
    assert (evidence.ip, evidence.user_agent) == ("203.0.113.0", "Mail app browser")
    assert (evidence.opt_in_request_ip, evidence.opt_in_request_user_agent) == (
        "198.51.100.0",
        "Signup browser",
    )
    assert evidence.opt_in_request == _proof(message)
    assert event.evidence_digest == evidence_digest(evidence)
    evidence.opt_in_request_ip = "192.0.2.0"  # a forged sign-up address no longer matches
    assert event.evidence_digest != evidence_digest(evidence)
    # The row no longer holds the request's personal parts: the grant does.
    row = Subscription.objects.get()
    assert (
        row.status,
        row.confirmation_request_ip,
        row.confirmation_request_user_agent,
        row.confirmation_email,
    ) == (
        "subscribed",
        "",
        "",
        None,
    )
    out = StringIO()
    call_command("verify_ledger", stdout=out)
    assert out.getvalue().strip() == "OK: 1 events in 1 contacts verify."


def test_a_grant_without_double_opt_in_carries_no_proof(brand, contact, newsletter, notice_version):
    result = services.preferences_update(
        brand=brand,
        external_id=contact.external_id,
        method="preference_centre",
        recorded_by="hosted:centre",
        subscriptions=[
            SubscriptionChange(
                topic="newsletter",
                channel="email",
                status="subscribed",
                notice_version=notice_version.public_id,
            )
        ],
        evidence=EvidenceInput(ip="198.51.100.0", user_agent="Signup browser"),
    )
    [event] = result.consent_events
    evidence = ConsentEvidence.objects.get(event=event)
    assert (evidence.opt_in_request_ip, evidence.opt_in_request_user_agent, evidence.opt_in_request) == (
        "",
        "",
        None,
    )


def test_an_unsubscribed_request_keeps_no_proof(
    brand, contact, launches, news_version, django_capture_on_commit_callbacks
):
    _ask_and_send(brand, news_version, django_capture_on_commit_callbacks)
    with time_machine.travel(NOW + timedelta(hours=1), tick=False):
        services.subscription_unsubscribe(
            brand=brand,
            external_id=contact.external_id,
            topic_slug="launches",
            channel="email",
            method="preference_centre",
            recorded_by="hosted:centre",
        )
    row = Subscription.objects.get()
    assert (
        row.status,
        row.confirmation_request_ip,
        row.confirmation_request_user_agent,
        row.confirmation_email,
    ) == (
        "unsubscribed",
        "",
        "",
        None,
    )


def test_the_export_and_the_receipt_show_the_proof(
    brand, contact, launches, news_version, django_capture_on_commit_callbacks, make_client
):
    message = _ask_and_send(brand, news_version, django_capture_on_commit_callbacks)
    [event] = confirm(brand, contact, launches, issued_at=NOW, at=CONFIRMED_AT).consent_events

    [entry] = contact_export(brand=brand, contact=contact)["consent_history"]
    assert entry["evidence"] == {
        "ip": "203.0.113.0",
        "user_agent": "Mail app browser",
        "page_url": "https://c.test/p/acme/c/",
        "gpc": None,
        "tc_string": "",
        "gpp_string": "",
        "phone": "",
        "message": None,
        "opt_in_request": {**_proof(message), "ip": "198.51.100.0", "user_agent": "Signup browser"},
        "erased": False,
    }

    body = make_client(brand).get(f"/api/v1/consent-events/{event.id}/receipt").json()
    assert body["receipt"]["candor"]["double_opt_in"] == _proof(message)
    # Personal: not in receipts.
    assert "198.51.100.0" not in str(body)
    assert "Signup browser" not in str(body)


def test_erasure_clears_the_requests_ip_and_user_agent_and_keeps_the_email_version(
    brand, contact, launches, news_version, django_capture_on_commit_callbacks
):
    message = _ask_and_send(brand, news_version, django_capture_on_commit_callbacks)
    [event] = confirm(brand, contact, launches, issued_at=NOW, at=CONFIRMED_AT).consent_events

    contact_erase(brand=brand, contact=contact, requested_via="preference_centre")

    evidence = ConsentEvidence.objects.get(event=event)
    assert (evidence.opt_in_request_ip, evidence.opt_in_request_user_agent) == ("", "")
    assert evidence.opt_in_request == _proof(message)  # no personal data: still the proof of what was sent
    assert evidence.erased_at is not None
    out = StringIO()
    call_command("verify_ledger", stdout=out)
    assert out.getvalue().startswith("OK:")


def test_the_retention_purge_clears_them_too(
    brand, contact, launches, news_version, django_capture_on_commit_callbacks
):
    asked_at = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
    message = _ask_and_send(brand, news_version, django_capture_on_commit_callbacks, at=asked_at)
    [event] = confirm(
        brand, contact, launches, issued_at=asked_at, at=asked_at + timedelta(hours=1)
    ).consent_events
    with time_machine.travel(asked_at + timedelta(days=10), tick=False):
        services.subscription_unsubscribe(
            brand=brand,
            external_id=contact.external_id,
            topic_slug="launches",
            channel="email",
            method="preference_centre",
            recorded_by="hosted:centre",
        )
    brand_update(actor=TEST_ACTOR, brand=brand, evidence_retention_days=30)

    assert evidence_retention_purge(now=asked_at + timedelta(days=41)) == 1

    evidence = ConsentEvidence.objects.get(event=event)
    assert (evidence.opt_in_request_ip, evidence.opt_in_request_user_agent) == ("", "")
    assert evidence.opt_in_request == _proof(message, requested_at=asked_at)
    out = StringIO()
    call_command("verify_ledger", stdout=out)
    assert out.getvalue().startswith("OK:")


@pytest.mark.parametrize(
    "assignments",
    [
        # Erasing but leaving the sign-up request's IP in place.
        "erased_at = now(), salt = '', ip = '', user_agent = '', page_url = '', "
        "opt_in_request_user_agent = ''",
        # Erasing and forging which email was sent.
        "erased_at = now(), salt = '', ip = '', user_agent = '', page_url = '', opt_in_request_ip = '', "
        "opt_in_request_user_agent = '', opt_in_request = '{\"forged\": true}'::jsonb",
    ],
)
def test_the_database_lets_erasure_clear_the_proofs_personal_parts_and_nothing_else(
    brand, contact, launches, news_version, django_capture_on_commit_callbacks, assignments
):
    _ask_and_send(brand, news_version, django_capture_on_commit_callbacks)
    [event] = confirm(brand, contact, launches, issued_at=NOW, at=CONFIRMED_AT).consent_events
    with (
        pytest.raises(DatabaseError, match="may only be erased"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(f"UPDATE consent_consentevidence SET {assignments} WHERE event_id = %s", [event.id])  # noqa: S608
    assert ConsentEvidence.objects.get(event=event).opt_in_request_ip == "198.51.100.0"
