"""Which language a hosted page or email speaks: the contact's own, else the browser's, else the
brand's default, each narrowed to a language Candor has translations for (settings.LANGUAGES)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django.utils import translation

from brands.models import Brand
from consent.models import Contact

MAX_ACCEPT_LANGUAGE = 20  # entries of Accept-Language looked at


def _supported(tag: str) -> str | None:
    tag = tag.strip().replace("_", "-").lower()
    if not tag or tag == "*" or len(tag) > 35:
        return None
    try:
        return translation.get_supported_language_variant(tag)
    except LookupError:
        return None


def accept_language(header: str) -> list[str]:
    """The tags of an Accept-Language header, most preferred first (q=0 means "not this")."""
    weighted: list[tuple[float, int, str]] = []
    for index, item in enumerate(header.split(",")[:MAX_ACCEPT_LANGUAGE]):
        tag, _, params = item.partition(";")
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                continue
        if quality > 0 and tag.strip():
            weighted.append((-quality, index, tag.strip()))
    return [tag for _, _, tag in sorted(weighted)]


def language_for(*, brand: Brand, contact: Contact | None = None, request: HttpRequest | None = None) -> str:
    return language_pick(
        locale=contact.locale if contact is not None else "",
        request=request,
        default_language=brand.default_language,
    )


def language_pick(*, locale: str, request: HttpRequest | None, default_language: str) -> str:
    """`language_for` from the bare values: a contact's locale, the request, a brand's default."""
    candidates: list[str] = []
    if locale:
        candidates.append(locale)
    if request is not None:
        candidates.extend(accept_language(request.headers.get("Accept-Language", "")))
    candidates.append(default_language)
    for candidate in candidates:
        supported = _supported(candidate)
        if supported is not None:
            return supported
    return str(settings.LANGUAGE_CODE)
