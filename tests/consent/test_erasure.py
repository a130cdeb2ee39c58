"""Erasure: the stop goes into the ledger, the personal data goes, proof and a suppression entry
stay as HMAC pseudonyms, and the same address coming back is suppressed until a fresh opt-in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.apps import apps
from django.db import connection, models, transaction
from django.db.models.functions import Cast
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from brands.models import IdempotencyRecord
from config.errors import Conflict, NotFound, Unprocessable
from consent.erasure import KEPT_ON_ERASURE, contact_erase
from consent.identifiers import email_hmac, erased_external_id
from consent.models import (
    ConsentEvent,
    ConsentEvidence,
    ConsentState,
    Contact,
    DpvPurpose,
    Suppression,
)
from consent.services import EvidenceInput, consent_append, consent_record, contact_upsert
from consent.verification import ledger_verify
from console.models import StaffSession as Session
from preferences.models import ChannelOptOut, Hold, Subscription
from preferences.services import HoldRequest, SubscriptionChange, preferences_update
from preferences.topics import topic_create
from sync.models import Event
from tests.actors import TEST_ACTOR
from tests.conftest import current_version

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
ADDRESS = "ada@example.com"  # the `contact` fixture's address, normalised
CONTACT_URL = "/api/v1/contacts/{}"
CONSENTS_URL = "/api/v1/contacts/{}/consents"


def rows_mentioning(text: str) -> list[str]:
    """Every model field, in every installed app, whose stored text contains `text` (any case);
    sessions are decoded first."""
    found = []
    for model in apps.get_models():
        if model._meta.proxy or not model._meta.managed:
            continue
        manager = model._default_manager
        for field in model._meta.concrete_fields:
            if isinstance(field, models.CharField | models.TextField):
                hits = manager.filter(**{f"{field.attname}__icontains": text})
            elif isinstance(field, models.JSONField):
                hits = manager.annotate(_text=Cast(field.attname, models.TextField())).filter(
                    _text__icontains=text
                )
            else:
                continue
            if hits.exists():
                found.append(f"{model._meta.label}.{field.name}")
    for session in Session.objects.all():
        if text.lower() in str(session.get_decoded()).lower():
            found.append("console.StaffSession.session_data")
    return found


def ledger(contact: Contact) -> list[tuple[int, str, str, str, str]]:
    return [
        (e.sequence, e.purpose.slug, e.decision, e.method, e.recorded_by)
        for e in ConsentEvent.objects.filter(contact=contact).select_related("purpose").order_by("sequence")
    ]


def outbox(contact: Contact) -> list[tuple[int, str, str, str]]:
    return [
        (e.sequence, e.type, e.subject, e.data["contact"])
        for e in Event.objects.filter(contact_ref=contact.pk).order_by("sequence")
    ]


def grant(api, purpose, external_id="cust-1", **extra):
    body = {
        "purpose": purpose.slug,
        "decision": "granted",
        "notice_version": current_version(purpose).public_id,
        **extra,
    }
    return api.post(CONSENTS_URL.format(external_id), body, format="json")


@pytest.fixture
def analytics(brand, make_purpose):
    return make_purpose(brand, "analytics", dpv_purpose=DpvPurpose.SERVICE_PERSONALISATION)


@pytest.fixture
def everything(brand, contact, api, purpose, analytics):
    """A contact with a profile, grants with full evidence, a withdrawal, subscriptions, a channel
    opt-out, a hold whose reason quotes the address, and an API reply stored for a replay."""
    with time_machine.travel(NOW, tick=False):
        stored = api.put(
            CONTACT_URL.format("cust-1"),
            {"phone": "+4915123456789", "locale": "de", "timezone": "Europe/Berlin", "jurisdiction": "DE"},
            format="json",
            HTTP_IDEMPOTENCY_KEY="profile-1",
        )
        assert stored.status_code == 200
        evidence = {
            "ip": "203.0.113.7",
            "user_agent": "Firefox/140",
            "page_url": "https://acme.example/signup",
            "gpc": False,
            "tc_string": "CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA",
            "gpp_string": "DBABMA~CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA",
        }
        assert grant(api, purpose, evidence=evidence).status_code == 201
        assert grant(api, analytics, evidence=evidence).status_code == 201
        api.post(
            CONSENTS_URL.format("cust-1"), {"purpose": "analytics", "decision": "withdrawn"}, format="json"
        )
        topic_create(
            actor=TEST_ACTOR,
            brand=brand,
            slug="newsletter",
            name="Newsletter",
            purpose=purpose,
            channels=["email", "sms"],
        )
        preferences_update(
            brand=brand,
            external_id="cust-1",
            method="api",
            recorded_by="test",
            subscriptions=[SubscriptionChange(topic="newsletter", channel="email", status="subscribed")],
            unsubscribed_all={"sms": True},
            holds_start=[
                HoldRequest(
                    started_by="agent",
                    until=NOW + timedelta(days=7),
                    reason=f"Complaint from {ADDRESS}",
                )
            ],
        )
    contact.refresh_from_db()
    return contact


def test_erasure_records_the_stop_then_keeps_only_pseudonymous_proof(brand, everything, api):
    contact = everything
    pseudonym = erased_external_id(brand_id=brand.pk, contact_id=contact.pk, external_id="cust-1")
    assert rows_mentioning(ADDRESS)  # the scan sees the address before erasure

    with time_machine.travel(NOW + timedelta(hours=1), tick=False):
        report = contact_erase(brand=brand, contact=contact, requested_via="preference_centre")

    KEY = f"api_key:{api.api_key.prefix}"
    # The ledger proves the stop: one withdrawal for the one purpose still granted, written
    # before the data went; nothing before it changed, and every chain still verifies.
    assert ledger(contact) == [
        (1, "email-marketing", "granted", "api", KEY),
        (2, "analytics", "granted", "api", KEY),
        (3, "analytics", "withdrawn", "api", KEY),
        (4, "email-marketing", "withdrawn", "preference_centre", "erasure"),
    ]
    assert [event.sequence for event in report.withdrawn] == [4]
    assert dict(ConsentState.objects.filter(contact=contact).values_list("purpose__slug", "decision")) == {
        "email-marketing": "withdrawn",
        "analytics": "withdrawn",
    }
    assert ledger_verify(brand=brand).ok

    # Evidence keeps only whether GPC was on; salt and every personal field are gone.
    evidence = list(
        ConsentEvidence.objects.filter(event__contact=contact)
        .order_by("event__sequence")
        .values_list("salt", "ip", "user_agent", "page_url", "tc_string", "gpp_string", "gpc", "erased_at")
    )
    erased_at = NOW + timedelta(hours=1)
    blank = ("", "", "", "", "", "")
    assert evidence == [
        (*blank, False, erased_at),
        (*blank, False, erased_at),
        (*blank, None, erased_at),
        (*blank, None, erased_at),
    ]
    assert report.evidence_erased == 4

    # The contact is a pseudonymous shell that keeps its HMAC.
    contact.refresh_from_db()
    assert (contact.external_id, contact.email, contact.phone, contact.locale, contact.timezone) == (
        pseudonym,
        None,
        None,
        "",
        "",
    )
    assert (contact.jurisdiction, contact.email_hmac, contact.erased_at) == (
        "",
        email_hmac(ADDRESS),
        erased_at,
    )

    # Preferences are deleted: the ledger and the suppression entry honour the "no".
    assert Subscription.objects.filter(contact=contact).count() == 0
    assert ChannelOptOut.objects.filter(contact=contact).count() == 0
    assert Hold.objects.filter(contact=contact).count() == 0
    assert report.deleted == {
        "preferences.ChannelOptOut": 1,
        "preferences.Hold": 1,
        "preferences.Subscription": 2,  # email subscribed, sms unsubscribed by the opt-out
    }
    assert list(Suppression.objects.values_list("brand_id", "email_hmac", "reason", "created_at")) == [
        (brand.pk, email_hmac(ADDRESS), "erased", erased_at)
    ]
    assert report.suppression_created is True

    # The outbox names the pseudonym everywhere, except contact.erased, which tells every
    # destination which of their contacts to erase, and carries nothing else personal.
    feed = outbox(contact)
    assert [kind for _, kind, _, _ in feed] == [
        "contact.updated",  # the profile PUT gave the contact a phone number
        "consent.granted",
        "consent.granted",
        "consent.withdrawn",
        "preferences.updated",
        "contact.unsubscribed",
        "hold.started",
        "consent.withdrawn",
        "contact.erased",
    ]
    assert {(subject, named) for _, _, subject, named in feed[:-1]} == {(pseudonym, pseudonym)}
    erased = Event.objects.get(contact_ref=contact.pk, type="contact.erased")
    assert (erased.subject, erased.sequence) == ("cust-1", 9)
    assert erased.data == {
        "contact": "cust-1",
        "sequence": 9,
        "erased_at": "2026-11-22T11:00:00.000000Z",
        "requested_via": "preference_centre",
    }
    assert report.announcement == erased
    assert report.outbox_renamed == 8

    # The stored replay of the profile PUT held the address: it is gone too.
    assert not IdempotencyRecord.objects.filter(key="profile-1").exists()
    assert report.idempotency_records_deleted == 1

    # Nowhere in the database is the address left, in any case.
    assert rows_mentioning(ADDRESS) == []
    assert rows_mentioning("+4915123456789") == []
    assert rows_mentioning("203.0.113") == []

    # The old id is unknown now.
    assert api.get(CONTACT_URL.format("cust-1")).status_code == 404
    assert api.get(CONSENTS_URL.format("cust-1")).status_code == 404


def test_the_address_comes_back_suppressed_until_the_person_opts_in_again(
    brand, other_brand, contact, api, outsider_api, purpose, analytics, make_purpose
):
    contact_erase(brand=brand, contact=contact, requested_via="api")

    created = api.put(CONTACT_URL.format("cust-1"), {"email": " ADA@example.com"}, format="json")
    assert created.status_code == 201
    assert created.json()["suppressed"] is True
    assert api.get(CONTACT_URL.format("cust-1")).json()["suppressed"] is True
    again = Contact.objects.get(brand=brand, external_id="cust-1")
    assert again.pk != contact.pk  # a new contact with a new chain

    # The brand cannot opt the address in again, by any method; it writes nothing
    # (tests/preferences/test_suppression.py goes through every write route).
    for method in ("import", "api", "agent"):
        refused = grant(api, purpose, method=method)
        assert refused.status_code == 409
        assert refused.json()["type"] == "urn:candor:problem:suppressed"
    assert ConsentEvent.objects.filter(contact=again).count() == 0

    # A non-marketing purpose does not lift it.
    assert grant(api, analytics).status_code == 201
    assert api.get(CONTACT_URL.format("cust-1")).json()["suppressed"] is True

    # Another brand knows nothing of this brand's suppression list.
    outsider = outsider_api.put(CONTACT_URL.format("cust-1"), {"email": ADDRESS}, format="json")
    assert outsider.json()["suppressed"] is False

    # The person opts in to marketing by a confirmed double opt-in: the entry goes, in the same
    # transaction as the grant.
    version = current_version(purpose)
    consent_append(
        brand=brand,
        contact=Contact.objects.select_for_update().get(pk=again.pk),
        purpose=purpose,
        decision="granted",
        notice_version=version,
        method="preference_centre",
        recorded_by="hosted:confirm-link",
        occurred_at=timezone.now(),
        confirmed_opt_in=True,
    )
    assert api.get(CONTACT_URL.format("cust-1")).json()["suppressed"] is False
    assert Suppression.objects.count() == 0
    # … and a later re-import of the address is nothing special any more.
    assert contact_upsert(brand=brand, external_id="cust-2", email=ADDRESS)[0].suppressed is False


def test_an_older_confirmed_grant_arriving_late_does_not_lift_the_suppression(brand, contact, api, purpose):
    contact_erase(brand=brand, contact=contact, requested_via="api")
    with time_machine.travel(NOW, tick=False):
        api.put(CONTACT_URL.format("cust-1"), {"email": ADDRESS}, format="json")
        api.post(
            CONSENTS_URL.format("cust-1"), {"purpose": purpose.slug, "decision": "withdrawn"}, format="json"
        )
        with transaction.atomic():
            _event, moved = consent_append(
                brand=brand,
                contact=Contact.objects.select_for_update().get(external_id="cust-1"),
                purpose=purpose,
                decision="granted",
                notice_version=current_version(purpose),
                method="preference_centre",
                recorded_by="hosted:confirm-link",
                occurred_at=NOW - timedelta(days=1),
                confirmed_opt_in=True,
            )
    assert moved is False  # kept as evidence …
    assert Contact.objects.get(external_id="cust-1").suppressed is True  # … but not a fresh opt-in
    assert Suppression.objects.count() == 1


def test_changing_the_address_recomputes_the_suppression(brand, contact):
    contact_erase(brand=brand, contact=contact, requested_via="api")
    other, _ = contact_upsert(brand=brand, external_id="cust-2", email="grace@example.com")
    assert other.suppressed is False
    other, _ = contact_upsert(brand=brand, external_id="cust-2", email=ADDRESS)
    assert other.suppressed is True
    other, _ = contact_upsert(brand=brand, external_id="cust-2", email=None)
    assert other.suppressed is False


def test_other_live_contacts_with_the_address_read_suppressed(brand, other_brand, contact):
    twin, _ = contact_upsert(brand=brand, external_id="cust-2", email=ADDRESS)
    elsewhere, _ = contact_upsert(brand=other_brand, external_id="cust-1", email=ADDRESS)

    report = contact_erase(brand=brand, contact=contact, requested_via="api")

    assert report.other_contacts_suppressed == 1
    twin.refresh_from_db()
    elsewhere.refresh_from_db()
    assert (twin.suppressed, twin.email) == (True, ADDRESS)  # the caller decides whether to erase it too
    assert elsewhere.suppressed is False


def test_each_contact_newly_suppressed_is_announced_once(brand, contact):
    twin, _ = contact_upsert(brand=brand, external_id="cust-2", email=ADDRESS)
    sequence = Contact.objects.get(pk=twin.pk).event_sequence
    already, _ = contact_upsert(brand=brand, external_id="cust-3", email=ADDRESS)
    Contact.objects.filter(pk=already.pk).update(suppressed=True)
    unrelated, _ = contact_upsert(brand=brand, external_id="cust-4", email="grace@example.com")

    report = contact_erase(brand=brand, contact=contact, requested_via="api")

    assert report.other_contacts_suppressed == 2
    announced = Event.objects.filter(type="contact.updated").order_by("id")
    assert [(e.contact_ref, e.subject, e.sequence, e.data) for e in announced] == [
        (
            twin.pk,
            "cust-2",
            sequence + 1,
            {"contact": "cust-2", "sequence": sequence + 1, "changed": ["suppressed"]},
        )
    ]
    assert Contact.objects.get(pk=twin.pk).event_sequence == sequence + 1
    assert not Event.objects.filter(contact_ref__in=[already.pk, unrelated.pk]).exists()  # no change, none


def test_the_others_are_announced_again_when_the_person_lifts_the_suppression(brand, contact, purpose):
    twin, _ = contact_upsert(brand=brand, external_id="cust-2", email=ADDRESS)
    contact_erase(brand=brand, contact=contact, requested_via="api")
    again, _ = contact_upsert(brand=brand, external_id="cust-1", email=ADDRESS)
    suppressed_at = Contact.objects.get(pk=twin.pk).event_sequence

    consent_append(
        brand=brand,
        contact=Contact.objects.select_for_update().get(pk=again.pk),
        purpose=purpose,
        decision="granted",
        notice_version=current_version(purpose),
        method="preference_centre",
        recorded_by="hosted:confirm-link",
        occurred_at=timezone.now(),
        confirmed_opt_in=True,
    )

    assert Contact.objects.get(pk=twin.pk).suppressed is False
    announced = Event.objects.filter(type="contact.updated", contact_ref=twin.pk).order_by("id")
    assert [(e.sequence, e.data["changed"]) for e in announced] == [
        (suppressed_at, ["suppressed"]),  # the erasure's
        (suppressed_at + 1, ["suppressed"]),  # the lift's
    ]
    assert not Event.objects.filter(
        type="contact.updated", contact_ref=again.pk
    ).exists()  # its grant says it


def test_erasing_twice_changes_nothing_the_second_time(brand, contact):
    first = contact_erase(brand=brand, contact=contact, requested_via="api")
    counts = (ConsentEvent.objects.count(), Event.objects.count(), Suppression.objects.count())

    second = contact_erase(brand=brand, contact=first.contact, requested_via="api")

    assert second.already_erased is True
    assert (second.withdrawn, second.announcement) == ([], None)
    assert (ConsentEvent.objects.count(), Event.objects.count(), Suppression.objects.count()) == counts


def test_a_contact_of_another_brand_cannot_be_erased(brand, other_brand, contact):
    with pytest.raises(NotFound):
        contact_erase(brand=other_brand, contact=contact, requested_via="api")
    contact.refresh_from_db()
    assert contact.erased_at is None


def test_an_unknown_method_is_refused_before_anything_changes(brand, contact):
    with pytest.raises(Unprocessable):
        contact_erase(brand=brand, contact=contact, requested_via="carrier-pigeon")
    assert Contact.objects.get(pk=contact.pk).email == ADDRESS


def test_an_erased_contact_takes_no_more_writes(brand, contact, purpose, notice_version):
    report = contact_erase(brand=brand, contact=contact, requested_via="api")
    pseudonym = report.contact.external_id

    with pytest.raises(Conflict):
        consent_record(
            brand=brand,
            external_id=pseudonym,
            purpose_slug=purpose.slug,
            decision="granted",
            notice_version_id=notice_version.public_id,
            method="api",
            recorded_by="test",
        )
    with pytest.raises(Conflict):
        contact_upsert(brand=brand, external_id=pseudonym, email=ADDRESS)
    with pytest.raises(Conflict):
        preferences_update(brand=brand, external_id=pseudonym, method="api", recorded_by="test")
    assert ConsentEvent.objects.filter(contact=contact).count() == 0


def test_a_grant_dated_slightly_ahead_is_still_withdrawn(brand, contact, purpose, notice_version):
    with time_machine.travel(NOW, tick=False):
        consent_record(
            brand=brand,
            external_id="cust-1",
            purpose_slug=purpose.slug,
            decision="granted",
            notice_version_id=notice_version.public_id,
            method="api",
            recorded_by="test",
            occurred_at=NOW + timedelta(minutes=4),  # within the allowed clock skew
            evidence=EvidenceInput(ip="203.0.113.0"),
        )
        contact_erase(brand=brand, contact=contact, requested_via="api")
    state = ConsentState.objects.get(contact=contact)
    assert (state.decision, state.occurred_at) == ("withdrawn", NOW + timedelta(minutes=4))
    assert ledger_verify(brand=brand).ok


def test_an_external_id_that_is_an_address_is_not_kept_even_in_contact_erased(brand):
    contact, _ = contact_upsert(brand=brand, external_id="Ada@Example.com", email=ADDRESS)
    report = contact_erase(brand=brand, contact=contact, requested_via="api")
    assert report.announcement is not None
    assert report.announcement.subject == report.contact.external_id.lower() == report.contact.external_id
    assert rows_mentioning(ADDRESS) == []


def test_every_model_pointing_at_a_contact_is_either_kept_as_proof_or_erased(brand, contact):
    """A new model with a key to Contact is erased with it unless added to KEPT_ON_ERASURE; this
    list makes that choice visible in review."""
    pointing = {
        relation.related_model._meta.label
        for relation in Contact._meta.related_objects
        if not relation.many_to_many
    }
    kept = {model._meta.label for model in KEPT_ON_ERASURE}
    assert kept == {
        "consent.ConsentEvent",
        "consent.ConsentState",
        "consent.RightsRequest",
        "consent.EvidencePurge",
    }
    assert pointing - kept == {
        "preferences.ChannelOptOut",
        "preferences.InboundSms",
        "preferences.Hold",
        "preferences.PendingUnsubscribe",
        "preferences.StepUpCode",
        "preferences.Subscription",
        "quizzes.Answer",
        "quizzes.Response",
        "quizzes.Trait",
    }
    # A key declared with related_name="+" is hidden from related_objects, so erasure would pass
    # it by: only the console's rollup markers may be hidden (a contact's id, no personal data).
    hidden = {
        relation.related_model._meta.label
        for relation in Contact._meta.get_fields(include_hidden=True)
        if relation.is_relation and relation.auto_created and relation.hidden and not relation.many_to_many
    }
    assert hidden == {"console.CountedConsent", "console.CountedSubscription"}


def test_reading_current_consents_of_a_suppressed_contact_is_still_one_query(brand, contact, api, purpose):
    contact_erase(brand=brand, contact=contact, requested_via="api")
    api.put(CONTACT_URL.format("cust-1"), {"email": ADDRESS}, format="json")
    api.get(CONSENTS_URL.format("cust-1"))  # warm the key cache
    with CaptureQueriesContext(connection) as ctx:
        assert api.get(CONSENTS_URL.format("cust-1")).status_code == 200
    assert len(ctx.captured_queries) == 1


def test_staff_erase_from_the_admin(admin_client, brand, contact, purpose, notice_version):
    consent_record(
        brand=brand,
        external_id="cust-1",
        purpose_slug=purpose.slug,
        decision="granted",
        notice_version_id=notice_version.public_id,
        method="api",
        recorded_by="test",
    )
    response = admin_client.post(
        "/admin/consent/contact/", {"action": "erase", "_selected_action": [contact.pk]}, follow=True
    )
    assert response.status_code == 200
    contact.refresh_from_db()
    assert contact.erased_at is not None
    withdrawal = ConsentEvent.objects.filter(contact=contact).order_by("sequence").last()
    assert (withdrawal.decision, withdrawal.method, withdrawal.actor, withdrawal.recorded_by) == (
        "withdrawn",
        "agent",
        "agent:admin",
        "admin:admin",
    )


@pytest.mark.django_db(transaction=True)
def test_grants_racing_an_erasure_never_land_after_it(brand, contact, purpose, notice_version):
    """Twenty grants and one erasure at once: grants that got the lock first are withdrawn by the
    erasure; the others find no contact. Nothing lands after the erasure's withdrawal."""
    from tests.consent.test_concurrency import run_in_parallel

    def task(index: int) -> str:
        if index == 0:
            contact_erase(brand=brand, contact=contact, requested_via="api")
            return "erased"
        try:
            consent_record(
                brand=brand,
                external_id="cust-1",
                purpose_slug=purpose.slug,
                decision="granted",
                notice_version_id=notice_version.public_id,
                method="api",
                recorded_by="test",
            )
        except (Conflict, NotFound):
            return "refused"
        return "granted"

    outcomes = run_in_parallel(21, task)

    events = list(ConsentEvent.objects.filter(contact=contact).order_by("sequence"))
    assert len(events) == outcomes.count("granted") + (1 if "granted" in outcomes else 0)
    if events:
        assert (events[-1].decision, events[-1].recorded_by) == ("withdrawn", "erasure")
    assert not ConsentState.objects.filter(contact=contact, decision="granted").exists()
    assert ledger_verify(brand=brand).ok
    assert rows_mentioning(ADDRESS) == []
