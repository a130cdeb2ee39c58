"""No input makes a hosted page fail: the preference centre (every page a signed-in contact can
reach by its links, and every form on them) and the quiz page, sent hostile values in each of
their forms' fields and hostile query strings, answer with a page or a precise 4xx, never a
server error. The pages are found by following the centre's own links, so a page added later is
walked too."""

from __future__ import annotations

import re
from collections import deque
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from django.test import Client

from consent.models import Contact, Purpose
from preferences.topics import topic_create
from quizzes.models import QuizVersion
from tests.actors import TEST_ACTOR
from tests.hostile import HOSTILE_QUERIES, form_walk, forms_of
from tests.preferences.pages import open_centre
from tests.quizzes.told_us_support import complete, decide

pytestmark = pytest.mark.django_db

HOME = "/p/acme/"
LINK = re.compile(r'href="(/p/acme/[^"#]*)"')
NOT_WALKED = ("/sign-out", "/theme.css", "/my-data")  # leaves the session; a stylesheet; a download


def reachable(client: Client) -> list[str]:
    """The centre's pages a signed-in contact reaches by its links."""
    found, queue = [HOME], deque([HOME])
    while queue and len(found) < 40:
        page = client.get(queue.popleft())
        if page.status_code != 200 or page.streaming:
            continue
        for href in LINK.findall(page.content.decode()):
            url = href.replace("&amp;", "&")
            if url not in found and not any(part in url for part in NOT_WALKED):
                found.append(url)
                queue.append(url)
    return found


def walk_forms(client: Client, urls: list[str], *, again: Any = None) -> tuple[int, list[tuple[Any, ...]]]:
    """Post each form of the pages at `urls` with hostile values (tests.hostile.form_walk);
    (posts, failures). Every page is read first, and the forms that delete go last: a whole form
    sent twice is a valid one, and must not take away a page still to be read."""
    forms = []
    for url in urls:
        page = client.get(url)
        assert page.status_code == 200, (url, page.status_code)
        for form in forms_of(page.content.decode()):
            target = form["action"] or urlsplit(url).path
            if not any(part in target for part in NOT_WALKED):
                forms.append((url, target, form["fields"]))
    walked, failures = 0, []
    for url, target, fields in sorted(forms, key=lambda found: "delete" in found[1]):
        posts, failed = form_walk(client, target, fields, again=again)
        walked += posts
        failures += [(url, target, *failure) for failure in failed]
    return walked, failures


@pytest.fixture
def centre(client, live_version: QuizVersion, contact: Contact, personalisation: Purpose) -> Client:
    """A contact with quiz answers, a consent and a subscription, signed in to the centre."""
    topic_create(
        actor=TEST_ACTOR,
        brand=contact.brand,
        slug="tips",
        name="Tips",
        purpose=personalisation,
        channels=["email", "sms"],
        cadence_options=["weekly", "monthly"],
    )
    decide(contact, personalisation, "granted")
    complete(live_version, contact)
    return open_centre(client, contact.brand, contact)


def test_every_form_the_centre_shows_takes_hostile_values_without_failing(centre, contact):
    pages = reachable(centre)
    # The home page, "unsubscribe from all", each "about you" fact, each answer told, erasure.
    assert len(pages) >= 10, pages
    walked, failures = walk_forms(centre, pages, again=lambda: open_centre(centre, contact.brand, contact))
    assert walked > 150
    assert failures == []


def test_hostile_query_strings_never_fail_a_centre_page(centre):
    failures = [
        (url, query, response.status_code)
        for url in reachable(centre)
        for query in [*HOSTILE_QUERIES, "state=%ff", "token=x" * 500]
        if (response := centre.get(f"{url}?{query}")).status_code >= 500
    ]
    assert failures == []


def test_the_quiz_page_takes_hostile_values_and_queries_without_failing(client, live_version: QuizVersion):
    url = f"/q/{live_version.quiz.public_id}/"
    walked, failures = walk_forms(client, [url])
    assert walked > 20
    for query in [
        *HOSTILE_QUERIES,
        "state=%ff%fe",
        "state=" + "A" * 70_000,
        "token=not.a.token",
        "host=javascript:alert(1)",
        urlencode({f"utm_{k}": "x" * 5_000 for k in ("source", "medium", "campaign", "term", "content")}),
    ]:
        response = client.get(f"{url}?{query}")
        if response.status_code >= 500:
            failures.append((url, query[:40], response.status_code))
    assert failures == []
