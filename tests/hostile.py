"""Hostile input for the page tests (tests/console/test_hostile_input.py, tests/quizzes/
test_hostile_pages.py): values a form field may be sent instead of what its widget offers, query
strings, the POST forms of a page, and one walk that posts a form with them field by field."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlencode

from django.test import Client

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


def form_walk(
    client: Client,
    target: str,
    fields: dict[str, str],
    *,
    fixed: Sequence[str] = ("csrfmiddlewaretoken",),
    values_for: Callable[[int], Sequence[str]] = lambda index: HOSTILE_VALUES,
    again: Callable[[], Any] | None = None,
) -> tuple[int, list[tuple[str, str, int]]]:
    """Post the form at `target`: each field but the `fixed` ones in turn with each of its
    hostile values (`values_for` its index; the other fields as the page gave them), with bytes
    that are not UTF-8 (a lone surrogate's encoding, and 0xff), then every field twice, and
    nothing but its action. (posts, failures as (field, value, status) for each server error);
    `again` re-establishes what a post may have ended (a session, a run) before the next one."""
    posts: list[tuple[str, str, Any]] = []
    for index, field in enumerate(sorted(set(fields) - set(fixed))):
        for value in values_for(index):
            posts.append((field, value[:20], {**fields, field: value}))
        raw = urlencode({k: v for k, v in fields.items() if k != field}) + f"&{field}=%ED%A0%80%ff"
        posts.append((field, "not UTF-8", raw))
    posts.append(("*", "each twice", {k: [v, v] for k, v in fields.items()}))
    posts.append(("*", "only the action", {"action": fields.get("action", "")}))
    failures = []
    for field, shown, body in posts:
        if isinstance(body, str):
            response = client.post(target, body, content_type="application/x-www-form-urlencoded")
        else:
            response = client.post(target, body)
        if response.status_code >= 500:
            failures.append((field, shown, response.status_code))
        if again is not None:
            again()
    return len(posts), failures
