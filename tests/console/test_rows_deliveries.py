"""The webhook deliveries behind the Overview's health figures: exactly the deliveries each
figure counts (waiting, a failed attempt in the last day, delivered in the last hour), of one
endpoint or all the brand's, newest first in keyset pages of a constant number of queries,
for owners and support only, nothing of another brand, and a precise 400 for a bad filter."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from console.rollups import endpoints_health_refresh
from sync.models import Attempt, Delivery, Endpoint

pytestmark = pytest.mark.django_db(transaction=True)

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
DELIVERIES = "/console/acme/rows/deliveries/"
ROWS_LINK = re.compile(r'href="(/console/acme/rows/deliveries/[^"]*)"')


def delivery(
    endpoint: Endpoint, status: str, *attempts: tuple[timedelta, str], code: int | None = None
) -> str:
    """A delivery with attempts that started `ago` before NOW, with their outcomes."""
    made = Delivery.objects.create(
        endpoint=endpoint, msg_id=f"m{Delivery.objects.count()}", type="consent.granted", body="{}",
        status=status, next_attempt_at=NOW, attempt_count=len(attempts),
    )  # fmt: skip
    for number, (ago, outcome) in enumerate(attempts, start=1):
        Attempt.objects.create(
            delivery=made, number=number, started_at=NOW - ago, duration_ms=10, outcome=outcome,
            status_code=code,
        )  # fmt: skip
    return made.public_id


@pytest.fixture
def hooks(brand, other_brand):
    """Two endpoints of ours (the second's URL carries a token in its query), one of theirs."""
    ok = Endpoint.objects.create(brand=brand, url="https://hooks.example/ok")
    down = Endpoint.objects.create(brand=brand, url="https://hooks.example/down?token=s3cret")
    theirs = Endpoint.objects.create(brand=other_brand, url="https://hooks.example/theirs")
    made = {
        "ok-recent": delivery(ok, "succeeded", (timedelta(minutes=30), "succeeded"), code=200),
        "ok-old": delivery(ok, "succeeded", (timedelta(hours=2), "succeeded"), code=200),
        "ok-waiting": delivery(ok, "pending"),
        "down-old-failure": delivery(down, "failed", (timedelta(hours=25), "failed"), code=500),
        "down-failing": delivery(
            down, "pending", (timedelta(minutes=19), "failed"), (timedelta(minutes=5), "failed"), code=503
        ),
        "down-recovered": delivery(
            down, "succeeded", (timedelta(hours=3), "failed"), (timedelta(minutes=10), "succeeded"), code=200
        ),
        "theirs": delivery(theirs, "pending", (timedelta(minutes=1), "failed"), code=500),
        "theirs-ok": delivery(theirs, "succeeded", (timedelta(minutes=1), "succeeded"), code=200),
    }
    endpoints_health_refresh(brand=brand, now=NOW)
    return ok, down, made


def rows(page: str) -> list[list[str]]:
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


def test_each_figure_lists_exactly_its_deliveries_newest_first(hooks, support):
    ok, down, made = hooks
    expected = {
        f"figure=waiting&endpoint={ok.public_id}": ["ok-waiting"],
        f"figure=waiting&endpoint={down.public_id}": ["down-failing"],
        "figure=waiting": ["ok-waiting", "down-failing"],
        # A failed attempt 3 hours ago counts, though the delivery succeeded after it.
        f"figure=failed-24h&endpoint={down.public_id}": ["down-failing", "down-recovered"],
        "figure=failed-24h": ["down-failing", "down-recovered"],
        f"figure=delivered-1h&endpoint={ok.public_id}": ["ok-recent"],
        "figure=delivered-1h": ["ok-recent", "down-recovered"],
    }
    by_id = {public_id: name for name, public_id in made.items()}
    for query, names in expected.items():
        status, page = get(support, f"{DELIVERIES}?{query}")
        assert status == 200, query
        listed = rows(page)
        # Newest first: the later a delivery was made, the earlier it is listed.
        newest_first = sorted(names, key=list(made).index, reverse=True)
        assert [by_id[row[0]] for row in listed] == newest_first, query


def test_a_row_shows_the_latest_attempt_and_the_endpoint_without_its_query(hooks, support):
    _ok, down, made = hooks
    status, page = get(support, f"{DELIVERIES}?figure=waiting&endpoint={down.public_id}")

    assert status == 200
    assert rows(page) == [
        [
            made["down-failing"],
            rows(page)[0][1],  # created now, by the database's clock
            "https://hooks.example/down?…",
            "consent.granted",
            "Pending",
            "2",
            "2026-11-22 11:55:00",
            "Failed (503)",
        ]
    ]
    assert "s3cret" not in page
    assert "{}" not in page.split("<tbody>", 1)[1]  # no body


def test_keyset_pages_walk_every_delivery_once_in_constant_queries(brand, support, monkeypatch):
    monkeypatch.setattr("console.views.rows.PAGE_SIZE", 3)
    endpoint = Endpoint.objects.create(brand=brand, url="https://hooks.example/many")
    made = [delivery(endpoint, "pending", (timedelta(minutes=n + 1), "failed")) for n in range(10)]
    url = f"{DELIVERIES}?figure=failed-24h&endpoint={endpoint.public_id}"
    seen: list[str] = []
    counts = []
    while url:
        with CaptureQueriesContext(connection) as queries:
            status, page = get(support, url)
        assert status == 200
        counts.append(len(queries))
        seen += [row[0] for row in rows(page)]
        found = re.search(r'href="([^"]+)" rel="next"', page)
        url = found[1].replace("&amp;", "&") if found else ""
        if url:
            assert f"endpoint={endpoint.public_id}" in url
            assert "figure=failed-24h" in url
    assert seen == made[::-1]
    assert len(counts) == 4
    assert len(set(counts)) == 1, counts  # a full page costs what a short one does


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?figure=everything", "Select a valid choice. everything is not one of the available choices."),
        (
            "?figure=waiting&endpoint=ep_nope",
            "Select a valid choice. ep_nope is not one of the available choices.",
        ),
        ("?figure=waiting&after=12x", "This page position is not one the console wrote."),
    ],
)
def test_a_bad_filter_is_a_400_that_names_it(hooks, support, query, message):
    status, page = get(support, f"{DELIVERIES}{query}")
    assert status == 400
    assert message in page
    assert "<tbody>" not in page


def test_without_a_figure_the_page_lists_the_waiting_deliveries(hooks, support):
    _ok, _down, made = hooks
    status, page = get(support, DELIVERIES)
    assert status == 200
    assert [row[0] for row in rows(page)] == [made["down-failing"], made["ok-waiting"]]


def test_another_brands_endpoint_is_not_a_choice(brand, other_brand, hooks, support):
    theirs = Endpoint.objects.get(brand=other_brand)
    status, page = get(support, f"{DELIVERIES}?figure=waiting&endpoint={theirs.public_id}")
    assert status == 400
    assert "theirs" not in page


@pytest.mark.parametrize(("role", "expected"), [("editor", 403), ("viewer", 403), ("owner", 200)])
def test_only_owners_and_support_open_the_deliveries(brand, hooks, make_staff, signed_in, role, expected):
    status, _page = get(signed_in(make_staff(brand, role)), f"{DELIVERIES}?figure=waiting")
    assert status == expected


def test_an_outsider_gets_404(other_brand, hooks, make_staff, signed_in):
    status, _page = get(signed_in(make_staff(other_brand, "owner")), f"{DELIVERIES}?figure=waiting")
    assert status == 404


@pytest.mark.parametrize("role", ["owner", "support"])
def test_the_overviews_webhook_figures_link_to_their_deliveries(brand, hooks, make_staff, signed_in, role):
    ok, down, _made = hooks
    client = signed_in(make_staff(brand, role))
    status, page = get(client, "/console/acme/")

    assert status == 200
    links = {link.replace("&amp;", "&") for link in ROWS_LINK.findall(page)}
    assert links == {
        f"{DELIVERIES}?figure=waiting",
        f"{DELIVERIES}?figure=failed-24h",
        *(
            f"{DELIVERIES}?figure={figure}&endpoint={endpoint.public_id}"
            for figure in ("waiting", "failed-24h", "delivered-1h")
            for endpoint in (ok, down)
        ),
    }
    for link in links:
        assert get(client, link)[0] == 200, link


@pytest.mark.parametrize("role", ["editor", "viewer"])
def test_editors_and_viewers_see_the_webhook_figures_without_links(brand, hooks, make_staff, signed_in, role):
    status, page = get(signed_in(make_staff(brand, role)), "/console/acme/")
    assert status == 200
    assert "/rows/deliveries/" not in page
