"""Reads of brands, API keys and the audit log."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import Q

from brands.models import ApiKey, AuditEntry, Brand


def _cache_key(key_hash: str) -> str:
    return f"apikey:{key_hash}"


def api_key_active(*, key_hash: str) -> ApiKey | None:
    """The unrevoked key with this hash, with its brand.

    Every API request starts here, so the answer is cached for API_KEY_CACHE_SECONDS: a shared
    cache (Redis in production) makes a revocation count at once everywhere, because revoking
    deletes the entry; with the per-process development cache other processes notice within
    that many seconds.
    """
    cached = cache.get(_cache_key(key_hash))
    if cached is not None:
        return cached if isinstance(cached, ApiKey) else None
    api_key = (
        ApiKey.objects.select_related("brand").filter(key_hash=key_hash, revoked_at__isnull=True).first()
    )
    # Unknown keys are cached too (as False), so guessing does not cost a query per try.
    cache.set(_cache_key(key_hash), api_key or False, settings.API_KEY_CACHE_SECONDS)
    return api_key


def api_key_remember(*, api_key: ApiKey) -> None:
    cache.set(_cache_key(api_key.key_hash), api_key, settings.API_KEY_CACHE_SECONDS)


def api_key_forget(*, key_hash: str) -> None:
    cache.delete(_cache_key(key_hash))


def brand_get(*, brand_id: int) -> Brand:
    """The brand as stored now (an API key's brand is the one cached with the key)."""
    return Brand.objects.get(pk=brand_id)


# --- The audit log -----------------------------------------------------------------------


@dataclass(frozen=True)
class AuditPosition:
    """Where a page of a brand's audit log ends: the last entry's time (microseconds since the
    epoch, so a cursor carries it exactly) and id. The next page starts after it."""

    at_us: int
    id: int

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditPosition:
        delta = entry.at - EPOCH
        return cls(at_us=(delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds, id=entry.id)

    @property
    def at(self) -> datetime:
        return EPOCH + timedelta(microseconds=self.at_us)


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    next: AuditPosition | None  # None: this was the last page


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def audit_entries_list(
    *,
    brand: Brand,
    actions: Collection[str] = (),
    target_type: str | None = None,
    target_id: str | None = None,
    actor_kind: str | None = None,
    actor_ref: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after: AuditPosition | None = None,
    limit: int = 100,
) -> AuditPage:
    """One page of the brand's audit log, newest first, after `after` (a keyset: each page is
    one index range scan of audit_brand_newest, or of audit_brand_target for one target's
    history, however deep). `since` is inclusive, `until` exclusive."""
    entries = AuditEntry.objects.filter(brand=brand)
    if actions:
        entries = entries.filter(action__in=list(actions))
    if target_type is not None:
        entries = entries.filter(target_type=target_type)
    if target_id is not None:
        entries = entries.filter(target_id=target_id)
    if actor_kind is not None:
        entries = entries.filter(actor_kind=actor_kind)
    if actor_ref is not None:
        entries = entries.filter(actor_ref=actor_ref)
    if since is not None:
        entries = entries.filter(at__gte=since)
    if until is not None:
        entries = entries.filter(at__lt=until)
    if after is not None:
        entries = entries.filter(Q(at__lt=after.at) | Q(at=after.at, id__lt=after.id))
    rows = list(entries.order_by("-at", "-id")[: limit + 1])
    page = rows[:limit]
    return AuditPage(entries=page, next=AuditPosition.of(page[-1]) if len(rows) > limit else None)
