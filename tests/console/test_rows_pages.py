"""The rows behind the Overview's figures: the ledger's events and the counted contacts, exactly
the rows each figure counts, filtered, in keyset pages, external ids only, nothing of another
brand, and a precise 400 for every bad filter."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from consent.models import ConsentEvent
from consent.services import contact_upsert
from console.models import UnsubscribeSource
from console.rollups import rollups_refresh, unsubscribe_source
from preferences.services import SubscriptionChange, hold_start, preferences_update
from tests.conftest import current_version
from tests.console.conftest import decide

pytestmark = pytest.mark.django_db(transaction=True)

DAY1 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
DAY2 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
EVENTS = "/console/acme/rows/consent-events/"
CONTACTS = "/console/acme/rows/contacts/"

# One withdrawal from each source: (contact, method, recorded_by, GPC in the evidence).
WITHDRAWALS = {
    "cust-1": ("one_click", "one-click", None),
    "cust-2": ("api", "key", None),
    "cust-3": ("import", "key", None),
    "cust-4": ("preference_centre", "page", True),  # the page saw a GPC signal
    "cust-5": ("agent", "console", None),
    "cust-6": ("api", "connector:hubspot", None),
    "cust-7": ("preference_centre", "page", None),
    "cust-8": ("sms", "twilio", None),
    "cust-9": ("gpc", "page", None),
}


@pytest.fixture
def ledger(brand, other_brand, purpose, news_purpose, make_purpose, contacts):
    """Grants on day 1, one withdrawal per source on day 2; the other brand the same, by the
    same external ids and purpose slug."""
    contacts(9)
    theirs = make_purpose(other_brand, "email-marketing")
    contacts(9, brand_=other_brand)
    # The clock ticks: each event is recorded after the one before.
    for owner, marketing in ((brand, purpose), (other_brand, theirs)):
        with time_machine.travel(DAY1):
            for n in range(1, 10):
                decide(owner, f"cust-{n}", marketing, "granted")
        with time_machine.travel(DAY2):
            for external_id, (method, recorded_by, gpc) in WITHDRAWALS.items():
                decide(
                    owner,
                    external_id,
                    marketing,
                    "withdrawn",
                    method=method,
                    recorded_by=recorded_by,
                    gpc=gpc,
                )
    with time_machine.travel(DAY2.replace(hour=11)):
        decide(brand, "cust-1", news_purpose, "granted")
    with time_machine.travel(NOW, tick=False):
        rollups_refresh(brand=brand, now=NOW)


def rows(page: str) -> list[list[str]]:
    """The cells of the page's table body, as text."""
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [
        [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


def get(client, url: str) -> tuple[int, str]:
    with time_machine.travel(NOW, tick=False):
        response = client.get(url)
    return response.status_code, response.content.decode()


@pytest.fixture
def support(brand, make_staff, signed_in):
    return signed_in(make_staff(brand, "support"))


def test_a_days_events_of_a_purpose_newest_first(ledger, support):
    status, page = get(support, f"{EVENTS}?purpose=email-marketing&day=2026-11-20")

    assert status == 200
    listed = rows(page)
    assert [row[1] for row in listed] == [f"cust-{n}" for n in range(9, 0, -1)]
    assert {(row[0][:10], row[2], row[3], row[4]) for row in listed} == {
        ("2026-11-20", "Email Marketing", "Granted", "API")
    }
    assert "Recorded from 20 November 2026 to 20 November 2026 (UTC)" in page


def test_each_unsubscribe_source_lists_exactly_the_withdrawals_its_figure_counts(brand, ledger, support):
    by_source: dict[str, set[str]] = {source: set() for source in UnsubscribeSource.values}
    for event in ConsentEvent.objects.filter(brand=brand, decision="withdrawn").select_related(
        "contact", "evidence"
    ):
        source = unsubscribe_source(
            method=event.method, recorded_by=event.recorded_by, gpc=event.evidence.gpc
        )
        by_source[source].add(event.contact.external_id)
    assert by_source == {
        "one_click": {"cust-1"},
        "api": {"cust-2", "cust-3"},
        "gpc": {"cust-4", "cust-9"},
        "support": {"cust-5"},
        "connector": {"cust-6"},
        "hosted_page": {"cust-7"},
        "sms": {"cust-8"},
    }
    for source, expected in by_source.items():
        status, page = get(
            support, f"{EVENTS}?decision=withdrawn&source={source}&from=2026-10-24&to=2026-11-22"
        )
        assert status == 200, source
        assert {row[1] for row in rows(page)} == expected, source


def test_keyset_pages_walk_every_event_once(ledger, support, monkeypatch):
    monkeypatch.setattr("console.views.rows.PAGE_SIZE", 4)
    seen: list[str] = []
    url = f"{EVENTS}?purpose=email-marketing&from=2026-11-20&to=2026-11-21"
    pages = 0
    while url:
        status, page = get(support, url)
        assert status == 200
        seen += [f"{row[1]} {row[3]}" for row in rows(page)]
        pages += 1
        found = re.search(r'href="([^"]+)" rel="next"', page)
        url = found[1].replace("&amp;", "&") if found else ""
        if url:
            assert "purpose=email-marketing" in url  # the filters travel with the position
    assert pages == 5
    assert len(seen) == len(set(seen)) == 18
    assert seen[:9] == [f"cust-{n} Withdrawn" for n in range(9, 0, -1)]


def test_the_counted_contacts_behind_the_figures(brand, purpose, topics, contacts, support):
    contacts(4)
    nv = current_version(purpose).public_id
    with time_machine.travel(DAY1, tick=False):
        for n, cadence in ((1, "daily"), (2, "weekly"), (3, "daily")):
            preferences_update(
                brand=brand,
                external_id=f"cust-{n}",
                method="preference_centre",
                recorded_by="page",
                subscriptions=[
                    SubscriptionChange("newsletter", "email", "subscribed", cadence, notice_version=nv)
                ],
            )
        preferences_update(
            brand=brand,
            external_id="cust-4",
            method="preference_centre",
            recorded_by="page",
            subscriptions=[SubscriptionChange("newsletter", "email", "unsubscribed", "daily")],
        )
        decide(brand, "cust-1", purpose, "granted")
        hold_start(
            brand=brand,
            external_id="cust-3",
            started_by="agent",
            recorded_by="console",
            until=NOW.replace(month=12),
            reason="complaint",
        )
    with time_machine.travel(NOW, tick=False):
        rollups_refresh(brand=brand, now=NOW)

    status, page = get(support, f"{CONTACTS}?topic=newsletter&channel=email&subscription=active")
    assert status == 200
    assert rows(page) == [
        ["cust-1", "Newsletter", "Email", "Active", "Daily digest"],
        ["cust-2", "Newsletter", "Email", "Active", "Weekly digest"],
    ]
    # A cadence's figure counts active and paused subscriptions, and so does its list.
    status, page = get(support, f"{CONTACTS}?cadence=daily")
    assert [row[:1] + row[3:] for row in rows(page)] == [
        ["cust-1", "Active", "Daily digest"],
        ["cust-3", "Paused", "Daily digest"],
    ]
    status, page = get(support, f"{CONTACTS}?subscription=unsubscribed")
    assert [row[0] for row in rows(page)] == ["cust-4"]
    status, page = get(support, f"{CONTACTS}?purpose=email-marketing&consent=granted")
    # Subscribing under the notice granted the topic's purpose too.
    assert rows(page) == [[f"cust-{n}", "Email Marketing", "Granted"] for n in (1, 2, 3)]
    status, page = get(support, f"{CONTACTS}?purpose=email-marketing&consent=not_granted")
    assert rows(page) == [["No contacts match these filters."]]
    assert "@" not in "".join(cell for row in rows(page) for cell in row)


def test_nothing_of_another_brand_and_no_addresses(
    brand, other_brand, ledger, support, make_staff, signed_in
):
    contact_upsert(brand=brand, external_id="cust-1", email="ada@example.com", phone="+14155550142")
    status, page = get(support, f"{EVENTS}?from=2026-11-01&to=2026-11-22")
    assert status == 200
    assert len(rows(page)) == 9 + 9 + 1  # ours alone: grants, withdrawals, the news grant
    assert "ada@example.com" not in page
    assert "+14155550142" not in page

    # The other brand's purposes are not even a choice here.
    theirs = signed_in(make_staff(other_brand, "support", "support@outsider.test"))
    status, page = get(theirs, EVENTS.replace("acme", "outsider") + "?purpose=product-news")
    assert status == 400
    assert 'href="#filter-purpose"' in page
    assert get(theirs, EVENTS.replace("acme", "outsider"))[0] == 200
    assert get(theirs, EVENTS)[0] == 404


@pytest.mark.parametrize(
    ("url", "field"),
    [
        (f"{EVENTS}?purpose=nope", "filter-purpose"),
        (f"{EVENTS}?decision=maybe", "filter-decision"),
        (f"{EVENTS}?source=pigeon", "filter-source"),
        (f"{EVENTS}?from=2026-13-01", "filter-from"),
        (f"{EVENTS}?from=2026-11-22&to=2026-11-01", "filter-to"),
        (f"{EVENTS}?from=2020-01-01&to=2026-11-01", "filter-to"),
        (f"{EVENTS}?after=12.not-a-uuid", "filter-after"),
        (f"{EVENTS}?after=99999999999999999999999.{'0' * 32}", "filter-after"),
        (f"{CONTACTS}?subscription=sleeping", "filter-subscription"),
        (f"{CONTACTS}?purpose=email-marketing&topic=newsletter&consent=granted", "filter-purpose"),
        (f"{CONTACTS}?purpose=email-marketing", "filter-consent"),
        (f"{CONTACTS}?after=-3", "filter-after"),
        (f"{CONTACTS}?channel=pigeon", "filter-channel"),
    ],
)
def test_a_bad_filter_is_a_400_that_names_it(ledger, topics, support, url, field):
    status, page = get(support, url)
    assert status == 400
    assert 'class="error-summary"' in page
    assert f'href="#{field}"' in page


def test_a_rows_page_costs_the_same_queries_whatever_the_data(brand, purpose, contacts, support):
    url = f"{EVENTS}?from=2026-11-01&to=2026-11-22"
    get(support, url)
    with CaptureQueriesContext(connection) as few:
        get(support, url)
    contacts(30)
    with time_machine.travel(DAY1, tick=False):
        for n in range(1, 31):
            decide(brand, f"cust-{n}", purpose, "granted")
    with CaptureQueriesContext(connection) as many:
        status, page = get(support, url)
    assert status == 200
    assert len(rows(page)) == 30
    assert len(many.captured_queries) == len(few.captured_queries)
