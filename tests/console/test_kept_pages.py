"""The audit log's pages, kept per process (console.pages.render_kept, console.kept): drawn once
for each state of the log, address, language and person, never out of date, each request with a
CSRF field of its own, and a page with a message to show drawn afresh."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.http import HttpResponse
from django.middleware.csrf import _unmask_cipher_token
from django.test import Client
from django.test.utils import CaptureQueriesContext

from brands.models import Brand, Membership
from preferences.topics import topic_update
from tests.actors import TEST_ACTOR

AUDIT = "/console/acme/audit/"
CSRF_FIELD = re.compile(r'<input type="hidden" name="csrfmiddlewaretoken" value="(\w+)">')


@pytest.fixture
def owner(brand, make_staff, signed_in, topics) -> Client:
    return signed_in(make_staff(brand, "owner"))


def viewed(client: Client, path: str = AUDIT) -> tuple[HttpResponse, int]:
    """The response, and how many times the brand's entries were read for it."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    return response, sum('"brands_auditentry"' in q["sql"] for q in queries.captured_queries)


def without_csrf(response: HttpResponse) -> str:
    return CSRF_FIELD.sub("", response.content.decode())


def test_a_page_is_drawn_once_and_then_kept(owner):
    first, reads = viewed(owner)
    assert (first.status_code, reads) == (200, 1)
    again, reads = viewed(owner)
    assert (again.status_code, reads) == (200, 0)
    assert without_csrf(again) == without_csrf(first)
    assert "topic.created" in without_csrf(again)


def test_an_entry_written_since_shows_on_the_next_view(owner, topics):
    viewed(owner)
    topic_update(topic=topics["offers"], actor=TEST_ACTOR, name="Special offers")
    page, reads = viewed(owner)
    assert reads == 1
    assert "Special offers" in page.content.decode()


def test_the_filters_the_page_and_the_language_each_have_their_own(owner):
    everything, _ = viewed(owner)
    created, reads = viewed(owner, f"{AUDIT}?action=topic.created")
    assert reads == 1
    assert without_csrf(created) != without_csrf(everything)
    assert "<code>purpose.created</code>" in without_csrf(everything)
    assert "<code>purpose.created</code>" not in without_csrf(created)
    owner.post("/console/language/", {"action": "language", "language": "de", "next": AUDIT})
    german, reads = viewed(owner)
    assert reads == 1
    assert '<html lang="de">' in german.content.decode()
    assert "Abmelden" in german.content.decode()  # "Sign out"
    assert german.headers["Content-Language"] == "de"


def test_a_bad_filter_is_kept_as_the_400_it_is(owner):
    first, _ = viewed(owner, f"{AUDIT}?from=yesterday")
    again, reads = viewed(owner, f"{AUDIT}?from=yesterday")
    assert (first.status_code, again.status_code, reads) == (400, 400, 0)
    assert 'href="#filter-from"' in again.content.decode()


def test_each_request_gets_a_csrf_field_of_its_own_that_works(owner):
    viewed(owner)
    kept_once, _ = viewed(owner)
    kept_twice, _ = viewed(owner)
    tokens = [CSRF_FIELD.findall(r.content.decode()) for r in (kept_once, kept_twice)]
    assert [len(found) for found in tokens] == [2, 2]  # the language and sign-out forms
    assert tokens[0][0] == tokens[0][1]
    assert tokens[0][0] != tokens[1][0]
    secret = owner.cookies["csrftoken"].value
    assert {_unmask_cipher_token(t) for found in tokens for t in found} == {secret}
    # The field of a kept page is accepted where CSRF is checked.
    checked = Client(enforce_csrf_checks=True)
    checked.cookies = owner.cookies
    response = checked.post(
        "/console/language/",
        {"action": "language", "language": "fr", "next": AUDIT, "csrfmiddlewaretoken": tokens[1][0]},
    )
    assert response.status_code == 302
    refused = checked.post("/console/language/", {"action": "language", "language": "fr", "next": AUDIT})
    assert refused.status_code == 403


def test_a_message_is_shown_once_on_a_page_drawn_afresh(brand, owner, make_staff):
    viewed(owner)
    viewed(owner)  # kept now
    editor = Membership.objects.get(user=make_staff(brand, "editor"), brand=brand)
    owner.post("/console/acme/members/", {"action": "change_role", "membership": editor.pk, "role": "viewer"})
    shown, reads = viewed(owner)
    assert reads == 1
    assert 'class="status__message"' in shown.content.decode()
    after, _ = viewed(owner)
    assert 'class="status__message"' not in after.content.decode()


def test_each_person_sees_their_own_layout(brand, other_brand, owner, make_staff, signed_in):
    viewed(owner)
    two_brands = make_staff(brand, "owner", "both@acme.test")
    Membership.objects.create(user=two_brands, brand=other_brand, role="viewer")
    theirs, reads = viewed(signed_in(two_brands))
    assert reads == 1
    assert "Switch brand" in theirs.content.decode()
    mine, reads = viewed(owner)
    assert reads == 0
    assert "Switch brand" not in mine.content.decode()


def test_a_renamed_brand_shows_its_new_name(brand, owner):
    viewed(owner)
    Brand.objects.filter(pk=brand.pk).update(name="Acme Renamed")
    page, reads = viewed(owner)
    assert reads == 1
    assert "<title>Audit log – Acme Renamed – Candor console</title>" in page.content.decode()


def test_a_role_taken_away_refuses_a_kept_page_at_once(brand, owner):
    viewed(owner)
    Membership.objects.filter(brand=brand, role="owner").update(role="viewer")
    assert owner.get(AUDIT).status_code == 403


def test_with_none_to_keep_every_view_draws_the_page(owner, settings):
    settings.CONSOLE_KEPT_PAGES = 0
    assert [viewed(owner)[1] for _ in range(3)] == [1, 1, 1]


def test_the_least_recently_used_page_goes_first(owner, settings):
    settings.CONSOLE_KEPT_PAGES = 2
    first, second, third = (f"{AUDIT}?target_type={kind}" for kind in ("topic", "purpose", "brand"))
    assert [viewed(owner, path)[1] for path in (first, second, first, third)] == [1, 1, 0, 1]
    assert [viewed(owner, path)[1] for path in (first, third, second)] == [0, 0, 1]
