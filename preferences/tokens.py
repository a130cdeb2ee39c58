"""Signed, purpose-bound link tokens: `manage`, `unsubscribe` and `confirm`.

A token is Django's signing (`TimestampSigner.sign_object`) with "." as the separator, so it is
URL-safe as it is::

    <base64 JSON [brand, contact, topic, channel]>.<issued, base 62>.<HMAC-SHA256>

- The salt is per kind (`candor.link.<kind>`): an unsubscribe token is not a manage token with
  another letter, it simply does not verify as one.
- Signed with SECRET_KEY and checked against SECRET_KEY_FALLBACKS too (Django does both), so a
  rotated secret keeps its links working for as long as it stays a fallback.
- Ids are internal (pseudonymous) ids; trailing empty fields are left out (`[3,1234]` for a
  manage link). Lifetimes are settings (LINK_MANAGE_DAYS, LINK_UNSUBSCRIBE_DAYS) and 72 hours for
  `confirm`, counted from `issued` when the token is read, so shortening a lifetime applies to
  links already sent. The age is checked here rather than by `unsign(max_age=…)`: an expired link
  is still authentic, and its page needs to know whose it is.

Links in the earlier home-made format (`1.<kid>.<kind>.…`) are still read until the last of them
expires; see `_legacy_read`.

Tokens never reach the logs: `fingerprint()` gives a short hash to log instead.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core import signing
from django.utils import timezone

from brands.models import Brand
from consent.models import Contact
from preferences.models import Channel, Topic

SEPARATOR = "."
CLOCK_SKEW = timedelta(minutes=5)
CONFIRM_LIFETIME = timedelta(hours=72)
MAX_TOKEN_LENGTH = 200


class LinkKind(StrEnum):
    MANAGE = "manage"
    UNSUBSCRIBE = "unsubscribe"
    CONFIRM = "confirm"


_CHANNELS = frozenset(Channel.values)


class TokenInvalid(Exception):
    """Forged, tampered, malformed, of another kind, or signed by a secret no longer configured."""


class TokenExpired(Exception):
    """Authentic, but older than its kind's lifetime. Carries what it says, for the expired page."""

    def __init__(self, token: LinkToken) -> None:
        super().__init__("link expired")
        self.token = token


@dataclass(frozen=True)
class LinkToken:
    kind: LinkKind
    brand_id: int
    contact_id: int
    topic_id: int | None
    channel: str | None
    issued_at: datetime


def lifetime(kind: LinkKind) -> timedelta:
    if kind == LinkKind.MANAGE:
        return timedelta(days=settings.LINK_MANAGE_DAYS)
    if kind == LinkKind.UNSUBSCRIBE:
        return timedelta(days=settings.LINK_UNSUBSCRIBE_DAYS)
    return CONFIRM_LIFETIME


def fingerprint(token: str) -> str:
    """What to log instead of a token: 12 hex characters of its SHA-256."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()[:12]


class _LinkSigner(signing.TimestampSigner):
    """Django's TimestampSigner with a salt per kind, dated `issued` (Unix seconds) when given."""

    def __init__(self, kind: LinkKind, issued: int | None = None) -> None:
        super().__init__(salt=f"candor.link.{kind.value}", sep=SEPARATOR)
        self.issued = issued

    def timestamp(self) -> str:
        return signing.b62_encode(self.issued) if self.issued is not None else super().timestamp()


# --- Issue and read --------------------------------------------------------------------------


def token_issue(
    *,
    kind: LinkKind | str,
    brand: Brand,
    contact: Contact,
    topic: Topic | None = None,
    channel: str | None = None,
    now: datetime | None = None,
) -> str:
    kind = LinkKind(kind)
    if contact.brand_id != brand.pk or (topic is not None and topic.brand_id != brand.pk):
        raise ValueError("The contact and topic must belong to the brand.")
    if channel is not None and channel not in _CHANNELS:
        raise ValueError(f"Unknown channel {channel!r}.")
    payload: list[Any] = [brand.pk, contact.pk, topic.pk if topic is not None else None, channel]
    while payload[-1] is None:
        payload.pop()
    issued = int((now or timezone.now()).timestamp())
    return _LinkSigner(kind, issued).sign_object(payload)


def token_read(token: str, *, kind: LinkKind | str, now: datetime | None = None) -> LinkToken:
    """The token's claims if it is an authentic, unexpired token of `kind`.

    Raises TokenInvalid for anything not signed by us as this kind, TokenExpired for an
    authentic token past its lifetime. Every check happens before any database access.
    """
    kind = LinkKind(kind)
    if not token or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        raise TokenInvalid("length or characters")
    claims = _legacy_read(token, kind) if token.startswith(_LEGACY_PREFIX) else _read(token, kind)
    now = now or timezone.now()
    if claims.issued_at > now + CLOCK_SKEW:
        raise TokenInvalid("issued in the future")
    if claims.issued_at + lifetime(kind) < now:
        raise TokenExpired(claims)
    return claims


def _read(token: str, kind: LinkKind) -> LinkToken:
    try:
        payload = _LinkSigner(kind).unsign_object(token)
    except (signing.BadSignature, ValueError):  # ValueError: authentic but not JSON (our bug)
        raise TokenInvalid("signature") from None
    # Authentic from here on; the checks below guard against our own bugs, not forgers.
    if not isinstance(payload, list) or not 2 <= len(payload) <= 4:
        raise TokenInvalid("shape")
    brand, contact, topic, channel = (*payload, None, None)[:4]
    if not all(isinstance(value, int) for value in (brand, contact, topic or 0)):
        raise TokenInvalid("ids")
    if channel is not None and channel not in _CHANNELS:
        raise TokenInvalid("channel")
    issued = signing.b62_decode(token.rsplit(SEPARATOR, 2)[1])
    return LinkToken(
        kind=kind,
        brand_id=brand,
        contact_id=contact,
        topic_id=topic,
        channel=channel,
        issued_at=datetime.fromtimestamp(issued, tz=UTC),
    )


# --- Legacy: the home-made format issued until December 2026 -----------------------------------
#
# LEGACY, reader only. Until this change, links were `1.<kid>.<kind>.<brand>.<contact>.<topic>.
# <channel>.<issued>.<mac>` (ids and issued in base 36; the MAC a truncated HMAC-SHA256 under a
# key derived per secret and per kind; kid names the secret). Nothing issues them any more.
# Delete this section, and its branch in token_read, once the longest-lived old link has expired:
# LINK_UNSUBSCRIBE_DAYS (180 by default; the longest lifetime) after the first deploy of the
# signing-based tokens. Until then they verify and expire exactly as before.

_LEGACY_PREFIX = "1."
_LEGACY_KINDS = {"m": LinkKind.MANAGE, "u": LinkKind.UNSUBSCRIBE, "c": LinkKind.CONFIRM}


@lru_cache(maxsize=64)
def _legacy_kid(secret: str) -> str:
    digest = hmac.new(secret.encode(), b"candor.link-kid", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:6]).decode()


def _legacy_mac(secret: str, kind: LinkKind, payload: str) -> str:
    key = hmac.new(secret.encode(), f"candor.link.{kind.value}".encode(), hashlib.sha256).digest()
    digest = hmac.new(key, payload.encode(), hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _legacy_int(text: str) -> int:
    if not text or len(text) > 13 or not text.isalnum():
        raise TokenInvalid("not a number")
    return int(text, 36)


def _legacy_read(token: str, kind: LinkKind) -> LinkToken:
    """An old-format token's claims if authentic and of `kind` (the caller checks the age).
    `token` is ASCII, so compare_digest cannot raise TypeError."""
    payload, _, mac = token.rpartition(".")
    parts = payload.split(".")
    if len(parts) != 8:
        raise TokenInvalid("shape")
    _, kid, code, brand, contact, topic, channel, issued = parts
    secrets = [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
    secret = next((secret for secret in secrets if hmac.compare_digest(_legacy_kid(secret), kid)), None)
    if secret is None or not hmac.compare_digest(_legacy_mac(secret, kind, payload), mac):
        raise TokenInvalid("signature")
    if _LEGACY_KINDS.get(code) != kind or (channel and channel not in _CHANNELS):
        raise TokenInvalid("kind or channel")
    return LinkToken(
        kind=kind,
        brand_id=_legacy_int(brand),
        contact_id=_legacy_int(contact),
        topic_id=_legacy_int(topic) if topic else None,
        channel=channel or None,
        issued_at=datetime.fromtimestamp(_legacy_int(issued), tz=UTC),
    )


# --- URLs ------------------------------------------------------------------------------------

_PATHS = {LinkKind.MANAGE: "t", LinkKind.UNSUBSCRIBE: "u", LinkKind.CONFIRM: "c"}


def link_path(*, kind: LinkKind | str, brand: Brand, token: str) -> str:
    return f"/p/{brand.slug}/{_PATHS[LinkKind(kind)]}/{token}"


def link_url(
    *,
    kind: LinkKind | str,
    brand: Brand,
    contact: Contact,
    topic: Topic | None = None,
    channel: str | None = None,
) -> str:
    """The absolute link (PUBLIC_BASE_URL) for a fresh token of `kind`."""
    token = token_issue(kind=kind, brand=brand, contact=contact, topic=topic, channel=channel)
    return f"{settings.PUBLIC_BASE_URL}{link_path(kind=kind, brand=brand, token=token)}"
