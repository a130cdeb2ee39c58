from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from brands.models import ApiKey, Brand, Membership, Scope, hash_api_key
from brands.selectors import api_key_forget
from config.errors import Unprocessable
from config.services import fields_update, model_clean

KEY_PREFIX = "cnd_"


@dataclass(frozen=True)
class IssuedKey:
    api_key: ApiKey
    raw_key: str  # shown once, never stored


_BRAND_INVALID = "The brand is not valid; see errors."


def _language_checked(language: str) -> None:
    """A brand speaks first in a language the hosted pages and notices support."""
    supported = [code for code, _name in settings.LANGUAGES]
    if language not in supported:
        raise Unprocessable.for_field(
            "default_language", f"Use one of the supported languages: {', '.join(supported)}."
        )


@transaction.atomic
def brand_create(
    *, slug: str, name: str, default_language: str = "en", jurisdiction: str = "EU"
) -> tuple[Brand, bool]:
    """The brand with this slug: made now (True) or as it was (False)."""
    _language_checked(default_language)
    brand, created = Brand.objects.get_or_create(
        slug=slug,
        defaults={"name": name, "default_language": default_language, "jurisdiction": jurisdiction},
    )
    if created:
        model_clean(brand, invalid=_BRAND_INVALID)  # raising rolls the row back
    return brand, created


@transaction.atomic
def brand_update(*, brand: Brand, **fields: Any) -> Brand:
    """Change the fields given (name, languages, contact details, colours…). The slug stays: it
    names the brand in every link and receipt already sent."""
    if "slug" in fields or "config_stamp" in fields:
        raise Unprocessable.for_field("slug", "A brand's slug cannot change.")
    if "default_language" in fields:
        _language_checked(fields["default_language"])
    locked = Brand.objects.select_for_update().get(pk=brand.pk)
    updated = fields_update(locked, fields, invalid=_BRAND_INVALID)
    # API keys are cached with their brand: the next request reads the brand as it is now.
    key_hashes = list(ApiKey.objects.filter(brand=locked).values_list("key_hash", flat=True))

    def forget() -> None:
        for key_hash in key_hashes:
            api_key_forget(key_hash=key_hash)

    transaction.on_commit(forget)
    return updated


@transaction.atomic
def membership_set(*, user: Any, brand: Brand, role: str) -> Membership:
    """Give `user` this role in `brand` (a new membership, or the role of the one there)."""
    membership, _ = Membership.objects.select_for_update().get_or_create(
        user=user, brand=brand, defaults={"role": role}
    )
    return fields_update(membership, {"role": role}, invalid="The membership is not valid; see errors.")


@transaction.atomic
def membership_remove(*, membership: Membership) -> None:
    Membership.objects.filter(pk=membership.pk).delete()


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
