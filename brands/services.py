from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from brands.models import ApiKey, Brand, Scope, hash_api_key
from brands.selectors import api_key_forget
from config.errors import Unprocessable

KEY_PREFIX = "cnd_"


@dataclass(frozen=True)
class IssuedKey:
    api_key: ApiKey
    raw_key: str  # shown once, never stored


@transaction.atomic
def brand_create(
    *, slug: str, name: str, default_language: str = "en", jurisdiction: str = "EU"
) -> tuple[Brand, bool]:
    brand, created = Brand.objects.get_or_create(
        slug=slug,
        defaults={"name": name, "default_language": default_language, "jurisdiction": jurisdiction},
    )
    if created:
        brand.full_clean()
    return brand, created


def _validate_scopes(scopes: list[str]) -> list[str]:
    valid = set(Scope.values)
    unknown = sorted(set(scopes) - valid)
    if unknown or not scopes:
        raise Unprocessable.for_field(
            "scopes", f"Unknown or missing scopes {unknown}; choose from {sorted(valid)}."
        )
    return sorted(set(scopes))


@transaction.atomic
def api_key_create(*, brand: Brand, scopes: list[str], name: str = "") -> IssuedKey:
    public = secrets.token_hex(4)
    raw_key = f"{KEY_PREFIX}{public}_{secrets.token_urlsafe(32)}"
    api_key = ApiKey.objects.create(
        brand=brand,
        name=name,
        prefix=f"{KEY_PREFIX}{public}",
        key_hash=hash_api_key(raw_key),
        scopes=_validate_scopes(scopes),
    )
    return IssuedKey(api_key=api_key, raw_key=raw_key)


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey) -> None:
    ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    transaction.on_commit(lambda: api_key_forget(key_hash=api_key.key_hash))
