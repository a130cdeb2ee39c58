"""Erasure of one contact (GDPR Art. 17), keeping only what proof needs (Art. 17(3)(b), (e)).

One transaction under the contact's row lock, in this order:

1. The stop goes into the ledger first: a `withdrawn` ConsentEvent (method `requested_via`) for
   every purpose whose current decision is a grant, while the contact is still whole.
2. The address goes on the brand's suppression list as its HMAC pseudonym only, and other live
   contacts of the brand with the same address read `suppressed`: each gets a `contact.updated`
   event (`changed: ["suppressed"]`), so webhooks and connectors stop marketing to it at once.
3. Every row that points at the contact is deleted (subscriptions, channel opt-outs, holds,
   and whatever later apps hang on a contact, e.g. quiz answers), except the ledger
   (ConsentEvent) and its projection (ConsentState), which are proof.
4. Every evidence row of the contact loses its personal fields and its salt and is marked
   erased (the only change the database allows on evidence, consent/migrations/0006); the
   events keep their evidence digests, so every chain still verifies, and `ledger_verify`
   checks that erased evidence holds nothing and was erased at the contact's `erased_at`.
5. The contact becomes a pseudonymous shell: email, phone, locale, time zone and jurisdiction
   cleared, `email_hmac` kept (proof that survives erasure), and the brand's external id
   replaced by `erased-<keyed hash>`: the old id answers 404 and is free for a new contact, which
   reads suppressed for marketing if it comes back with the same address.
6. Copies of the old external id and address elsewhere go too: earlier outbox Events name the
   pseudonym instead, and so do the copies the outbox's readers keep, which they rewrite in this
   transaction when told (sync.outbox.listeners.contact_erased_announce: webhook deliveries also
   lose email and phone, and their attempts the receivers' answers); stored Idempotency-Key
   replies that show the contact are deleted, and admin log entries name the pseudonym.
7. One `contact.erased` outbox Event, with no personal data: it names the old external id
   (destinations need it to erase their copy, Art. 17(2) and 19) unless that id is itself an
   email address, in which case it names the pseudonym.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.apps import apps
from django.db import transaction
from django.db.models import Model, Q, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from brands.models import Brand, IdempotencyRecord
from config.errors import NotFound, Unprocessable
from consent import statements
from consent.identifiers import erased_external_id
from consent.ledger import iso_utc
from consent.models import (
    ConsentEvent,
    ConsentEvidence,
    ConsentState,
    Contact,
    Decision,
    EvidencePurge,
    Method,
    RightsRequest,
    RightsRequestKind,
    Suppression,
    SuppressionReason,
)
from consent.services import (
    consent_record,
    others_suppression_set,
    rights_request_append,
    rights_request_reason_checked,
)
from sync.models import Event, EventType
from sync.outbox.events import event_build
from sync.outbox.listeners import contact_erased_announce

# Rows that point at a contact and survive its erasure: the ledger and its projection are the
# proof of every decision (they hold no personal data; their evidence is cleared below). The
# record of the erasure request itself (and earlier access requests) is kept too, and retention
# purge records account for evidence erased earlier (append-only, nothing personal).
KEPT_ON_ERASURE: frozenset[type[Model]] = frozenset(
    {ConsentEvent, ConsentState, RightsRequest, EvidencePurge}
)


@dataclass
class ErasureReport:
    contact: Contact  # the pseudonymous shell
    already_erased: bool = False
    withdrawn: list[ConsentEvent] = field(default_factory=list)
    suppression_created: bool = False
    other_contacts_suppressed: int = 0  # live contacts of the brand with the same address
    deleted: dict[str, int] = field(default_factory=dict)  # model label -> rows
    evidence_erased: int = 0
    outbox_renamed: int = 0
    # Copies of the contact's events that readers of the outbox keep (webhook deliveries),
    # rewritten by them in this transaction (sync.outbox.listeners.contact_erased_announce).
    deliveries_rewritten: int = 0
    idempotency_records_deleted: int = 0
    announcement: Event | None = None  # the contact.erased outbox Event
    request: RightsRequest | None = None  # the erasure request, as recorded


@transaction.atomic
def contact_erase(
    *,
    brand: Brand,
    contact: Contact,
    requested_via: str,
    recorded_by: str = "erasure",
    actor: str = "subject",
    reason: str = "",
) -> ErasureReport:
    """Erase the contact's personal data; keep the ledger and a suppression entry, pseudonymous.

    `requested_via` is the ledger method of the request (`preference_centre`, `api`, `agent`…).
    Erasing an erased contact changes nothing and says so (`already_erased`). The request is
    recorded (RightsRequest: `actor`, `reason`) in the same transaction.
    """
    if requested_via not in Method.values:
        raise Unprocessable.for_field("requested_via", f"Unknown method '{requested_via}'.")
    reason = rights_request_reason_checked(reason, required=False)
    locked = Contact.objects.select_for_update().filter(pk=contact.pk, brand=brand).first()
    if locked is None:
        raise NotFound(f"No contact '{contact.external_id}'.")
    if locked.erased_at is not None:
        return ErasureReport(contact=locked, already_erased=True)

    now = timezone.now()
    old_external_id, email, email_hmac = locked.external_id, locked.email, locked.email_hmac
    phone = locked.phone
    report = ErasureReport(contact=locked)
    report.request = rights_request_append(
        brand=brand,
        contact=locked,
        kind=RightsRequestKind.ERASURE,
        requested_via=requested_via,
        actor=actor,
        reason=reason,
    )
    report.withdrawn = _withdraw_granted(
        brand=brand, contact=locked, method=requested_via, recorded_by=recorded_by, actor=actor
    )
    if email_hmac:
        _, report.suppression_created = Suppression.objects.get_or_create(
            brand=brand,
            email_hmac=email_hmac,
            defaults={"reason": SuppressionReason.ERASED, "created_at": now},
        )
        report.other_contacts_suppressed = others_suppression_set(
            brand=brand, contact=locked, email_hmac=email_hmac, suppressed=True
        )
    report.deleted = _delete_related(locked)
    report.evidence_erased = ConsentEvidence.objects.filter(event__contact=locked).update(
        **ConsentEvidence.ERASED_VALUES, erased_at=now
    )

    pseudonym = erased_external_id(brand_id=brand.pk, contact_id=locked.pk, external_id=old_external_id)
    locked.external_id = pseudonym
    locked.email = locked.phone = None
    locked.locale = locked.timezone = locked.jurisdiction = ""
    locked.suppressed = False
    locked.erased_at = now
    locked.save(
        update_fields=[
            "external_id",
            "email",
            "phone",
            "locale",
            "timezone",
            "jurisdiction",
            "suppressed",
            "erased_at",
            "updated_at",
        ]
    )

    report.outbox_renamed = _rename_in_outbox(brand=brand, contact=locked, pseudonym=pseudonym)
    report.deliveries_rewritten = contact_erased_announce(
        brand_id=brand.pk, contact_ref=locked.pk, pseudonym=pseudonym, email=email, phone=phone
    )
    report.idempotency_records_deleted = _forget_replies(
        brand=brand, external_id=old_external_id, email=email
    )
    _rename_in_admin_log(contact=locked, pseudonym=pseudonym)
    report.announcement = _announce(
        brand=brand,
        contact=locked,
        subject=pseudonym if "@" in old_external_id else old_external_id,
        erased_at=now,
        requested_via=requested_via,
    )
    return report


def _withdraw_granted(
    *, brand: Brand, contact: Contact, method: str, recorded_by: str, actor: str
) -> list[ConsentEvent]:
    """A withdrawal for every purpose whose current decision is a grant (expired ones too: the
    ledger then says plainly that it stopped). Never earlier than the grant, so it supersedes."""
    states = (
        ConsentState.objects.filter(contact=contact, decision=Decision.GRANTED)
        .select_related("purpose")
        .order_by("purpose__slug")
    )
    events = []
    for state in states:
        events.append(
            consent_record(
                brand=brand,
                external_id=contact.external_id,
                purpose_slug=state.purpose.slug,
                decision=Decision.WITHDRAWN,
                notice_version_id=None,
                method=method,
                recorded_by=recorded_by,
                actor=actor,
                occurred_at=max(timezone.now(), state.occurred_at),
            )
        )
    return events


def _delete_related(contact: Contact) -> dict[str, int]:
    """Delete every row of every model that points at the contact, except the kept ledger."""
    deleted: dict[str, int] = {}
    relations: list[tuple[type[Model], str]] = []
    for relation in Contact._meta.related_objects:
        model = relation.related_model
        if relation.many_to_many or not isinstance(model, type) or model in KEPT_ON_ERASURE:
            continue
        relations.append((model, relation.field.name))
    for model, field_name in sorted(relations, key=lambda item: (item[0]._meta.label, item[1])):
        _, per_model = model._default_manager.filter(**{field_name: contact}).delete()
        for label, count in per_model.items():
            if count:
                deleted[label] = deleted.get(label, 0) + count
    return deleted


def _rename_in_outbox(*, brand: Brand, contact: Contact, pseudonym: str) -> int:
    """Earlier outbox Events named the contact by its old external id; they now name the
    pseudonym (the changes feed keeps its order and sequence numbers)."""
    events = list(Event.objects.filter(brand=brand, contact_ref=contact.pk))
    for event in events:
        event.subject = pseudonym
        if isinstance(event.data, dict) and "contact" in event.data:
            event.data["contact"] = pseudonym
    Event.objects.bulk_update(events, ["subject", "data"], batch_size=500)
    return len(events)


def _mentions(value: Any, *, external_id: str, email: str | None) -> bool:
    if isinstance(value, str):
        return value == external_id or (email is not None and email in value.lower())
    if isinstance(value, dict):
        return any(_mentions(item, external_id=external_id, email=email) for item in value.values())
    if isinstance(value, list):
        return any(_mentions(item, external_id=external_id, email=email) for item in value)
    return False


def _forget_replies(*, brand: Brand, external_id: str, email: str | None) -> int:
    """Stored Idempotency-Key replies are copies of API answers (a contact's PUT reply holds its
    address). Delete the brand's replies that show the contact: a retry with such a key then
    runs afresh instead of replaying erased data."""
    needles = {external_id, *([email] if email else [])}
    needles |= {json.dumps(needle)[1:-1] for needle in needles}  # as escaped in stored JSON text
    text_match = Q()
    for needle in needles:
        text_match |= Q(body__icontains=needle)
    candidates = (
        IdempotencyRecord.objects.filter(brand=brand)
        .annotate(body=Cast("response_body", TextField()))
        .filter(text_match)
    )
    doomed = [
        record.pk
        for record in candidates
        if _mentions(record.response_body, external_id=external_id, email=email)
    ]
    if doomed:
        IdempotencyRecord.objects.filter(pk__in=doomed).delete()
    return len(doomed)


def _rename_in_admin_log(*, contact: Contact, pseudonym: str) -> None:
    """The admin's history shows a contact by its str(), the external id."""
    if not apps.is_installed("django.contrib.admin"):
        return
    from django.contrib.admin.models import LogEntry
    from django.contrib.contenttypes.models import ContentType

    LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Contact), object_id=str(contact.pk)
    ).update(object_repr=pseudonym)


def _announce(
    *, brand: Brand, contact: Contact, subject: str, erased_at: datetime, requested_via: str
) -> Event:
    sequence = Contact.objects.filter(pk=contact.pk).values_list("event_sequence", flat=True).get() + 1
    event = event_build(
        brand=brand,
        type=EventType.CONTACT_ERASED,
        contact_ref=contact.pk,
        subject=subject,
        sequence=sequence,
        data={"erased_at": iso_utc(erased_at), "requested_via": requested_via},
        occurred_at=erased_at,
    )
    statements.contact_event_append(event=event)
    contact.event_sequence = sequence
    return event
