"""Reads of brands and API keys."""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache

from brands.models import ApiKey, Brand


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
