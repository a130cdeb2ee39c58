"""Typed readers for environment variables that fail loudly on bad values."""

from __future__ import annotations

import os
import re
from datetime import date
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}")
    return value


def env_date(name: str, default: str) -> str:
    """A calendar date written YYYY-MM-DD, returned as written."""
    raw = os.environ.get(name, default).strip()
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
            raise ValueError
        date.fromisoformat(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a date written YYYY-MM-DD, not {raw!r}") from None
    return raw


def recorded_public_base_url(path: Path) -> str | None:
    """The base URL a running `make run` recorded (config.launcher.record_public_base_url): its
    first line, if the launcher that wrote it (the second line, a pid) is still alive."""
    try:
        url, pid = path.read_text().split("\n")[:2]
        os.kill(int(pid), 0)
    except (OSError, ValueError):
        return None
    return url.strip() or None


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def email_settings(url: str) -> dict[str, object]:
    """EMAIL_URL → Django email settings: console://, file://var/mail (a folder, relative to the
    checkout) or file:///abs/path, smtp://user:pass@host:port, smtp+tls://… (STARTTLS) or
    smtps://… (implicit TLS). file:// files each message as one .eml (config.mail)."""
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(url)
    if parts.scheme == "console":
        return {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}
    if parts.scheme == "file":
        # file://var/mail reads "var" as a host: the folder is everything after the scheme.
        folder = unquote(parts.netloc + parts.path)
        if not folder:
            raise ImproperlyConfigured("EMAIL_URL needs a folder: file://var/mail or file:///srv/mail")
        return {"EMAIL_BACKEND": "config.mail.MailboxBackend", "EMAIL_FILE_PATH": folder}
    if parts.scheme in {"smtp", "smtp+tls", "smtps"}:
        if not parts.hostname:
            raise ImproperlyConfigured(f"EMAIL_URL needs a host: {parts.scheme}://host:port")
        return {
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": parts.hostname,
            "EMAIL_PORT": parts.port
            or (465 if parts.scheme == "smtps" else 587 if parts.scheme == "smtp+tls" else 25),
            "EMAIL_HOST_USER": unquote(parts.username or ""),
            "EMAIL_HOST_PASSWORD": unquote(parts.password or ""),
            "EMAIL_USE_TLS": parts.scheme == "smtp+tls",
            "EMAIL_USE_SSL": parts.scheme == "smtps",
            "EMAIL_TIMEOUT": 15,
        }
    raise ImproperlyConfigured(
        # The scheme only: the rest of the URL may hold a password.
        f"EMAIL_URL must be console://, file://…, smtp://…, smtp+tls://… or smtps://…, not {parts.scheme}://…"
    )


_PERIODS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """'1200/min' -> (1200 requests, 60 seconds)."""
    count, _, period = rate.partition("/")
    if not count.isdigit() or period not in _PERIODS:
        raise ValueError(f"A rate looks like '1200/min' (s, min, hour or day), not {rate!r}.")
    return int(count), _PERIODS[period]


def env_rate(name: str, default: str) -> str:
    raw = os.environ.get(name, default)
    try:
        parse_rate(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}: {exc}") from None
    return raw
