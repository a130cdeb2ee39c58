"""The Overview page: the dashboard for every role, figures linked to the rows behind them only
where the role may open those rows, the period as a checked GET form, and a number of queries
that does not grow with the brand's data."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from console.rollups import rollups_refresh
from preferences.services import SubscriptionChange, preferences_update
from tests.conftest import current_version
from tests.console.conftest import decide

pytestmark = pytest.mark.django_db(transaction=True)

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
ROWS_LINK = re.compile(r'href="(/console/acme/rows/[^"]*)"')


@pytest.fixture
def history(brand, purpose, topics, contacts):
    """Two customers: a grant and a newsletter subscription; then a one-click withdrawal."""
    contacts(2)
    nv = current_version(purpose).public_id
    with time_machine.travel(NOW, tick=False):
        decide(brand, "cust-1", purpose, "granted")
        preferences_update(
            brand=brand,
            external_id="cust-2",
            method="preference_centre",
            recorded_by="page",
            subscriptions=[
                SubscriptionChange("newsletter", "email", "subscribed", "daily", notice_version=nv)
            ],
        )
        decide(brand, "cust-2", purpose, "withdrawn", method="one_click")
        rollups_refresh(brand=brand, now=NOW)


def posting_forms(page: str) -> list[str]:
    """Where each form of the page that POSTs goes."""
    forms = re.findall(r"<form[^>]*>", page)
    return sorted(re.search(r'action="([^"]*)"', f)[1] for f in forms if 'method="post"' in f)


def overview_of(client, query: str = "") -> tuple[int, str]:
    with time_machine.travel(NOW, tick=False):
        response = client.get(f"/console/acme/{query}")
    return response.status_code, response.content.decode()


@pytest.mark.parametrize("role", ["owner", "support"])
def test_owners_and_support_see_each_figure_linked_to_its_rows(brand, history, make_staff, signed_in, role):
    status, page = overview_of(signed_in(make_staff(brand, role)))

    assert status == 200
    assert 'id="chart-optin"' in page  # the charts are there
    links = {link.replace("&amp;", "&") for link in ROWS_LINK.findall(page)}
    assert "/console/acme/rows/contacts/?purpose=email-marketing&consent=granted" in links
    assert "/console/acme/rows/contacts/?topic=newsletter&channel=email&subscription=active" in links
    assert "/console/acme/rows/contacts/?cadence=daily" in links
    assert "/console/acme/rows/contacts/?subscription=pending" in links
    assert "/console/acme/rows/consent-events/?purpose=email-marketing&day=2026-11-22" in links
    assert (
        "/console/acme/rows/consent-events/?decision=withdrawn&source=one_click&from=2026-10-24&to=2026-11-22"
        in links
    )
    # Every link it offers opens.
    client = signed_in(make_staff(brand, role, f"again-{role}@acme.test"))
    for link in links:
        assert client.get(link).status_code == 200, link


@pytest.mark.parametrize("role", ["editor", "viewer"])
def test_editors_and_viewers_see_the_figures_without_links(brand, history, make_staff, signed_in, role):
    client = signed_in(make_staff(brand, role))
    status, page = overview_of(client)

    assert status == 200
    assert 'id="chart-optin"' in page
    assert "/rows/" not in page
    assert posting_forms(page) == ["/console/account/logout/", "/console/language/"]  # nothing of the brand's
    assert client.get("/console/acme/rows/contacts/").status_code == 403
    assert client.get("/console/acme/rows/consent-events/").status_code == 403


def test_the_period_is_a_get_form_and_a_bad_one_is_400(brand, history, make_staff, signed_in):
    client = signed_in(make_staff(brand, "viewer"))

    status, page = overview_of(client, "?days=7")
    assert status == 200
    assert "for 16 November 2026 to 22 November 2026" in page
    assert '<option value="7" selected>' in page

    status, page = overview_of(client)
    assert status == 200
    assert "for 24 October 2026 to 22 November 2026" in page  # 30 days by default

    for bad in ("?days=5", "?days=abc", "?days=10000"):
        status, page = overview_of(client, bad)
        assert status == 400, bad
        assert 'class="error-summary"' in page
        assert 'href="#period-days"' in page
        assert "for 24 October 2026 to 22 November 2026" in page  # the default period, shown


def test_the_overview_costs_the_same_queries_whatever_the_data(
    brand, purpose, news_purpose, topics, contacts, make_staff, signed_in
):
    client = signed_in(make_staff(brand, "owner"))
    with time_machine.travel(NOW, tick=False):
        rollups_refresh(brand=brand, now=NOW)
    overview_of(client)  # the session and caches settle
    with CaptureQueriesContext(connection) as empty:
        overview_of(client)

    contacts(12)
    nv = current_version(purpose).public_id
    with time_machine.travel(NOW, tick=False):
        for n in range(1, 13):
            decide(brand, f"cust-{n}", purpose if n % 2 else news_purpose, "granted")
            preferences_update(
                brand=brand,
                external_id=f"cust-{n}",
                method="preference_centre",
                recorded_by="page",
                subscriptions=[
                    SubscriptionChange("newsletter", "email", "subscribed", "weekly", notice_version=nv),
                    SubscriptionChange("offers", "email", "subscribed", "immediate", notice_version=nv),
                ],
            )
        for n in range(1, 5):
            decide(brand, f"cust-{n}", purpose, "withdrawn", method="one_click" if n % 2 else "api")
        rollups_refresh(brand=brand, now=NOW)
    with CaptureQueriesContext(connection) as full:
        status, page = overview_of(client)

    assert status == 200
    assert ">12<" in page or ">6<" in page  # the figures grew
    assert len(full.captured_queries) == len(empty.captured_queries)
