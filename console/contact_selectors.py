"""Reads of the support desk, each scoped to one brand: finding a contact (by external id, or
by exact email through its HMAC, never a pattern), and a contact's file in a fixed number of
queries whatever the length of their history (the ledger in keyset pages, newest first)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Prefetch
from django.utils import timezone, translation

from brands.models import Brand
from consent.identifiers import email_hmac, normalise_email
from consent.models import ConsentEvent, Contact
from consent.selectors import CurrentConsent, consents_current
from console.contact_forms import LOOKUP_EMAIL
from preferences.labels import PROFILE_FIELDS, PROFILE_LABELS
from preferences.models import Hold, Topic
from preferences.regions import region_name
from preferences.selectors import Preferences, preferences_get

HISTORY_PAGE = 25
HOLDS_SHOWN = 50
# Several contacts of one brand may share an address; a lookup shows at most this many.
MATCHES_SHOWN = 20


def contacts_find(*, brand: Brand, by: str, value: str) -> list[Contact]:
    """The brand's contacts with exactly this external id, or this email address (matched by
    its HMAC, so no address is compared or listed); erased contacts are not found by address."""
    if by == LOOKUP_EMAIL:
        normalised = normalise_email(value)
        if not normalised:
            return []
        query = Contact.objects.filter(
            brand=brand, email_hmac=email_hmac(normalised), erased_at__isnull=True
        ).order_by("-updated_at", "-pk")
    else:
        query = Contact.objects.filter(brand=brand, external_id=value)
    return list(query[:MATCHES_SHOWN])


def contact_of(*, brand: Brand, contact_id: int) -> Contact | None:
    return Contact.objects.filter(brand=brand, pk=contact_id).first()


@dataclass(frozen=True)
class Fact:
    field: str
    label: Any
    value: str


@dataclass(frozen=True)
class ContactFile:
    contact: Contact
    facts: list[Fact]
    consents: list[CurrentConsent]
    preferences: Preferences
    holds: list[Hold]  # newest first, active and past
    history: list[ConsentEvent]  # newest first, one page
    older: int | None  # the `before` of the next page, None on the last

    @property
    def erased(self) -> bool:
        return self.contact.erased_at is not None


def _fact_value(contact: Contact, name: str) -> str:
    value = getattr(contact, name) or ""
    if name == "locale" and value:
        return str(dict(settings.LANGUAGES).get(value.split("-")[0].lower(), value))
    if name == "jurisdiction" and value:
        return str(region_name(value, translation.get_language() or settings.LANGUAGE_CODE))
    return str(value)


def contact_file(*, brand: Brand, contact: Contact, before: int | None = None) -> ContactFile:
    """What the support desk shows of one contact: what they told the brand (as the hosted page
    shows it), current consents, subscriptions, holds and one page of the ledger, newest first,
    before the sequence `before` (keyset: a deep page costs what the first does)."""
    if contact.brand_id != brand.pk:
        raise ValueError("contact_file reads one brand's contact")
    now = timezone.now()
    history_query = ConsentEvent.objects.filter(brand=brand, contact=contact)
    if before is not None:
        history_query = history_query.filter(sequence__lt=before)
    events = list(
        history_query.select_related("purpose", "notice_version").order_by("-sequence")[: HISTORY_PAGE + 1]
    )
    older = events[HISTORY_PAGE - 1].sequence if len(events) > HISTORY_PAGE else None
    holds = list(
        Hold.objects.filter(brand=brand, contact=contact)
        .prefetch_related(Prefetch("topics", queryset=Topic.objects.order_by("position", "slug")))
        .order_by("-created_at", "-pk")[:HOLDS_SHOWN]
    )
    return ContactFile(
        contact=contact,
        facts=[Fact(name, PROFILE_LABELS[name], _fact_value(contact, name)) for name in PROFILE_FIELDS],
        consents=consents_current(brand=brand, external_id=contact.external_id),
        preferences=preferences_get(brand=brand, contact=contact, now=now),
        holds=holds,
        history=events[:HISTORY_PAGE],
        older=older,
    )


def history_event_of(*, brand: Brand, contact: Contact, event_id: uuid.UUID) -> ConsentEvent | None:
    """One ledger event of this contact, with what its receipt names."""
    return (
        ConsentEvent.objects.filter(brand=brand, contact=contact, pk=event_id)
        .select_related("contact", "purpose", "notice_version", "brand", "evidence")
        .first()
    )
