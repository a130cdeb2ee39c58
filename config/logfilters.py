"""Logging redaction: no link token, API key, email address or phone number reaches a log line
(STANDARDS.md §8, ASVS 16.2.5), whichever server writes it.

Django logs the path of every 4xx/5xx (`django.request`, the CSRF failures of
`django.security.csrf`), runserver logs every request line (`django.server`), and granian
(`granian.access`, deploy/granian-logging.json) or gunicorn (`gunicorn.access`, gunicorn.conf.py)
every access; hosted-page links carry their token in the path,
and a brand may use an email address or a phone number as a contact's external id, which then
sits in an API path. `redact` rewrites a finished line:

- a link token (in a `/p/<brand>/t|u|c/` path, or a signed token anywhere) becomes
  `[token <fingerprint>]`, the same fingerprint preferences.tokens.fingerprint gives;
- an API key keeps its public prefix (`cnd_<id>`), which names the key without granting anything;
- an email address becomes `[email]`, a phone number (E.164, or its `%2B` URL form) `[phone]`.

`RedactingFormatter` applies it to every formatted line, tracebacks included; the project's
LOGGING uses it for every handler, granian's logging configuration names it for both of its
handlers, gunicorn's logger class wraps its own formatters with it, and
Celery keeps the project's handlers (CELERY_WORKER_HIJACK_ROOT_LOGGER = False).
"""

from __future__ import annotations

import hashlib
import logging
import re
from typing import Any

TOKEN_IN_PATH = re.compile(r"(/p/[^/\s\"']+/[tuc]/)(?!\[token )([^/\s\"'?#]+)")
# Django signing of a JSON list: base64 of "[" is "W", then the timestamp and a 43-character HMAC.
SIGNED_TOKEN = re.compile(r"\bW[A-Za-z0-9_-]{3,}\.[0-9A-Za-z]{1,13}\.[A-Za-z0-9_-]{40,}")
API_KEY = re.compile(r"\b(cnd_[A-Za-z0-9]+)_[A-Za-z0-9_-]{16,}")
EMAIL = re.compile(r"[A-Za-z0-9.!#$'*+^_`{|}~-]+(?:@|%40)[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
PHONE = re.compile(r"(?:\+|%2B|%2b)[1-9]\d{6,14}\b")


def _fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()[:12]


def redact_tokens(text: str) -> str:
    text = TOKEN_IN_PATH.sub(lambda m: f"{m.group(1)}[token {_fingerprint(m.group(2))}]", text)
    return SIGNED_TOKEN.sub(lambda m: f"[token {_fingerprint(m.group(0))}]", text)


def redact(text: str) -> str:
    text = redact_tokens(text)
    text = API_KEY.sub(r"\1_[redacted]", text)
    text = PHONE.sub("[phone]", text)  # first: "%2B49…" is no part of an address
    return EMAIL.sub("[email]", text)


class RedactLinkTokens(logging.Filter):
    """For handlers configured elsewhere: redacts the record's message (not its traceback;
    RedactingFormatter covers both)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record is the handler's problem, not ours
            return True
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


class RedactingFormatter(logging.Formatter):
    """A formatter whose every line, traceback included, is redacted. With `inner`, it redacts
    what that formatter writes (gunicorn's own formats)."""

    def __init__(self, *args: Any, inner: logging.Formatter | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        return redact(self.inner.format(record) if self.inner is not None else super().format(record))


# Celery's own INFO lines about every run of a task: the worker's "received" and "succeeded",
# and beat's "Sending due task". For the periodic sweeps these were ~130 lines a minute of an
# idle `make run`; each sweep logs one INFO line of its own when it did something.
_CELERY_TASK_LINES = {"celery.app.trace", "celery.worker.strategy"}
_BEAT_SENDING = "Scheduler: Sending due task"


def periodic_task_names() -> frozenset[str]:
    from django.conf import settings

    return frozenset(entry["task"] for entry in getattr(settings, "CELERY_BEAT_SCHEDULE", {}).values())


class QuietPeriodicTasks(logging.Filter):
    """Drops Celery's INFO bookkeeping lines about the periodic tasks (beat's schedule) unless
    the root logger is at DEBUG (LOG_LEVEL=DEBUG). Warnings, errors, retries and every other
    task's lines pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or logging.getLogger().isEnabledFor(logging.DEBUG):
            return True
        if record.name == "celery.beat":
            return not str(record.msg).startswith(_BEAT_SENDING)
        if record.name in _CELERY_TASK_LINES and isinstance(record.args, dict):
            return record.args.get("name") not in periodic_task_names()
        return True
