"""No input makes the console fail: every console page, read with hostile query strings, and every
form on it, sent with hostile values in each of its own fields, is answered with a page or a
precise 4xx, never a server error. The pages and forms come from the role matrix's walk (every
URL the resolver knows, as the owner, who may do everything), so a form added later is walked too.
"""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlencode

import pytest

from console.access import access_of
from tests.console.test_role_matrix import PATTERNS, cast, klaviyo, url_of

__all__ = ["cast", "klaviyo"]

pytestmark = pytest.mark.django_db(transaction=True)

# What a form field may be sent instead of what its widget offers.
HOSTILE_VALUES = [
    "",
    "x" * 20_000,
    "null\x00byte",
    "-1",
    "99999999999999999999999999",
    "1e309",
    "NaN",
    "2026-02-30",
    "<script>alert(1)</script>",
    "é" * 300,
]
HOSTILE_QUERIES = [
    "page=-1",
    "page=99999999999999999999",
    "page=abc",
    "from=2026-13-40&to=yesterday",
    "days=-5",
    "days=100000000",
    "q=%00",
    "version=%ff",
    "status=<b>",
    "language=xx-YY",
    "next=https://evil.example/",
]


class _Forms(HTMLParser):
    """The POST forms of a page: each form's field names, and the values its hidden fields carry."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self._open: dict[str, Any] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "form":
            method = (found.get("method") or "get").lower()
            self._open = {"action": found.get("action"), "method": method, "fields": {}}
        elif tag in ("input", "select", "textarea", "button") and self._open is not None:
            name = found.get("name")
            if name:
                self._open["fields"].setdefault(name, found.get("value") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self._open is not None:
            if self._open["method"] == "post":
                self.forms.append(self._open)
            self._open = None


def forms_of(html: str) -> list[dict[str, Any]]:
    parser = _Forms()
    parser.feed(html)
    return parser.forms


def pages(cast: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (name, url_of(name, pattern, cast["samples"]))
        for name, pattern in PATTERNS
        if access_of(pattern.callback).read and name not in ("console:invitation", "console:logout")
    ]


def test_hostile_query_strings_never_fail_a_console_page(cast, signed_in):
    owner = signed_in(cast["people"]["owner"])
    failures = []
    for name, url in pages(cast):
        for query in HOSTILE_QUERIES:
            response = owner.get(f"{url}?{query}")
            if response.status_code >= 500:
                failures.append((name, query, response.status_code))
    assert failures == []


def test_hostile_values_in_every_field_of_every_console_form_never_fail(cast, signed_in):
    owner = signed_in(cast["people"]["owner"])
    failures = []
    walked = 0
    seen: set[tuple[str, ...]] = set()
    for name, url in pages(cast):
        page = owner.get(url)
        if page.status_code != 200 or page.streaming:  # an export: no forms
            continue
        for form in forms_of(page.content.decode()):
            target = form["action"] or url
            if not target.startswith("/console/") or "logout" in target:
                continue
            fields: dict[str, str] = form["fields"]
            shape = (target, fields.get("action", ""), *sorted(fields))
            if shape in seen:  # the same form again (one per row of a table): walked once
                continue
            seen.add(shape)
            # Each field in turn gets half the hostile values (the next field the other half);
            # the other fields keep what the page gave.
            half = len(HOSTILE_VALUES) // 2
            for index, field in enumerate(sorted(set(fields) - {"csrfmiddlewaretoken", "action"})):
                for value in HOSTILE_VALUES[half * (index % 2) :][:half]:
                    walked += 1
                    response = owner.post(target, {**fields, field: value})
                    if response.status_code >= 500:
                        failures.append((name, target, field, value[:20], response.status_code))
            # Bytes that are not UTF-8 (a lone surrogate's encoding, and 0xff) in each field.
            for field in sorted(set(fields) - {"csrfmiddlewaretoken", "action"}):
                walked += 1
                raw = urlencode({k: v for k, v in fields.items() if k != field}) + f"&{field}=%ED%A0%80%ff"
                response = owner.post(target, raw, content_type="application/x-www-form-urlencoded")
                if response.status_code >= 500:
                    failures.append((name, target, field, "not UTF-8", response.status_code))
            # A field sent twice, and a form sent with none of its fields but its action.
            for body in ({k: [v, v] for k, v in fields.items()}, {"action": fields.get("action", "")}):
                walked += 1
                response = owner.post(target, body)
                if response.status_code >= 500:
                    failures.append((name, target, "*", str(body)[:40], response.status_code))
    assert walked > 400  # the walk reached the forms (a page that lost its forms would pass vacuously)
    assert failures == []
