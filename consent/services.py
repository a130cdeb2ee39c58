"""Every write to contacts, purposes, notices and the consent ledger."""

from __future__ import annotations

import calendar
import hashlib
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from brands.audit import Actor, AuditAction, audit_diff, audit_fields
from brands.models import Brand
from brands.services import audit_record
from config.db import select_many
from config.errors import Conflict, NotFound, Unprocessable
from config.services import UNSET, fields_update, model_clean
from consent import statements, validators
from consent.hooks import consent_stopped_run
from consent.identifiers import email_hmac
from consent.ledger import canonical_json, event_hash, evidence_digest, iso_utc
from consent.models import (
    DECISIONS_GIVEN,
    ConsentEvent,
    ConsentEvidence,
    ConsentState,
    ConsentType,
    Contact,
    Decision,
    LegalBasis,
    Method,
    Notice,
    NoticeVersion,
    Purpose,
    RightsRequest,
    RightsRequestKind,
    Suppression,
)
from consent.statements import CONTACT_ADDRESSES
from sync.models import EventType
from sync.outbox.events import event_build, event_record
from sync.outbox.listeners import contact_moved_announce

_PURPOSE_INVALID = "The purpose is not valid; see errors."
# What a purpose's audit entries show of it (brands.audit.AuditAction.PURPOSE_*).
PURPOSE_AUDITED = (
    "name",
    "description",
    "legal_basis",
    "consent_type",
    "lifetime_days",
    "dpv_purpose",
    "sale_or_sharing",
    "third_parties",
    "personal_data",
)


class Suppressed(Conflict):
    """A write that would opt a suppressed address (erased earlier) in to marketing again.

    Only the person's own confirmed double opt-in (a confirm link they POSTed) may do that."""

    code = "suppressed"
    title = "Address suppressed"


# --- Contacts ----------------------------------------------------------------------


_CONTACT_CHECKS: dict[str, Callable[[str], str]] = {
    "email": validators.email_address,
    "phone": validators.phone_e164,
    "locale": validators.locale_tag,
    "timezone": validators.time_zone,
    "jurisdiction": validators.jurisdiction_code,
}
_CONTACT_MAX_LENGTHS = {
    field.name: field.max_length
    for field in Contact._meta.concrete_fields
    if field.name in ("external_id", *_CONTACT_CHECKS)
}
_CLEARED_BY_NONE = ("email", "phone")  # empty or None stores NULL; other fields store ""


def _contact_fields_checked(*, external_id: str, given: dict[str, str | None]) -> dict[str, str | None]:
    """The contact's fields as they are stored (`given` maps model field names to what the
    caller sent), or Unprocessable naming every field that is wrong."""
    errors: dict[str, list[str]] = {}
    values: dict[str, str | None] = {}
    for name, raw in {"external_id": external_id, **given}.items():
        if not raw and name == "external_id":
            errors[name] = ["Give the contact's id."]
        elif not raw:  # clears the field
            values[name] = None if name in _CLEARED_BY_NONE else ""
        elif "\x00" in raw:
            errors[name] = [f"{name} must not contain NUL characters."]
        else:
            try:
                value = _CONTACT_CHECKS[name](raw) if name in _CONTACT_CHECKS else raw
            except ValueError as exc:
                errors[name] = [str(exc)]
                continue
            max_length = _CONTACT_MAX_LENGTHS[name]
            if max_length is not None and len(value) > max_length:
                errors[name] = [f"{name} must be at most {max_length} characters."]
            else:
                values[name] = value
    if errors:
        raise Unprocessable("The contact is not valid; see errors.", errors=errors)
    del values["external_id"]
    return values


def _contact_changes(*, external_id: str, given: dict[str, str | None]) -> dict[str, Any]:
    """The columns to store (checked, normalised, with the address's HMAC)."""
    changes: dict[str, Any] = _contact_fields_checked(external_id=external_id, given=given)
    if "email" in changes:
        changes["email_hmac"] = email_hmac(changes["email"]) if changes["email"] else None
    return changes


def _contact_upserted(
    *, brand: Brand, external_id: str, upserted: tuple[Contact, bool] | None
) -> tuple[Contact, bool]:
    if upserted is None:  # inserted by another transaction after the statement began
        found = Contact.objects.filter(brand=brand, external_id=external_id)
        if transaction.get_connection().in_atomic_block:
            found = found.select_for_update()
        contact, created = found.get(), False
    else:
        contact, created = upserted
    if contact.erased_at is not None:
        raise Conflict(f"Contact '{external_id}' was erased and cannot be changed.")
    contact.brand = brand
    return contact, created


def _contact_given(
    email: str | None, phone: str | None, locale: str, timezone_name: str, jurisdiction: str
) -> dict[str, str | None]:
    named = (
        ("email", email),
        ("phone", phone),
        ("locale", locale),
        ("timezone", timezone_name),
        ("jurisdiction", jurisdiction),
    )
    return {name: value for name, value in named if value is not UNSET}


def contact_upsert(
    *,
    brand: Brand,
    external_id: str,
    email: str | None = UNSET,
    phone: str | None = UNSET,
    locale: str = UNSET,
    timezone_name: str = UNSET,
    jurisdiction: str = UNSET,
) -> tuple[Contact, bool]:
    """Create the contact or change the fields given. `None` or "" clears email or phone.

    Every field is checked and stored normalised (`consent.validators`: email lower-cased, phone
    in E.164, locale with hyphens); anything wrong is an Unprocessable naming each bad field, and
    nothing is written. An address on the brand's suppression list (erased earlier) makes the
    contact `suppressed` until the person opts in to a marketing purpose again. An erased contact
    cannot be changed. `updated_at` moves only when a value changed.

    The write is one statement (consent.statements.contact_upsert), atomic by itself, so no
    transaction is opened for it: alone it costs one round trip. Inside a caller's transaction
    the contact stays locked until it ends, as a SELECT FOR UPDATE would leave it.
    """
    given = _contact_given(email, phone, locale, timezone_name, jurisdiction)
    changes = _contact_changes(external_id=external_id, given=given)
    proposed = Contact(brand=brand, external_id=external_id, **changes)
    upserted, _ = statements.contact_upsert(contact=proposed, given=tuple(changes))
    contact, created = _contact_upserted(brand=brand, external_id=external_id, upserted=upserted)
    if _address_differs(contact, changes):
        contact = _contact_address_change(brand=brand, proposed=proposed, changes=changes)
    return contact, created


def _address_differs(contact: Contact, changes: dict[str, Any]) -> bool:
    """The upsert left an existing contact alone because its address would change."""
    return any(name in changes and getattr(contact, name) != changes[name] for name in CONTACT_ADDRESSES)


@transaction.atomic(savepoint=False)
def _contact_address_change(*, brand: Brand, proposed: Contact, changes: dict[str, Any]) -> Contact:
    """Change a contact's address (and whatever else was given) under its lock, and announce it
    in the same transaction: `contact.updated` naming the fields that changed (`email`,
    `phone`), never their values. Webhooks, the feed and the connectors learn of it at once, so a
    vendor holding the former address is brought in step (a Mailchimp member moves with it), and
    the listeners hear which addresses were left (contact_moved_announce: a vendor that knows a
    record only by its address). Four round trips and the COMMIT: the lock with the change, the
    event, the listeners' (delivery's: the brand's connectors, and a notice for Klaviyo's)."""
    before, contact = statements.contact_address_change(contact=proposed, given=tuple(changes))
    *addresses, event_sequence, former_email, former_phone = before
    changed = [
        _ADDRESS_NAMES[name]
        for name, was in zip(CONTACT_ADDRESSES, addresses, strict=True)
        if was != getattr(contact, name)
    ]
    contact.brand = brand
    if changed:
        contact.event_sequence = event_sequence + 1
        statements.contact_event_append(
            event=event_build(
                brand=brand,
                type=EventType.CONTACT_UPDATED,
                contact_ref=contact.pk,
                subject=contact.external_id,
                sequence=contact.event_sequence,
                data={"changed": changed},
                occurred_at=timezone.now(),
            )
        )
        # A vendor that knows a record only by its address must hear which ones were left.
        contact_moved_announce(
            brand_id=brand.pk,
            contact_ref=contact.pk,
            email=former_email if "email" in changed else None,
            phone=former_phone if "phone" in changed else None,
        )
    return contact


_ADDRESS_NAMES = {"email_hmac": "email", "phone": "phone"}  # as the API names them


@transaction.atomic(savepoint=False)  # a sign-up is all or nothing: no partial rollback to keep
def contact_upsert_and_decide(
    *,
    brand: Brand,
    external_id: str,
    decisions: Sequence[ConsentDecision],
    method: str,
    recorded_by: str,
    occurred_at: datetime,
    now: datetime,
    actor: str = "subject",
    evidence: EvidenceInput | None = None,
    email: str | None = UNSET,
    phone: str | None = UNSET,
    locale: str = UNSET,
    timezone_name: str = UNSET,
    jurisdiction: str = UNSET,
) -> tuple[Contact, bool, list[ConsentEvent]]:
    """`contact_upsert`, then `consents_append` for the contact it locked, in one transaction:
    a sign-up's contact and decisions. The purposes and notice versions the decisions name are
    read in the upsert's round trip. A refusal names the part: `contact.email`,
    `consents.1.notice_version`. The caller has checked that `occurred_at` is not in the future."""
    if method not in Method.values:
        raise Unprocessable.for_field("method", f"Unknown method '{method}'.")
    given = _contact_given(email, phone, locale, timezone_name, jurisdiction)
    try:
        changes = _contact_changes(external_id=external_id, given=given)
    except Unprocessable as exc:
        if exc.errors and set(exc.errors) == {"external_id"}:
            raise
        raise exc.under("contact") from None
    lookup = (
        statements.decisions_lookup(
            brand_id=brand.pk,
            purpose_slugs=sorted({d.purpose for d in decisions}),
            notice_version_ids=sorted({d.notice_version for d in decisions if d.notice_version}),
        )
        if decisions
        else []
    )
    proposed = Contact(brand=brand, external_id=external_id, **changes)
    upserted, found = statements.contact_upsert(contact=proposed, given=tuple(changes), also=lookup)
    contact, created = _contact_upserted(brand=brand, external_id=external_id, upserted=upserted)
    if _address_differs(contact, changes):
        contact = _contact_address_change(brand=brand, proposed=proposed, changes=changes)
    events = consents_append(
        brand=brand,
        contact=contact,
        decisions=decisions,
        found=statements.decisions_found(*found) if decisions else ({}, {}),
        method=method,
        recorded_by=recorded_by,
        actor=actor,
        occurred_at=occurred_at,
        now=now,
        evidence=evidence,
    )
    return contact, created, events


# --- Purposes and notices ----------------------------------------------------------------


@transaction.atomic
def purpose_create(
    *,
    brand: Brand,
    actor: Actor,
    slug: str,
    name: str,
    description: str = "",
    legal_basis: str = LegalBasis.CONSENT,
    consent_type: str = ConsentType.EXPRESS,
    lifetime_days: int | None = None,
    dpv_purpose: str | None = None,
    sale_or_sharing: bool = False,
    third_parties: list[str] | None = None,
    personal_data: list[str] | None = None,
) -> Purpose:
    """`third_parties` (names) and `personal_data` (DPV categories) appear on its receipts."""
    purpose = Purpose(
        brand=brand,
        slug=slug,
        name=name,
        description=description,
        legal_basis=legal_basis,
        consent_type=consent_type,
        lifetime_days=lifetime_days,
        sale_or_sharing=sale_or_sharing,
        third_parties=list(third_parties or []),
        personal_data=list(personal_data or []),
    )
    if dpv_purpose:
        purpose.dpv_purpose = dpv_purpose
    model_clean(purpose, invalid=_PURPOSE_INVALID)
    purpose.save()
    Notice.objects.create(brand=brand, purpose=purpose)
    audit_record(
        brand=brand,
        actor=actor,
        action=AuditAction.PURPOSE_CREATED,
        target_type="purpose",
        target_id=purpose.slug,
        after={"slug": purpose.slug, **audit_fields(purpose, PURPOSE_AUDITED)},
    )
    return purpose


@transaction.atomic
def purpose_update(
    *,
    purpose: Purpose,
    actor: Actor,
    name: str = UNSET,
    description: str = UNSET,
    legal_basis: str = UNSET,
    consent_type: str = UNSET,
    lifetime_days: int | None = UNSET,
    dpv_purpose: str = UNSET,
    sale_or_sharing: bool = UNSET,
    third_parties: list[str] = UNSET,
    personal_data: list[str] = UNSET,
) -> Purpose:
    """Change the fields given. The brand and slug stay: they name the purpose in every ledger
    row and API client. Decisions already recorded keep what they were recorded with."""
    locked = Purpose.objects.select_for_update().get(pk=purpose.pk)
    given = {
        "name": name,
        "description": description,
        "legal_basis": legal_basis,
        "consent_type": consent_type,
        "lifetime_days": lifetime_days,
        "dpv_purpose": dpv_purpose,
        "sale_or_sharing": sale_or_sharing,
        "third_parties": third_parties,
        "personal_data": personal_data,
    }
    before = audit_fields(locked, PURPOSE_AUDITED)
    updated = fields_update(locked, given, invalid=_PURPOSE_INVALID)
    changed_before, changed_after = audit_diff(before, audit_fields(updated, PURPOSE_AUDITED))
    if changed_after:
        audit_record(
            brand=updated.brand,
            actor=actor,
            action=AuditAction.PURPOSE_UPDATED,
            target_type="purpose",
            target_id=updated.slug,
            before=changed_before,
            after=changed_after,
        )
    return updated


def notice_content_hash(*, language: str, title: str, text: str) -> str:
    return hashlib.sha256(canonical_json({"language": language, "title": title, "text": text})).hexdigest()


def notice_languages() -> list[str]:
    """The languages a notice may be written in: those the hosted pages speak."""
    return [code for code, _name in settings.LANGUAGES]


_NOTICE_TITLE_MAX = NoticeVersion._meta.get_field("title").max_length or 200


def _notice_text_checked(*, language: str, title: str, text: str) -> None:
    errors: dict[str, list[str]] = {}
    if language not in notice_languages():
        errors["language"] = [f"Use one of the supported languages: {', '.join(notice_languages())}."]
    for name, value in (("title", title), ("text", text)):
        if not value.strip():
            errors[name] = [f"Give the notice's {name}."]
        elif "\x00" in value:
            errors[name] = [f"{name} must not contain NUL characters."]
    if len(title) > _NOTICE_TITLE_MAX:
        errors["title"] = [f"title must be at most {_NOTICE_TITLE_MAX} characters."]
    if errors:
        raise Unprocessable("The notice is not valid; see errors.", errors=errors)


@transaction.atomic
def notice_version_publish(
    *, purpose: Purpose, actor: Actor, language: str, title: str, text: str
) -> NoticeVersion:
    """Publish new notice text in one language. Earlier versions stay as they were."""
    _notice_text_checked(language=language, title=title, text=text)
    notice = Notice.objects.select_for_update().get(purpose=purpose)
    previous = notice.versions.filter(language=language).order_by("-version").first()
    version = NoticeVersion.objects.create(
        notice=notice,
        version=(previous.version if previous else 0) + 1,
        language=language,
        title=title,
        text=text,
        content_hash=notice_content_hash(language=language, title=title, text=text),
        published_at=timezone.now(),
    )
    audit_record(
        brand=purpose.brand,
        actor=actor,
        action=AuditAction.NOTICE_VERSION_PUBLISHED,
        target_type="purpose",
        target_id=purpose.slug,
        before=None
        if previous is None
        else {
            "notice_version": previous.public_id,
            "version": previous.version,
            "content_hash": previous.content_hash,
        },
        after={
            "notice_version": version.public_id,
            "language": language,
            "version": version.version,
            "title": title,
            "content_hash": version.content_hash,
        },
    )
    return version


@transaction.atomic
def notice_text_set(
    *, purpose: Purpose, actor: Actor, language: str, title: str, text: str
) -> tuple[NoticeVersion, bool]:
    """The notice in `language` says this: its current version when it already does (False),
    otherwise a new version published now (True). Applying the same text twice publishes once,
    so a brand's configuration can be applied again and again."""
    _notice_text_checked(language=language, title=title, text=text)
    Notice.objects.select_for_update().filter(purpose=purpose).first()  # one publisher at a time
    current = (
        NoticeVersion.objects.filter(notice__purpose=purpose, language=language).order_by("-version").first()
    )
    if current is not None and current.content_hash == notice_content_hash(
        language=language, title=title, text=text
    ):
        return current, False
    published = notice_version_publish(
        purpose=purpose, actor=actor, language=language, title=title, text=text
    )
    return published, True


# --- The ledger --------------------------------------------------------------------------


@dataclass(frozen=True)
class EvidenceInput:
    ip: str = ""  # already truncated
    user_agent: str = ""
    page_url: str = ""
    gpc: bool | None = None
    tc_string: str = ""
    gpp_string: str = ""
    phone: str = ""  # E.164: the number consent to texts covers, or a text reply came from
    message: dict[str, str] | None = None  # an inbound message that expressed the decision
    # Double opt-in proof, on a grant a confirmation records: the sign-up request's (truncated)
    # IP and user agent, and {requested_at, confirmation_email} (preferences.services).
    opt_in_request_ip: str = ""
    opt_in_request_user_agent: str = ""
    opt_in_request: dict[str, Any] | None = None


class ImpliedBasis:
    PURCHASE = "purchase"  # CASL: 2 years from a purchase or contract
    INQUIRY = "inquiry"  # CASL: 6 months from an inquiry
    CHOICES = (PURCHASE, INQUIRY)


def _add_months(value: datetime, months: int) -> datetime:
    month_index = value.month - 1 + months
    year, month = value.year + month_index // 12, month_index % 12 + 1
    day = min(value.day, calendar.monthrange(year, month)[1])
    return value.replace(year=year, month=month, day=day)


def _expiry(
    *, purpose: Purpose, decision: str, occurred_at: datetime, implied_basis: str | None
) -> datetime | None:
    if decision != Decision.GRANTED:
        return None
    if purpose.lifetime_days:
        return occurred_at + timedelta(days=purpose.lifetime_days)
    if purpose.consent_type == ConsentType.IMPLIED:
        if implied_basis == ImpliedBasis.PURCHASE:
            return _add_months(occurred_at, 24)
        if implied_basis == ImpliedBasis.INQUIRY:
            return _add_months(occurred_at, 6)
        raise Unprocessable.for_field(
            "implied_basis",
            f"Purpose '{purpose.slug}' rests on implied consent: say whether it comes from a "
            f"'purchase' or an 'inquiry'.",
        )
    return None  # express consent does not expire by itself


def _check_purpose_and_notice(
    *,
    brand: Brand,
    purpose_slug: str,
    notice_version_id: str | None,
    decision: str,
    purpose: Purpose | None,
    notice_version: NoticeVersion | None,
) -> Purpose:
    """The purpose the decision is about, or a 422 naming the field that is wrong."""
    if notice_version_id:
        if purpose is None or notice_version is None:
            raise Unprocessable.for_field("notice_version", f"Unknown notice version '{notice_version_id}'.")
        if purpose.slug == purpose_slug:
            return purpose
        if not statements.purpose_exists(brand_id=brand.pk, slug=purpose_slug):
            raise Unprocessable.for_field("purpose", f"Unknown purpose '{purpose_slug}'.")
        raise Unprocessable.for_field(
            "notice_version", f"Notice version '{notice_version_id}' belongs to another purpose."
        )
    if decision == Decision.GRANTED:
        raise Unprocessable.for_field(
            "notice_version", "A grant must name the notice version the person was shown."
        )
    if purpose is None:
        raise Unprocessable.for_field("purpose", f"Unknown purpose '{purpose_slug}'.")
    return purpose


@transaction.atomic
def consent_record(
    *,
    brand: Brand,
    external_id: str,
    purpose_slug: str,
    decision: str,
    notice_version_id: str | None,
    method: str,
    recorded_by: str,
    actor: str = "subject",
    occurred_at: datetime | None = None,
    evidence: EvidenceInput | None = None,
    implied_basis: str | None = None,
    jurisdiction: str | None = None,
) -> ConsentEvent:
    """Append one decision to the contact's chain, update the projection, write the outbox Event.

    All of it commits together or not at all. The contact's row lock serialises writes
    for one contact; writes for different contacts never wait on each other.
    """
    if decision not in DECISIONS_GIVEN:
        raise Unprocessable.for_field("decision", "decision must be 'granted' or 'withdrawn'.")
    if method not in Method.values:
        raise Unprocessable.for_field("method", f"Unknown method '{method}'.")
    now = timezone.now()
    occurred_at = occurred_at or now
    if occurred_at > now + timedelta(seconds=settings.CONSENT_CLOCK_SKEW_SECONDS):
        raise Unprocessable.for_field("occurred_at", "occurred_at lies in the future.")

    contact, found_purpose, notice_version = statements.chain_lock(
        brand_id=brand.pk,
        external_id=external_id,
        purpose_slug=purpose_slug,
        notice_version_id=notice_version_id,
    )
    if contact is None:
        raise NotFound(f"No contact '{external_id}'.")
    if contact.erased_at is not None:
        raise Conflict(f"Contact '{external_id}' was erased; its ledger is closed.")
    purpose = _check_purpose_and_notice(
        brand=brand,
        purpose_slug=purpose_slug,
        notice_version_id=notice_version_id,
        decision=decision,
        purpose=found_purpose,
        notice_version=notice_version,
    )
    event, _moved = consent_append(
        brand=brand,
        contact=contact,
        purpose=purpose,
        decision=decision,
        notice_version=notice_version,
        method=method,
        recorded_by=recorded_by,
        actor=actor,
        occurred_at=occurred_at,
        now=now,
        evidence=evidence,
        implied_basis=implied_basis,
        jurisdiction=jurisdiction,
    )
    return event


@dataclass(frozen=True)
class ConsentDecision:
    """One decision of several recorded together (`consents_append`)."""

    purpose: str
    decision: str
    notice_version: str | None = None  # public id; required for a grant
    implied_basis: str | None = None
    jurisdiction: str | None = None


def consents_append(
    *,
    brand: Brand,
    contact: Contact,
    decisions: Sequence[ConsentDecision],
    method: str,
    recorded_by: str,
    occurred_at: datetime,
    now: datetime,
    actor: str = "subject",
    evidence: EvidenceInput | None = None,
    found: tuple[dict[str, Purpose], dict[str, tuple[NoticeVersion, int]]] | None = None,
    field: str = "consents",
) -> list[ConsentEvent]:
    """Append several decisions to the chain of a contact the caller has locked in this
    transaction (and checked: not erased; `occurred_at` not in the future), one `consent_append`
    each, with the checks `consent_record` makes. Their purposes and notice versions are read
    in one round trip, unless the caller read them already (`found`, from
    `statements.decisions_found`). A refusal names the decision: `consents.1.notice_version`."""
    if method not in Method.values:
        raise Unprocessable.for_field("method", f"Unknown method '{method}'.")
    if not decisions:
        return []
    if found is None:
        lookup = statements.decisions_lookup(
            brand_id=brand.pk,
            purpose_slugs=sorted({d.purpose for d in decisions}),
            notice_version_ids=sorted({d.notice_version for d in decisions if d.notice_version}),
        )
        found = statements.decisions_found(*select_many(lookup))
    purposes, versions = found
    purposes_by_id = {purpose.pk: purpose for purpose in purposes.values()}
    events = []
    for index, given in enumerate(decisions):
        try:
            if given.decision not in DECISIONS_GIVEN:
                raise Unprocessable.for_field("decision", "decision must be 'granted' or 'withdrawn'.")
            named = versions.get(given.notice_version or "")
            version = named[0] if named else None
            of_decision = purposes_by_id.get(named[1]) if named else purposes.get(given.purpose)
            purpose = _check_purpose_and_notice(
                brand=brand,
                purpose_slug=given.purpose,
                notice_version_id=given.notice_version,
                decision=given.decision,
                purpose=of_decision,
                notice_version=version if of_decision else None,
            )
            event, _moved = consent_append(
                brand=brand,
                contact=contact,
                purpose=purpose,
                decision=given.decision,
                notice_version=version,
                method=method,
                recorded_by=recorded_by,
                actor=actor,
                occurred_at=occurred_at,
                now=now,
                evidence=evidence,
                implied_basis=given.implied_basis,
                jurisdiction=given.jurisdiction,
            )
        except Unprocessable as exc:
            raise exc.under(f"{field}.{index}") from None
        events.append(event)
    return events


_EVENT_TYPES: dict[str, EventType] = {
    Decision.GRANTED: EventType.CONSENT_GRANTED,
    Decision.WITHDRAWN: EventType.CONSENT_WITHDRAWN,
    Decision.EXPIRED: EventType.CONSENT_EXPIRED,
}


def consent_append(
    *,
    brand: Brand,
    contact: Contact,
    purpose: Purpose,
    decision: str,
    notice_version: NoticeVersion | None,
    method: str,
    recorded_by: str,
    occurred_at: datetime,
    actor: str = "subject",
    now: datetime | None = None,
    evidence: EvidenceInput | None = None,
    implied_basis: str | None = None,
    jurisdiction: str | None = None,
    confirmed_opt_in: bool = False,
) -> tuple[ConsentEvent, bool]:
    """Append one decision to a chain whose contact the caller has already locked: the event,
    its evidence, the projection, the outbox Event (if the projection moved) and the chain head.
    Returns the event and whether the projection moved.

    For `consent_record`, and for services that hold the contact's lock for a larger change
    (preferences), so the contact is locked and read once. The caller has checked what
    `consent_record` checks first: a known decision and method, an `occurred_at` not in the
    future, a contact not erased, and a notice version (required for a grant) of this purpose.
    `contact` carries its chain head, outbox sequence, `suppressed` and `jurisdiction` as read
    under the lock; they move here too, so the caller can append again.

    A grant of a marketing purpose for a `suppressed` contact is refused (Suppressed) unless
    `confirmed_opt_in`: the person confirmed a double opt-in by the link emailed to them, the
    one write that lifts a suppression. No brand-side write (API, import, agent, admin) may.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("consent_append runs inside the transaction that locked the contact.")
    now = now or timezone.now()
    if implied_basis is not None and purpose.consent_type != ConsentType.IMPLIED:
        raise Unprocessable.for_field(
            "implied_basis", f"Purpose '{purpose.slug}' does not rest on implied consent."
        )
    expires_at = _expiry(
        purpose=purpose, decision=decision, occurred_at=occurred_at, implied_basis=implied_basis
    )
    lifts_suppression = contact.suppressed and decision == Decision.GRANTED and purpose.is_marketing
    if lifts_suppression and not confirmed_opt_in:
        raise suppressed_error(contact.external_id)

    evidence = evidence or EvidenceInput()
    evidence_row = ConsentEvidence(
        salt=secrets.token_hex(16),
        ip=evidence.ip,
        user_agent=evidence.user_agent,
        page_url=evidence.page_url,
        gpc=evidence.gpc,
        tc_string=evidence.tc_string,
        gpp_string=evidence.gpp_string,
        phone=evidence.phone,
        message=evidence.message,
        opt_in_request_ip=evidence.opt_in_request_ip,
        opt_in_request_user_agent=evidence.opt_in_request_user_agent,
        opt_in_request=evidence.opt_in_request,
    )
    event = ConsentEvent(
        brand=brand,
        contact=contact,
        sequence=contact.ledger_sequence + 1,
        purpose=purpose,
        decision=decision,
        notice_version=notice_version,
        consent_type=purpose.consent_type,
        method=method,
        actor=actor,
        recorded_by=recorded_by,
        jurisdiction=jurisdiction
        if jurisdiction is not None
        else (contact.jurisdiction or brand.jurisdiction),
        occurred_at=occurred_at,
        recorded_at=now,
        expires_at=expires_at,
        evidence_digest=evidence_digest(evidence_row),
        prev_hash=contact.ledger_head,
    )
    event.hash = event_hash(
        event,
        notice_hash=notice_version.content_hash if notice_version else None,
        purpose_slug=purpose.slug,
    )
    evidence_row.event = event
    announcement = event_build(
        brand=brand,
        type=_EVENT_TYPES[decision],
        contact_ref=contact.pk,
        subject=contact.external_id,
        sequence=contact.event_sequence + 1,
        data={
            "purpose": purpose.slug,
            "state": decision,
            "valid_for_processing": decision == Decision.GRANTED,
            "event_id": str(event.id),
            "notice_version": notice_version.public_id if notice_version else None,
            "occurred_at": iso_utc(occurred_at),
            "expires_at": iso_utc(expires_at),
        },
        occurred_at=occurred_at,
    )
    # The event, its evidence, the projection, the outbox (if the projection moved) and the
    # chain head: one statement on PostgreSQL.
    moved = statements.ledger_append(
        contact=contact, event=event, evidence=evidence_row, announcement=announcement, now=now
    )
    contact.ledger_sequence, contact.ledger_head = event.sequence, event.hash
    contact.event_sequence += moved
    if moved and decision in (Decision.WITHDRAWN, Decision.EXPIRED):
        # What other apps keep under the purpose must stop too (quizzes: traits.forgotten).
        consent_stopped_run(
            brand=brand, contact=contact, purpose=purpose, decision=decision, occurred_at=occurred_at
        )
    if lifts_suppression and moved:  # a late, older grant is evidence, not a fresh opt-in
        _suppression_lift(brand=brand, contact=contact)
    return event, moved


def suppressed_error(external_id: str) -> Suppressed:
    return Suppressed(
        f"Contact '{external_id}' has an address that was erased earlier and is suppressed for "
        f"marketing: only the person can opt in again, by confirming a double opt-in email sent "
        f"from the preference centre."
    )


def _suppression_lift(*, brand: Brand, contact: Contact) -> None:
    """The person opted in to marketing again: their address leaves the suppression list, and
    every live contact of the brand with it stops reading suppressed (the others announced:
    others_suppression_set). The caller holds the lock."""
    hmac_value = Contact.objects.filter(pk=contact.pk).values_list("email_hmac", flat=True).get()
    Contact.objects.filter(pk=contact.pk).update(suppressed=False)
    if hmac_value is not None:
        Suppression.objects.filter(brand=brand, email_hmac=hmac_value).delete()
        others_suppression_set(brand=brand, contact=contact, email_hmac=hmac_value, suppressed=False)
    contact.suppressed = False


def others_suppression_set(*, brand: Brand, contact: Contact, email_hmac: str, suppressed: bool) -> int:
    """The brand's other live contacts with `contact`'s address (a household, a duplicate) read
    `suppressed` from now on (an erasure put the address on the suppression list, or its person
    took it off). Each one that changes is locked, changed and announced (`contact.updated`,
    `changed: ["suppressed"]`, at its own next sequence), so webhooks and connectors stop or
    resume marketing to it at once, not at their next resync. How many read it now."""
    others = list(
        Contact.objects.select_for_update()
        .filter(brand=brand, email_hmac=email_hmac, erased_at__isnull=True)
        .exclude(pk=contact.pk)
        .order_by("pk")
    )
    now = timezone.now()
    for other in others:
        if other.suppressed == suppressed:
            continue
        other.suppressed = suppressed
        other.event_sequence += 1
        other.save(update_fields=["suppressed", "event_sequence", "updated_at"])
        event_record(
            brand=brand,
            type=EventType.CONTACT_UPDATED,
            contact_ref=other.pk,
            subject=other.external_id,
            sequence=other.event_sequence,
            data={"changed": ["suppressed"]},
            occurred_at=now,
        )
    return len(others)


# --- Expiry ------------------------------------------------------------------------------------

EXPIRY_RECORDED_BY = "worker:consent-expiry"
EXPIRY_ACTOR = "candor"


def consents_expire(*, now: datetime | None = None, batch_size: int = 500) -> int:
    """Record every grant past its `expires_at` as expired: one `expired` ledger event (method
    `expiry`, dated when the grant ran out), which moves the projection and writes one
    `consent.expired` outbox event for the feed and the webhooks.

    For the periodic task. Each contact is done in its own transaction under its row lock and
    re-read there, so a run that races another (or a retry) finds the state already expired
    and writes nothing: every expiry is recorded exactly once. One batch per run; returns how
    many grants it expired.
    """
    now = now or timezone.now()
    due = list(
        ConsentState.objects.filter(decision=Decision.GRANTED, expires_at__lte=now)
        .order_by("expires_at", "pk")
        .values_list("contact_id", flat=True)[:batch_size]
    )
    return sum(_consents_expire_for(contact_id=contact_id, now=now) for contact_id in dict.fromkeys(due))


@transaction.atomic
def _consents_expire_for(*, contact_id: int, now: datetime) -> int:
    contact = Contact.objects.select_for_update().select_related("brand").get(pk=contact_id)
    if contact.erased_at is not None:
        return 0  # erasure withdrew what was granted; its ledger is closed
    states = (
        ConsentState.objects.filter(contact=contact, decision=Decision.GRANTED, expires_at__lte=now)
        .select_related("purpose")
        .order_by("expires_at", "purpose__slug")
    )
    expired = 0
    for state in states:
        assert state.expires_at is not None
        consent_append(
            brand=contact.brand,
            contact=contact,
            purpose=state.purpose,
            decision=Decision.EXPIRED,
            notice_version=None,
            method=Method.EXPIRY,
            recorded_by=EXPIRY_RECORDED_BY,
            actor=EXPIRY_ACTOR,
            occurred_at=state.expires_at,
            now=now,
        )
        expired += 1
    return expired


# --- Access and erasure requests ---------------------------------------------------------------

REASON_MAX_LENGTH = RightsRequest._meta.get_field("reason").max_length or 500


def rights_request_reason_checked(reason: str | None, *, required: bool) -> str:
    """The reason as stored (trimmed), or Unprocessable naming the field `reason`."""
    reason = (reason or "").strip()
    if required and not reason:
        raise Unprocessable.for_field(
            "reason", "Say why: the request's reference or channel (not the person's data)."
        )
    if "\x00" in reason:
        raise Unprocessable.for_field("reason", "reason must not contain NUL characters.")
    if len(reason) > REASON_MAX_LENGTH:
        raise Unprocessable.for_field("reason", f"reason must be at most {REASON_MAX_LENGTH} characters.")
    return reason


def rights_request_append(
    *, brand: Brand, contact: Contact, kind: str, requested_via: str, actor: str, reason: str = ""
) -> RightsRequest:
    """Record a request that is being carried out, in the caller's transaction (the erasure's,
    or the access request's own)."""
    if kind not in RightsRequestKind.values:
        raise Unprocessable.for_field("kind", f"Unknown request kind '{kind}'.")
    if requested_via not in Method.values:
        raise Unprocessable.for_field("requested_via", f"Unknown method '{requested_via}'.")
    return RightsRequest.objects.create(
        brand=brand,
        contact=contact,
        kind=kind,
        requested_via=requested_via,
        actor=actor,
        reason=rights_request_reason_checked(reason, required=False),
        requested_at=timezone.now(),
    )


@transaction.atomic
def access_request_record(
    *, brand: Brand, contact: Contact, requested_via: str, actor: str, reason: str = ""
) -> RightsRequest:
    """An access request (GDPR Art. 15, 20) is answered: who asked, how and why."""
    if contact.brand_id != brand.pk:
        raise NotFound(f"No contact '{contact.external_id}'.")
    return rights_request_append(
        brand=brand,
        contact=contact,
        kind=RightsRequestKind.ACCESS,
        requested_via=requested_via,
        actor=actor,
        reason=reason,
    )
