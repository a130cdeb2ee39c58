"""Signed, purpose-bound link tokens: `manage`, `unsubscribe` and `confirm`.

A token is a short dotted payload and a MAC, both URL-safe::

    1.<kid>.<kind>.<brand>.<contact>.<topic>.<channel>.<issued>.<mac>

- `kid` names the secret that signed it (SECRET_KEY now, one of SECRET_KEY_FALLBACKS after a
  rotation), so a rotated secret keeps its links working for as long as it stays a fallback.
- The MAC is HMAC-SHA256, truncated to 128 bits, under a key derived per secret *and per kind*:
  an unsubscribe token is not a manage token with another letter, it simply does not verify
  as one.
- Ids are internal (pseudonymous) ids; `issued` is Unix seconds in base 36. Lifetimes are
  settings (LINK_MANAGE_DAYS, LINK_UNSUBSCRIBE_DAYS) and 72 hours for `confirm`, counted from
  `issued` when the token is read, so shortening a lifetime applies to links already sent.

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

from django.conf import settings
from django.utils import timezone

from brands.models import Brand
from consent.models import Contact
from preferences.models import Channel, Topic

VERSION = "1"
MAC_BYTES = 16
CLOCK_SKEW = timedelta(minutes=5)
CONFIRM_LIFETIME = timedelta(hours=72)
MAX_TOKEN_LENGTH = 200


class LinkKind(StrEnum):
    MANAGE = "manage"
    UNSUBSCRIBE = "unsubscribe"
    CONFIRM = "confirm"


_KIND_CODES = {LinkKind.MANAGE: "m", LinkKind.UNSUBSCRIBE: "u", LinkKind.CONFIRM: "c"}
_CODE_KINDS = {code: kind for kind, code in _KIND_CODES.items()}
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
    kid: str


def lifetime(kind: LinkKind) -> timedelta:
    if kind == LinkKind.MANAGE:
        return timedelta(days=settings.LINK_MANAGE_DAYS)
    if kind == LinkKind.UNSUBSCRIBE:
        return timedelta(days=settings.LINK_UNSUBSCRIBE_DAYS)
    return CONFIRM_LIFETIME


def fingerprint(token: str) -> str:
    """What to log instead of a token: 12 hex characters of its SHA-256."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()[:12]


# --- Keys ------------------------------------------------------------------------------------


@lru_cache(maxsize=64)
def _kid(secret: str) -> str:
    digest = hmac.new(secret.encode(), b"candor.link-kid", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:6]).decode()  # 8 characters, no padding


@lru_cache(maxsize=64)
def _key(secret: str, kind: LinkKind) -> bytes:
    return hmac.new(secret.encode(), f"candor.link.{kind.value}".encode(), hashlib.sha256).digest()


def _secrets() -> list[str]:
    return [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]


def _mac(secret: str, kind: LinkKind, payload: str) -> str:
    digest = hmac.new(_key(secret, kind), payload.encode(), hashlib.sha256).digest()[:MAC_BYTES]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _b36(value: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        value, rest = divmod(value, 36)
        out = digits[rest] + out
        if not value:
            return out


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
    issued = int((now or timezone.now()).timestamp())
    secret = settings.SECRET_KEY
    payload = ".".join(
        [
            VERSION,
            _kid(secret),
            _KIND_CODES[kind],
            _b36(brand.pk),
            _b36(contact.pk),
            _b36(topic.pk) if topic is not None else "",
            channel or "",
            _b36(issued),
        ]
    )
    return f"{payload}.{_mac(secret, kind, payload)}"


def _int36(text: str) -> int:
    if not text or len(text) > 13 or not text.isalnum() or not text.isascii():
        raise TokenInvalid("not a number")
    return int(text, 36)


def token_read(token: str, *, kind: LinkKind | str, now: datetime | None = None) -> LinkToken:
    """The token's claims if it is an authentic, unexpired token of `kind`.

    Raises TokenInvalid for anything not signed by us as this kind, TokenExpired for an
    authentic token past its lifetime. Every check happens before any database access.
    """
    kind = LinkKind(kind)
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise TokenInvalid("length")
    payload, _, mac = token.rpartition(".")
    parts = payload.split(".")
    if len(parts) != 8 or parts[0] != VERSION:
        raise TokenInvalid("shape")
    _, kid, code, brand, contact, topic, channel, issued = parts
    secret = next((secret for secret in _secrets() if hmac.compare_digest(_kid(secret), kid)), None)
    if secret is None:
        raise TokenInvalid("unknown key")
    if not hmac.compare_digest(_mac(secret, kind, payload), mac):
        raise TokenInvalid("signature")
    # Authentic from here on; the checks below guard against our own bugs, not forgers.
    if _CODE_KINDS.get(code) != kind:
        raise TokenInvalid("kind")
    if channel and channel not in _CHANNELS:
        raise TokenInvalid("channel")
    claims = LinkToken(
        kind=kind,
        brand_id=_int36(brand),
        contact_id=_int36(contact),
        topic_id=_int36(topic) if topic else None,
        channel=channel or None,
        issued_at=datetime.fromtimestamp(_int36(issued), tz=UTC),
        kid=kid,
    )
    now = now or timezone.now()
    if claims.issued_at > now + CLOCK_SKEW:
        raise TokenInvalid("issued in the future")
    if claims.issued_at + lifetime(kind) < now:
        raise TokenExpired(claims)
    return claims


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
