"""Every read of contacts, purposes and the ledger. Each takes the brand: tenancy lives here."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from brands.models import Brand
from config.errors import NotFound
from consent.models import (
    ConsentEvent,
    ConsentState,
    Contact,
    Decision,
    LedgerCheckpoint,
    NoticeVersion,
    Purpose,
)


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
    return [
        purpose_with_notices(brand=brand, purpose=purpose, versions=purpose.notice.versions.all())
        for purpose in purposes
    ]


def purpose_with_notices(
    *, brand: Brand, purpose: Purpose, versions: Iterable[NoticeVersion]
) -> PurposeWithNotices:
    """`versions`: every version of the purpose's notice, by language, newest version first."""
    current: dict[str, NoticeVersion] = {}
    for version in versions:
        current.setdefault(version.language, version)
    ordered = sorted(current.values(), key=lambda v: (v.language != brand.default_language, v.language))
    default = current.get(brand.default_language) or (ordered[0] if ordered else None)
    return PurposeWithNotices(purpose=purpose, current_versions=ordered, default_version=default)


def purpose_get(*, brand: Brand, slug: str) -> Purpose:
    purpose = Purpose.objects.filter(brand=brand, slug=slug).first()
    if purpose is None:
        raise NotFound(f"No purpose '{slug}'.")
    return purpose


def purpose_exists(*, brand: Brand, slug: str) -> bool:
    return Purpose.objects.filter(brand=brand, slug=slug).exists()


def purpose_config_get(*, brand: Brand, slug: str) -> PurposeWithNotices:
    """One purpose with its current notice version per language."""
    purpose = purpose_get(brand=brand, slug=slug)
    versions = NoticeVersion.objects.filter(notice__purpose=purpose).order_by("language", "-version")
    return purpose_with_notices(brand=brand, purpose=purpose, versions=versions)


def notice_versions_list(*, purpose: Purpose) -> list[NoticeVersion]:
    """Every version of the purpose's notice, by language, oldest first."""
    return list(NoticeVersion.objects.filter(notice__purpose=purpose).order_by("language", "version"))


@dataclass(frozen=True)
class CurrentConsent:
    purpose: str
    state: str  # granted | withdrawn | expired (pending arrives with double opt-in)
    notice_version: str | None
    event_id: uuid.UUID
    occurred_at: datetime
    updated_at: datetime
    expires_at: datetime | None

    @property
    def valid_for_processing(self) -> bool:
        return self.state == Decision.GRANTED


def consent_status(*, decision: str, expires_at: datetime | None, now: datetime) -> str:
    if decision == Decision.GRANTED and expires_at is not None and expires_at <= now:
        return "expired"
    return decision


# The hottest read of the API, so it is one hand-written statement: the contact and its states
# joined (a contact without states yields one row of NULLs, an unknown contact none). Building
# the same query through the ORM costs about three times the CPU of running it.
_CURRENT_SQL = f"""
    SELECT p.slug, s.decision, nv.public_id, s.event_id, s.occurred_at, s.updated_at, s.expires_at
    FROM {Contact._meta.db_table} c
    LEFT JOIN {ConsentState._meta.db_table} s ON s.contact_id = c.id
    LEFT JOIN {Purpose._meta.db_table} p ON p.id = s.purpose_id
    LEFT JOIN {NoticeVersion._meta.db_table} nv ON nv.id = s.notice_version_id
    WHERE c.brand_id = %s AND c.external_id = %s
    ORDER BY p.slug
"""  # noqa: S608 (table names come from the models; values are parameters)


def consents_current(*, brand: Brand, external_id: str) -> list[CurrentConsent]:
    """The current state per purpose, in one query whatever the number of purposes or events."""
    with connection.cursor() as cursor:
        cursor.execute(_CURRENT_SQL, [brand.pk, external_id])
        rows = cursor.fetchall()
    if not rows:
        raise NotFound(f"No contact '{external_id}'.")
    now = timezone.now()
    result = []
    for slug, decision, version, event_id, occurred_at, updated_at, expires_at in rows:
        if slug is None:
            continue  # the contact exists and has no consent state yet
        result.append(
            CurrentConsent(
                purpose=slug,
                state=consent_status(decision=decision, expires_at=expires_at, now=now),
                notice_version=version,
                event_id=event_id,
                occurred_at=occurred_at,
                updated_at=updated_at,
                expires_at=expires_at,
            )
        )
    return result


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
        .select_related("contact", "purpose", "notice_version", "brand", "evidence")
        .first()
    )
    if event is None:
        raise NotFound(f"No consent event '{event_id}'.")
    return event


def checkpoints_list(*, brand: Brand, before_number: int | None, limit: int) -> list[LedgerCheckpoint]:
    """The brand's signed checkpoints, newest first (the leaves stay in the database)."""
    checkpoints = LedgerCheckpoint.objects.filter(brand=brand).defer("leaves").order_by("-number")
    if before_number is not None:
        checkpoints = checkpoints.filter(number__lt=before_number)
    return list(checkpoints[:limit])


def checkpoint_latest(*, brand: Brand) -> LedgerCheckpoint:
    checkpoint = LedgerCheckpoint.objects.filter(brand=brand).defer("leaves").order_by("-number").first()
    if checkpoint is None:
        raise NotFound("No ledger checkpoint has been signed for this brand yet.")
    return checkpoint
