"""No input makes the console fail: every console page, read with hostile query strings, and every
form on it, sent with hostile values in each of its own fields, is answered with a page or a
precise 4xx, never a server error. The pages and forms come from the role matrix's walk (every
URL the resolver knows, as the owner, who may do everything), so a form added later is walked too.
"""

from __future__ import annotations

from typing import Any

import pytest

from console.access import access_of
from tests.console.test_role_matrix import PATTERNS, cast, klaviyo, url_of
from tests.hostile import HOSTILE_QUERIES, HOSTILE_VALUES, form_walk, forms_of

__all__ = ["cast", "klaviyo"]

pytestmark = pytest.mark.django_db(transaction=True)


def half_of_the_values(index: int) -> list[str]:
    """A field's hostile values: one half for even fields, the other for odd ones (the walk is
    long enough as it is, and every value still reaches every form of two fields or more)."""
    half = len(HOSTILE_VALUES) // 2
    return HOSTILE_VALUES[half * (index % 2) :][:half]


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
            # Each field in turn gets half the hostile values (the next field the other half).
            posts, failed = form_walk(
                owner,
                target,
                fields,
                fixed=("csrfmiddlewaretoken", "action"),
                values_for=half_of_the_values,
            )
            walked += posts
            failures += [(name, target, *failure) for failure in failed]
    assert walked > 400  # the walk reached the forms (a page that lost its forms would pass vacuously)
    assert failures == []
