"""Helpers for the hosted-page tests: issuing links, opening the centre, reading pages back."""

from __future__ import annotations

import re
from typing import Any

from django.test import Client

from brands.models import Brand
from consent.models import Contact
from preferences.models import Topic
from preferences.tokens import LinkKind, link_path, token_issue

CHECKED_BOX = re.compile(r'<input type="checkbox"[^>]*\bchecked\b')


def link(
    kind: str,
    brand: Brand,
    contact: Contact,
    topic: Topic | None = None,
    channel: str | None = None,
    **kw: Any,
) -> str:
    token = token_issue(kind=kind, brand=brand, contact=contact, topic=topic, channel=channel, **kw)
    return link_path(kind=kind, brand=brand, token=token)


def open_centre(client: Client, brand: Brand, contact: Contact) -> Client:
    """Follow a manage link: the token is swapped for the session cookie."""
    response = client.get(link(LinkKind.MANAGE, brand, contact))
    assert response.status_code == 303, response
    return client


def checked_boxes(html: str) -> list[str]:
    return CHECKED_BOX.findall(html)


def security_headers(response: Any) -> dict[str, str]:
    return {
        name: response.headers.get(name, "")
        for name in ("Content-Security-Policy", "Referrer-Policy", "Cache-Control", "X-Content-Type-Options")
    }


def assert_hosted_headers(response: Any) -> None:
    headers = security_headers(response)
    csp = headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "object-src 'none'" in csp
    assert "base-uri 'none'" in csp
    assert "unsafe-inline" not in csp
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cache-Control"] == "no-store"
    assert headers["X-Content-Type-Options"] == "nosniff"
