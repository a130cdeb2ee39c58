"""Traits, and the consent gate they pass before they leave Candor.

A trait is a dated statement derived from an answer (quizzes.models.Trait); the latest per
(contact, key) stands, and one without a value (kind `deleted`) says the key no longer holds.
A trait reaches webhooks, the changes feed and the API only while the contact's consent for the
trait's purpose is granted and valid for processing (not withdrawn, not past its expiry).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime
from typing import Any

from django.db.models import Q

from brands.models import Brand
from consent.models import ConsentState, Decision
from quizzes.document import Question as DocumentQuestion
from quizzes.models import StatementKind, Trait


def traits_of(question: DocumentQuestion, value: Any) -> dict[str, Any]:
    """The traits an answer sets: the chosen options' trait effects (choice questions), or the
    answer itself under the question's `trait` (scale and text questions)."""
    if value is None:
        return {}
    found: dict[str, Any] = {}
    if question.kind in ("single", "multiple"):
        chosen = {value} if question.kind == "single" else set(value)
        for option in question.options:
            if option.id in chosen:
                found.update(option.effects.traits)
    elif question.trait and question.kind in ("scale", "text"):
        found[question.trait] = value
    return found


def purposes_valid(*, brand: Brand, contact_id: int, purpose_ids: Collection[int], now: datetime) -> set[int]:
    """Of `purpose_ids`, those the contact's consent currently covers: granted and not expired
    (one query; none when there is nothing to ask about)."""
    if not purpose_ids:
        return set()
    return set(
        ConsentState.objects.filter(
            brand=brand, contact_id=contact_id, purpose_id__in=purpose_ids, decision=Decision.GRANTED
        )
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .values_list("purpose_id", flat=True)
    )


def traits_current(*, brand: Brand, contact_id: int, now: datetime) -> list[Trait]:
    """The traits that stand for the contact, by key, with their purposes: the latest statement
    per key, unless it deleted the key or has expired. One query."""
    latest = (
        Trait.objects.filter(brand=brand, contact_id=contact_id)
        .select_related("purpose")
        .order_by("key", "-recorded_at", "-id")
        .distinct("key")
    )
    return [
        trait
        for trait in latest
        if trait.kind != StatementKind.DELETED
        and trait.value is not None
        and (trait.expires_at is None or trait.expires_at > now)
    ]


def traits_shared(*, brand: Brand, contact_id: int, now: datetime) -> list[Trait]:
    """The current traits whose purpose the contact's consent covers: what may leave Candor."""
    current = traits_current(brand=brand, contact_id=contact_id, now=now)
    valid = purposes_valid(
        brand=brand, contact_id=contact_id, purpose_ids={t.purpose_id for t in current}, now=now
    )
    return [trait for trait in current if trait.purpose_id in valid]


def traits_gated(traits: Iterable[Trait], valid: Collection[int]) -> dict[str, Any]:
    """`{key: value}` of the traits whose purpose is in `valid` (later ones win a shared key)."""
    return {trait.key: trait.value for trait in traits if trait.purpose_id in valid}
