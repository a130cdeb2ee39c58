"""The origins a brand's quizzes may be embedded on (Brand.embed_origins), as browsers write
an origin: `https://shop.example` or `https://shop.example:8443`, lower case, no path.

Plain http is allowed only for the local machine (localhost, 127.0.0.1, [::1]) and only where
settings.WEBHOOK_ALLOW_PRIVATE is on (development and tests; the default when DEBUG is), the
same switch that lets webhooks and connectors reach a local fake. The check runs when the
origins are saved and again when a page is served, so turning the switch off in production
also drops http origins saved while it was on.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

EMBED_ORIGINS_MAX = 20
LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]")


def _local_allowed() -> bool:
    return bool(getattr(settings, "WEBHOOK_ALLOW_PRIVATE", False))


def embed_origin_problem(origin: str) -> str | None:
    """What is wrong with one origin, or None."""
    if not isinstance(origin, str) or not origin:
        return "Give an origin such as https://shop.example."
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError:
        return f"{origin!r} is not an origin such as https://shop.example."
    host = parts.netloc.rsplit(":", 1)[0] if port is not None else parts.netloc
    if (
        parts.scheme not in ("https", "http")
        or not host
        or parts.path
        or parts.query
        or parts.fragment
        or "@" in parts.netloc
        or origin != origin.lower()
        or origin != f"{parts.scheme}://{parts.netloc}"
    ):
        return f"{origin!r} is not an origin: write scheme and host in lower case, like https://shop.example."
    if parts.scheme == "http" and not (host in LOCAL_HOSTS and _local_allowed()):
        return f"{origin!r} is not https: only https origins may embed a quiz."
    return None


def embed_origins_validator(value: Iterable[str]) -> None:
    """Model validator of Brand.embed_origins."""
    origins = list(value)
    messages = [problem for origin in origins if (problem := embed_origin_problem(origin))]
    if len(origins) > EMBED_ORIGINS_MAX:
        messages.append(f"At most {EMBED_ORIGINS_MAX} origins.")
    if len(set(origins)) != len(origins):
        messages.append("An origin is listed twice.")
    if messages:
        raise ValidationError(messages)


def embed_origins_allowed(origins: Iterable[str]) -> list[str]:
    """The saved origins that may embed now (see the module docstring)."""
    return [origin for origin in origins if embed_origin_problem(origin) is None]
