"""Every read of contacts, purposes and the ledger. Each takes the brand: tenancy lives here."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from brands.models import Brand
from config.errors import NotFound
from consent.models import ConsentEvent, ConsentState, Contact, Decision, NoticeVersion, Purpose


def contact_get(*, brand: Brand, external_id: str) -> Contact:
    contact = Contact.objects.filter(brand=brand, external_id=external_id).first()
    if contact is None:
        raise NotFound(f"No contact '{external_id}'.")
    return contact


@dataclass(frozen=True)
class PurposeWithNotices:
    purpose: Purpose
    current_versions: list[NoticeVersion]  # newest version per language, default language first
    default_version: NoticeVersion | None


def purposes_list(*, brand: Brand) -> list[PurposeWithNotices]:
    versions = NoticeVersion.objects.order_by("language", "-version")
    purposes = (
        Purpose.objects.filter(brand=brand)
        .select_related("notice")
        .prefetch_related(Prefetch("notice__versions", queryset=versions))
        .order_by("slug")
    )
    result = []
    for purpose in purposes:
        current: dict[str, NoticeVersion] = {}
        for version in purpose.notice.versions.all():
            current.setdefault(version.language, version)
        ordered = sorted(current.values(), key=lambda v: (v.language != brand.default_language, v.language))
        default = current.get(brand.default_language) or (ordered[0] if ordered else None)
        result.append(PurposeWithNotices(purpose=purpose, current_versions=ordered, default_version=default))
    return result


@dataclass(frozen=True)
class CurrentConsent:
    state: ConsentState
    status: str  # granted | withdrawn | expired (pending arrives with double opt-in)

    @property
    def valid_for_processing(self) -> bool:
        return self.status == Decision.GRANTED


def consent_status(state: ConsentState, *, now: datetime) -> str:
    if state.decision == Decision.GRANTED and state.expires_at is not None and state.expires_at <= now:
        return "expired"
    return state.decision


def consents_current(*, contact: Contact) -> list[CurrentConsent]:
    """One query whatever the number of purposes or events."""
    now = timezone.now()
    states = (
        ConsentState.objects.filter(contact=contact)
        .select_related("purpose", "notice_version")
        .order_by("purpose__slug")
    )
    return [CurrentConsent(state=state, status=consent_status(state, now=now)) for state in states]


def consent_history(*, contact: Contact, after_sequence: int, limit: int) -> QuerySet[ConsentEvent]:
    return (
        ConsentEvent.objects.filter(contact=contact, sequence__gt=after_sequence)
        .select_related("purpose", "notice_version", "evidence")
        .order_by("sequence")[:limit]
    )


def consent_event_get(*, brand: Brand, event_id: str) -> ConsentEvent:
    try:
        key = uuid.UUID(event_id)
    except ValueError:
        raise NotFound(f"No consent event '{event_id}'.") from None
    event = (
        ConsentEvent.objects.filter(brand=brand, pk=key)
        .select_related("contact", "purpose", "notice_version", "brand")
        .first()
    )
    if event is None:
        raise NotFound(f"No consent event '{event_id}'.")
    return event
