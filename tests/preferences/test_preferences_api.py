"""GET/PATCH /api/v1/contacts/{external_id}/preferences: the CONTRACT shape, partial updates,
every error (each writing nothing), tenancy, scopes, idempotency and query counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from consent.models import ConsentEvidence
from consent.services import contact_upsert
from preferences.models import Hold
from preferences.selectors import preferences_get
from preferences.services import SubscriptionChange, hold_start, preferences_update
from tests.preferences.conftest import counts, ledger, outbox, stored

URL = "/api/v1/contacts/{}/preferences"
NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
NO_OPT_OUTS = {"email": False, "sms": False, "push": False, "post": False, "phone": False}


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def patch(client, body, contact="cust-1", **headers):
    return client.patch(URL.format(contact), body, format="json", **headers)


def row(topic, channel, status, cadence, options):
    return {
        "topic": topic,
        "channel": channel,
        "status": status,
        "cadence": cadence,
        "cadence_options": options,
    }


def test_get_answers_every_topic_and_allowed_channel(pref_api, contact, topics):
    response = pref_api.get(URL.format("cust-1"))

    assert response.status_code == 200
    assert response.json() == {
        "contact": "cust-1",
        "subscriptions": [
            row("orders", "email", "subscribed", "immediate", ["immediate"]),
            row("orders", "sms", "subscribed", "immediate", ["immediate"]),
            row("newsletter", "email", "not_set", "weekly", ["weekly", "daily", "monthly"]),
            row("newsletter", "sms", "not_set", "weekly", ["weekly", "daily", "monthly"]),
            row("offers", "email", "not_set", "immediate", ["immediate"]),
            row("launches", "email", "not_set", "immediate", ["immediate"]),
        ],
        "unsubscribed_all": NO_OPT_OUTS,
        "holds": [],
    }


def test_patch_changes_only_the_rows_it_names(pref_api, contact, topics, notice_version):
    response = patch(
        pref_api,
        {
            "subscriptions": [
                {
                    "topic": "newsletter",
                    "channel": "sms",
                    "status": "subscribed",
                    "cadence": "monthly",
                    "notice_version": notice_version.public_id,
                }
            ],
            "evidence": {"ip": "203.0.113.77", "user_agent": "CRM"},
        },
    )

    assert response.status_code == 200
    body = response.json()
    assert body["subscriptions"][2:4] == [
        row("newsletter", "email", "not_set", "weekly", ["weekly", "daily", "monthly"]),
        row("newsletter", "sms", "subscribed", "monthly", ["weekly", "daily", "monthly"]),
    ]
    assert body == pref_api.get(URL.format("cust-1")).json()
    assert stored(contact) == {("newsletter", "sms"): ("subscribed", "monthly")}
    assert ledger(contact) == [(1, "email-marketing", "granted", "api", notice_version.public_id)]
    evidence = ConsentEvidence.objects.get()
    assert (evidence.ip, evidence.user_agent) == ("203.0.113.0", "CRM")
    assert evidence.event.recorded_by == f"api_key:{pref_api.api_key.prefix}"
    assert [kind for _, kind, _ in outbox(contact)] == ["consent.granted", "preferences.updated"]

    again = patch(
        pref_api, {"subscriptions": [{"topic": "newsletter", "channel": "sms", "cadence": "daily"}]}
    )
    assert again.json()["subscriptions"][3]["cadence"] == "daily"
    assert len(ledger(contact)) == 1


def test_patch_takes_method_actor_and_occurred_at(pref_api, contact, newsletter, notice_version):
    patch(
        pref_api,
        {
            "subscriptions": [
                {
                    "topic": "newsletter",
                    "channel": "email",
                    "status": "subscribed",
                    "notice_version": notice_version.public_id,
                }
            ],
            "method": "agent",
            "actor": "agent:42",
            "occurred_at": "2026-11-22T09:30:00+01:00",
        },
    )
    [event] = contact.consent_events.all()
    assert (event.method, event.actor, event.occurred_at) == (
        "agent",
        "agent:42",
        NOW - timedelta(minutes=90),
    )


def test_patch_unsubscribe_from_all_and_back(pref_api, contact, topics, notice_version):
    patch(
        pref_api,
        {
            "subscriptions": [
                {
                    "topic": "offers",
                    "channel": "email",
                    "status": "subscribed",
                    "notice_version": notice_version.public_id,
                }
            ]
        },
    )
    off = patch(pref_api, {"unsubscribed_all": {"email": True}}).json()
    assert off["unsubscribed_all"] == {**NO_OPT_OUTS, "email": True}
    assert [r["status"] for r in off["subscriptions"] if r["channel"] == "email"] == [
        "subscribed",  # orders: transactional
        "unsubscribed",
        "unsubscribed",
        "unsubscribed",
    ]
    assert [row[2] for row in ledger(contact)] == ["granted", "withdrawn"]

    with time_machine.travel(NOW + timedelta(minutes=1), tick=False):
        on = patch(pref_api, {"unsubscribed_all": {"email": False}}).json()
    assert on["unsubscribed_all"] == NO_OPT_OUTS
    assert [r["status"] for r in on["subscriptions"] if r["channel"] == "email"][1:] == ["unsubscribed"] * 3


def test_patch_starts_and_ends_an_agents_hold(pref_api, contact, topics):
    started = patch(
        pref_api,
        {
            "holds": [
                {
                    "until": "2026-12-01T00:00:00Z",
                    "reason": "Complaint #1234",
                    "topics": ["offers"],
                    "channels": ["email"],
                }
            ]
        },
    )
    assert started.status_code == 200
    hold = Hold.objects.get()
    assert started.json()["holds"] == [
        {
            "id": hold.public_id,
            "until": "2026-12-01T00:00:00Z",
            "topics": ["offers"],
            "channels": ["email"],
            "started_by": "agent",
            "reason": "Complaint #1234",
            "created_at": "2026-11-22T10:00:00Z",
        }
    ]
    assert hold.recorded_by == f"api_key:{pref_api.api_key.prefix}"

    ended = patch(pref_api, {"holds": [{"id": hold.public_id, "ended": True}]})
    assert ended.json()["holds"] == []
    assert [kind for _, kind, _ in outbox(contact)] == ["hold.started", "hold.ended"]


def test_get_lists_a_customers_snooze(pref_api, contact, topics):
    hold = hold_start(
        brand=contact.brand, external_id="cust-1", started_by="customer", weeks=2, recorded_by="p"
    )
    [listed] = pref_api.get(URL.format("cust-1")).json()["holds"]
    assert listed == {
        "id": hold.public_id,
        "until": "2026-12-06T10:00:00Z",
        "topics": [],
        "channels": [],
        "started_by": "customer",
        "reason": "",
        "created_at": "2026-11-22T10:00:00Z",
    }


def test_an_empty_patch_changes_nothing(pref_api, contact, topics):
    before = counts()
    response = patch(pref_api, {})
    assert response.status_code == 200
    assert counts() == before


FUTURE = "2026-12-01T00:00:00Z"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            {"subscriptions": [{"topic": "nope", "channel": "email", "status": "unsubscribed"}]},
            "subscriptions.0.topic",
        ),
        (
            {"subscriptions": [{"topic": "offers", "channel": "sms", "status": "subscribed"}]},
            "subscriptions.0.channel",
        ),
        (
            {"subscriptions": [{"topic": "offers", "channel": "fax", "status": "subscribed"}]},
            "subscriptions.0.channel",
        ),
        (
            {
                "subscriptions": [
                    {
                        "topic": "newsletter",
                        "channel": "email",
                        "status": "subscribed",
                        "cadence": "immediate",
                    }
                ]
            },
            "subscriptions.0.cadence",
        ),
        (
            {"subscriptions": [{"topic": "offers", "channel": "email", "cadence": "hourly"}]},
            "subscriptions.0.cadence",
        ),
        (
            {"subscriptions": [{"topic": "newsletter", "channel": "email", "status": "subscribed"}]},
            "subscriptions.0.notice_version",
        ),
        (
            {
                "subscriptions": [
                    {
                        "topic": "newsletter",
                        "channel": "email",
                        "status": "subscribed",
                        "notice_version": "nv_x",
                    }
                ]
            },
            "subscriptions.0.notice_version",
        ),
        (
            {"subscriptions": [{"topic": "orders", "channel": "email", "status": "unsubscribed"}]},
            "subscriptions.0.status",
        ),
        (
            {"subscriptions": [{"topic": "offers", "channel": "email", "status": "pending"}]},
            "subscriptions.0.status",
        ),
        ({"subscriptions": [{"topic": "offers", "channel": "email"}]}, "subscriptions.0.status"),
        (
            {"subscriptions": [{"topik": "offers", "channel": "email", "status": "subscribed"}]},
            "subscriptions.0.topik",
        ),
        ({"subscriptions": {"topic": "offers"}}, "subscriptions.non_field_errors"),
        ({"unsubscribed_all": {"fax": True}}, "unsubscribed_all.fax"),
        ({"unsubscribed_all": {"email": "maybe"}}, "unsubscribed_all.email"),
        ({"holds": [{"until": FUTURE}]}, "holds.0.reason"),
        ({"holds": [{"reason": "complaint"}]}, "holds.0.until"),
        ({"holds": [{"until": "2026-11-01T00:00:00Z", "reason": "complaint"}]}, "holds.0.until"),
        ({"holds": [{"until": FUTURE, "reason": "complaint", "topics": ["orders"]}]}, "holds.0.topics"),
        ({"holds": [{"until": FUTURE, "reason": "complaint", "channels": ["fax"]}]}, "holds.0.channels.0"),
        ({"holds": [{"id": "hold_nope", "ended": True}]}, "holds"),
        ({"holds": [{"id": "hold_nope"}]}, "holds.0.ended"),
        ({"holds": [{"weeks": 2}]}, "holds.0.weeks"),
        ({"occurred_at": "2999-01-01T00:00:00Z"}, "occurred_at"),
        ({"occurred_at": "2026-11-20T12:00:00"}, "occurred_at"),
        ({"contact": "cust-2"}, "contact"),
        ({"method": "one_click"}, "method"),
        ({"evidence": {"ip": "300.1.1.1"}}, "evidence.ip"),
        ({"cadence": "weekly"}, "cadence"),
    ],
)
def test_invalid_patches_are_422_naming_the_field_and_write_nothing(
    pref_api, contact, topics, notice_version, body, field
):
    # A valid row beside the bad part proves the whole change is refused, not just the bad part.
    valid = {
        "topic": "offers",
        "channel": "email",
        "status": "subscribed",
        "notice_version": notice_version.public_id,
    }
    if "subscriptions" not in body:
        body = {**body, "subscriptions": [valid]}
    before = counts()
    response = patch(pref_api, body)

    assert response.status_code == 422, response.json()
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "urn:candor:problem:validation-error"
    assert field in problem["errors"], problem["errors"]
    assert counts() == before
    contact.refresh_from_db()
    assert (contact.ledger_sequence, contact.event_sequence) == (0, 0)


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'"text"', b"null"])
def test_malformed_bodies_are_400(pref_api, contact, topics, raw):
    before = counts()
    response = pref_api.patch(URL.format("cust-1"), raw, content_type="application/json")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert counts() == before


def test_unknown_contact_is_404(pref_api, topics):
    assert pref_api.get(URL.format("ghost")).status_code == 404
    response = patch(pref_api, {"unsubscribed_all": {"email": True}}, contact="ghost")
    assert response.status_code == 404
    assert response.json()["type"] == "urn:candor:problem:not-found"


def test_another_brands_contact_is_404_and_its_topics_stay_its_own(
    pref_api, outsider_pref_api, other_brand, contact, topics, notice_version, make_topic, make_purpose
):
    assert outsider_pref_api.get(URL.format("cust-1")).status_code == 404
    assert patch(outsider_pref_api, {"unsubscribed_all": {"email": True}}).status_code == 404

    make_topic(other_brand, "outsider-news", make_purpose(other_brand, "email-marketing"))
    contact_upsert(brand=other_brand, external_id="cust-1")  # a same-named contact of the outsider
    theirs = outsider_pref_api.get(URL.format("cust-1")).json()
    assert [r["topic"] for r in theirs["subscriptions"]] == ["outsider-news"]
    ours = patch(
        pref_api,
        {"subscriptions": [{"topic": "outsider-news", "channel": "email", "status": "unsubscribed"}]},
    )
    assert ours.status_code == 422
    # Our notice version means nothing to the outsider's topic.
    response = patch(
        outsider_pref_api,
        {
            "subscriptions": [
                {
                    "topic": "outsider-news",
                    "channel": "email",
                    "status": "subscribed",
                    "notice_version": notice_version.public_id,
                }
            ]
        },
    )
    assert response.status_code == 422
    assert "subscriptions.0.notice_version" in response.json()["errors"]


@pytest.mark.parametrize(
    ("method", "scopes", "expected"),
    [
        ("get", ["preferences:read"], 200),
        ("get", ["preferences:write", "consent:read"], 403),
        ("patch", ["preferences:write"], 200),
        ("patch", ["preferences:read", "consent:write"], 403),
        ("get", ["admin"], 200),
        ("patch", ["admin"], 200),
    ],
)
def test_scopes(make_client, brand, contact, topics, method, scopes, expected):
    client = make_client(brand, scopes)
    response = getattr(client, method)(URL.format("cust-1"), {}, format="json")
    assert response.status_code == expected
    if expected == 403:
        assert response["Content-Type"] == "application/problem+json"


def test_no_key_is_401(client, db):
    assert client.get(URL.format("cust-1")).status_code == 401
    assert client.patch(URL.format("cust-1"), {}, content_type="application/json").status_code == 401


def test_idempotency_key_replays_refuses_another_body_and_is_not_burnt_by_failure(
    pref_api, contact, topics, notice_version
):
    body = {
        "subscriptions": [
            {
                "topic": "offers",
                "channel": "email",
                "status": "subscribed",
                "notice_version": notice_version.public_id,
            }
        ]
    }
    first = patch(pref_api, body, HTTP_IDEMPOTENCY_KEY="p-1")
    again = patch(pref_api, body, HTTP_IDEMPOTENCY_KEY="p-1")
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert len(ledger(contact)) == 1
    assert len(outbox(contact)) == 2

    other = patch(pref_api, {"unsubscribed_all": {"email": True}}, HTTP_IDEMPOTENCY_KEY="p-1")
    assert other.status_code == 422
    assert "Idempotency-Key" in other.json()["errors"]
    assert stored(contact) == {("offers", "email"): ("subscribed", "immediate")}

    bad = {"subscriptions": [{"topic": "nope", "channel": "email", "status": "subscribed"}]}
    assert patch(pref_api, bad, HTTP_IDEMPOTENCY_KEY="p-2").status_code == 422
    retried = patch(pref_api, bad, HTTP_IDEMPOTENCY_KEY="p-2")
    assert retried.status_code == 422
    assert "Idempotent-Replayed" not in retried


def test_schema_lists_the_preferences_endpoint(client, db):
    paths = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()["paths"]
    operations = paths["/api/v1/contacts/{external_id}/preferences"]
    assert (operations["get"]["operationId"], operations["patch"]["operationId"]) == (
        "preferences_get",
        "preferences_update",
    )


# --- Constant queries -------------------------------------------------------------------------------


def _fill(brand, contact, make_topic, purpose, notice_version, start, stop):
    """Topics on two channels, with stored choices and a hold naming some of them."""
    slugs = [f"topic-{index:02d}" for index in range(start, stop)]
    for index, slug in enumerate(slugs, start=start):
        make_topic(
            brand,
            slug,
            purpose,
            channels=["email", "sms"],
            cadence_options=["daily", "weekly"],
            position=index,
        )
    preferences_update(
        brand=brand,
        external_id=contact.external_id,
        method="api",
        recorded_by="t",
        subscriptions=[
            SubscriptionChange(
                topic=slug, channel="email", status="subscribed", notice_version=notice_version.public_id
            )
            for slug in slugs
        ],
    )
    hold_start(
        brand=brand,
        external_id=contact.external_id,
        started_by="customer",
        weeks=1,
        topics=slugs[:1],
        recorded_by="t",
    )


def test_preferences_read_in_constant_queries_whatever_the_number_of_topics(
    pref_api, brand, contact, purpose, notice_version, make_topic, django_assert_num_queries
):
    _fill(brand, contact, make_topic, purpose, notice_version, 0, 1)
    # topics, subscriptions, consent states, latest withdrawals, opt-outs (one round trip:
    # preferences.statements), holds, hold topics
    with django_assert_num_queries(3):
        assert len(preferences_get(brand=brand, contact=contact).subscriptions) == 2
    pref_api.get(URL.format("cust-1"))  # warm the key
    with CaptureQueriesContext(connection) as one_topic:
        assert pref_api.get(URL.format("cust-1")).status_code == 200

    _fill(brand, contact, make_topic, purpose, notice_version, 1, 20)
    with django_assert_num_queries(3):
        assert len(preferences_get(brand=brand, contact=contact).subscriptions) == 40
    with CaptureQueriesContext(connection) as twenty_topics:
        response = pref_api.get(URL.format("cust-1"))
    assert len(response.json()["subscriptions"]) == 40
    assert len(response.json()["holds"]) == 2
    assert len(twenty_topics.captured_queries) == len(one_topic.captured_queries)
