"""The audit log page (owners): the brand's entries newest first, its filters, keyset pages, the
CSV and JSON lines download (the same lines as `manage.py export_audit`), nothing of another
brand, a 400 for every bad filter, and nothing ever changed by looking."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from brands.models import AuditEntry, Membership
from preferences.topics import topic_update
from tests.actors import TEST_ACTOR
from tests.console.test_role_matrix import snapshot

AUDIT = "/console/acme/audit/"
EXPORT = "/console/acme/audit/export/"
LATER = datetime(2030, 1, 15, 9, 0, tzinfo=UTC)  # after everything else, whenever the tests run


@pytest.fixture
def log(brand, other_brand, purpose, topics, make_purpose, make_staff, signed_in):
    """The fixtures' entries (the brand, its purpose and notices, three topics), a topic change
    in 2030, an owner's role change made in the console, and the other brand's own."""
    make_purpose(other_brand, "outsider-secret-purpose")
    with time_machine.travel(LATER, tick=False):
        topic_update(topic=topics["offers"], actor=TEST_ACTOR, name="Special offers")
    owner = make_staff(brand, "owner")
    editor = make_staff(brand, "editor")
    client = signed_in(owner)
    membership = Membership.objects.get(user=editor, brand=brand)
    response = client.post(
        "/console/acme/members/", {"action": "change_role", "membership": membership.pk, "role": "viewer"}
    )
    assert response.status_code == 302
    return client


def listed(page: str) -> list[tuple[str, str]]:
    """(action, object) of each entry shown, in order."""
    return re.findall(r"<td><code>([\w.]+)</code>.*?</td>\s*<td>(\w+) <code>", page, re.S)


def expected(brand, **filters) -> list[tuple[str, str]]:
    entries = AuditEntry.objects.filter(brand=brand, **filters).order_by("-at", "-id")
    return [(e.action, e.target_type) for e in entries]


def test_the_owner_reads_the_brands_entries_newest_first(brand, log):
    response = log.get(AUDIT)
    page = response.content.decode()

    assert response.status_code == 200
    assert listed(page) == expected(brand)
    assert listed(page)[:2] == [("topic.updated", "topic"), ("membership.role_changed", "user")]
    assert len(listed(page)) == AuditEntry.objects.filter(brand=brand).count() >= 8
    assert "outsider-secret-purpose" not in page
    # Who, before and after.
    assert "owner@acme.test" in page
    assert "Special offers" in page


def test_the_filters(brand, log):
    page = log.get(f"{AUDIT}?action=topic.created").content.decode()
    assert listed(page) == [("topic.created", "topic")] * 3

    page = log.get(f"{AUDIT}?target_type=topic&target_id=offers").content.decode()
    assert listed(page) == [("topic.updated", "topic"), ("topic.created", "topic")]

    page = log.get(f"{AUDIT}?actor=owner@acme.test").content.decode()
    assert listed(page) == [("membership.role_changed", "user")]

    page = log.get(f"{AUDIT}?from=2030-01-15&to=2030-01-15").content.decode()
    assert listed(page) == [("topic.updated", "topic")]

    page = log.get(f"{AUDIT}?to=2030-01-14&action=topic.updated").content.decode()
    assert listed(page) == []
    assert "No entries match these filters." in page


def test_keyset_pages_walk_every_entry_once(brand, log, monkeypatch):
    monkeypatch.setattr("console.views.audit.PAGE_SIZE", 3)
    url, seen, pages = AUDIT, [], 0
    while url:
        page = log.get(url).content.decode()
        seen += listed(page)
        pages += 1
        found = re.search(r'href="([^"]+)" rel="next"', page)
        url = found[1].replace("&amp;", "&") if found else ""
    total = AuditEntry.objects.filter(brand=brand).count()
    assert seen == expected(brand)
    assert pages == -(-total // 3)


def command_output(brand, fmt: str) -> str:
    out = StringIO()
    call_command("export_audit", "--brand", brand.slug, "--format", fmt, stdout=out)
    return out.getvalue()


@pytest.mark.parametrize(("fmt", "content_type"), [("csv", "text/csv"), ("jsonl", "application/jsonl")])
def test_the_download_is_what_export_audit_writes(brand, log, fmt, content_type):
    response = log.get(f"{EXPORT}?format={fmt}")

    assert response.status_code == 200
    assert response["Content-Type"] == f"{content_type}; charset=utf-8"
    assert re.fullmatch(
        rf'attachment; filename="audit-acme-\d{{8}}T\d{{6}}Z\.{fmt}"', response["Content-Disposition"]
    )
    body = b"".join(response.streaming_content).decode()
    assert body == command_output(brand, fmt)
    assert "outsider-secret-purpose" not in body


def test_the_download_keeps_the_filters(brand, log):
    response = log.get(f"{EXPORT}?format=jsonl&action=topic.created")
    lines = [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]
    assert [(line["action"], line["target"]["id"]) for line in lines] == [
        ("topic.created", "launches"),
        ("topic.created", "offers"),
        ("topic.created", "newsletter"),
    ]
    # The page's own links carry them.
    page = log.get(f"{AUDIT}?action=topic.created").content.decode()
    assert 'href="/console/acme/audit/export/?action=topic.created&amp;format=csv"' in page


def test_reading_and_downloading_change_nothing(brand, log):
    before = snapshot()
    log.get(AUDIT)
    log.get(f"{AUDIT}?action=topic.created")
    b"".join(log.get(f"{EXPORT}?format=csv").streaming_content)
    assert log.post(AUDIT, {"action": "delete"}).status_code == 400
    assert log.post(EXPORT, {"action": "export"}).status_code == 400
    assert snapshot() == before


@pytest.mark.parametrize("role", ["editor", "support", "viewer"])
def test_only_owners_read_the_log(brand, log, make_staff, signed_in, role):
    client = signed_in(make_staff(brand, role, f"another-{role}@acme.test"))
    assert client.get(AUDIT).status_code == 403
    assert client.get(f"{EXPORT}?format=csv").status_code == 403


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("action=brand.exploded", "filter-action"),
        ("from=2026-11-25&to=2026-11-01", "filter-to"),
        ("from=yesterday", "filter-from"),
        ("target_id=offers", "filter-target_type"),
        ("after=1.2.3", "filter-after"),
        ("after=abc", "filter-after"),
        (f"actor={'x' * 151}", "filter-actor"),
    ],
)
def test_a_bad_filter_is_a_400_that_names_it(log, query, field):
    for url in (f"{AUDIT}?{query}", f"{EXPORT}?format=csv&{query}"):
        response = log.get(url)
        assert response.status_code == 400, url
        page = response.content.decode()
        assert f'href="#{field}"' in page, url
    response = log.get(f"{EXPORT}?format=xml")
    assert response.status_code == 400
    assert 'href="#filter-format"' in response.content.decode()


def test_the_page_costs_the_same_queries_whatever_the_log(brand, log, topics):
    log.get(AUDIT)  # the role change's message, shown once
    topic_update(topic=topics["newsletter"], actor=TEST_ACTOR, name="Newsletter 0")
    with CaptureQueriesContext(connection) as few:  # drawn anew: the log has grown
        log.get(AUDIT)
    for n in range(1, 21):
        topic_update(topic=topics["newsletter"], actor=TEST_ACTOR, name=f"Newsletter {n}")
    with CaptureQueriesContext(connection) as many:
        response = log.get(AUDIT)
    assert response.status_code == 200
    assert "Newsletter 20" in response.content.decode()
    assert (
        len(many.captured_queries) == len(few.captured_queries) == 2
    )  # the session with the person; the page
