"""Logging filters: signed link tokens never reach the logs (STANDARDS.md §8, ASVS 16.2.5).

Django logs the path of every 4xx/5xx (`django.request`) and runserver logs every request line
(`django.server`); hosted-page links carry their token in the path. This filter replaces each
token by a short fingerprint (the same one preferences.tokens.fingerprint gives).
"""

from __future__ import annotations

import hashlib
import logging
import re

TOKEN_IN_PATH = re.compile(r"(/p/[^/\s\"']+/[tuc]/)(?!\[token )([^/\s\"'?#]+)")


def _fingerprint(match: re.Match[str]) -> str:
    digest = hashlib.sha256(match.group(2).encode("utf-8", "replace")).hexdigest()[:12]
    return f"{match.group(1)}[token {digest}]"


def redact_tokens(text: str) -> str:
    return TOKEN_IN_PATH.sub(_fingerprint, text)


class RedactLinkTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record is the handler's problem, not ours
            return True
        redacted = redact_tokens(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True
