"""Holds: a customer's snooze or an agent's pause, read as held while active, ending by itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from config.errors import Unprocessable
from consent.models import ConsentEvent
from consent.services import contact_upsert
from preferences import services
from preferences.models import Hold
from preferences.selectors import preferences_get
from sync.models import Event
from tests.preferences.conftest import counts, outbox

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def held(brand, contact, now=None):
    prefs = preferences_get(brand=brand, contact=contact, now=now)
    return {(row.topic.slug, row.channel): row.held for row in prefs.subscriptions}


@pytest.mark.parametrize("weeks", [1, 2, 4, 8])
def test_a_customer_snoozes_for_whole_weeks(brand, contact, topics, weeks):
    hold = services.hold_start(
        brand=brand, external_id="cust-1", started_by="customer", weeks=weeks, recorded_by="page"
    )

    assert (hold.until, hold.started_by, hold.reason, hold.created_at) == (
        NOW + timedelta(weeks=weeks),
        "customer",
        "",
        NOW,
    )
    assert outbox(contact) == [
        (
            1,
            "hold.started",
            {
                "contact": "cust-1",
                "sequence": 1,
                "hold": hold.public_id,
                "until": (NOW + timedelta(weeks=weeks)).strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
                "topics": [],
                "channels": [],
                "started_by": "customer",
            },
        )
    ]
    assert ConsentEvent.objects.count() == 0  # a pause is not a consent decision
    assert held(brand, contact) == {
        ("orders", "email"): False,  # transactional messages are never paused
        ("orders", "sms"): False,
        ("newsletter", "email"): True,
        ("newsletter", "sms"): True,
        ("offers", "email"): True,
        ("launches", "email"): True,
    }


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"started_by": "customer", "weeks": 3}, "hold.weeks"),
        ({"started_by": "customer"}, "hold.weeks"),
        ({"started_by": "customer", "weeks": 1, "until": NOW + timedelta(days=3)}, "hold.weeks"),
        ({"started_by": "agent", "until": NOW + timedelta(days=3)}, "hold.reason"),
        ({"started_by": "agent", "until": NOW + timedelta(days=3), "reason": "  "}, "hold.reason"),
        ({"started_by": "agent", "until": NOW, "reason": "complaint"}, "hold.until"),
        ({"started_by": "agent", "reason": "complaint"}, "hold.until"),
        ({"started_by": "robot", "weeks": 1}, "hold.started_by"),
        ({"started_by": "customer", "weeks": 1, "topics": ["nope"]}, "hold.topics"),
        ({"started_by": "customer", "weeks": 1, "topics": ["orders"]}, "hold.topics"),
        ({"started_by": "customer", "weeks": 1, "channels": ["fax"]}, "hold.channels"),
    ],
)
def test_invalid_holds_are_422_and_write_nothing(brand, contact, topics, kwargs, field):
    before = counts()
    with pytest.raises(Unprocessable) as caught:
        services.hold_start(brand=brand, external_id="cust-1", recorded_by="api", **kwargs)
    assert list(caught.value.errors) == [field]
    assert counts() == before


def test_an_agent_pauses_chosen_topics_and_channels_with_a_reason(brand, contact, topics):
    until = NOW + timedelta(days=10, hours=3)
    hold = services.hold_start(
        brand=brand,
        external_id="cust-1",
        started_by="agent",
        until=until,
        reason=" Complained about frequency ",
        topics=["offers", "newsletter"],
        channels=["sms", "email"],
        recorded_by="api_key:cnd_1",
    )

    assert (hold.reason, hold.recorded_by, hold.channels) == (
        "Complained about frequency",
        "api_key:cnd_1",
        ["email", "sms"],
    )
    [(_, kind, data)] = outbox(contact)
    assert (kind, data["topics"], data["channels"], data["started_by"]) == (
        "hold.started",
        ["offers", "newsletter"],
        ["email", "sms"],
        "agent",
    )
    assert "reason" not in data  # free text stays with the brand, not in every webhook
    assert held(brand, contact) == {
        ("orders", "email"): False,
        ("orders", "sms"): False,
        ("newsletter", "email"): True,
        ("newsletter", "sms"): True,
        ("offers", "email"): True,
        ("launches", "email"): False,
    }
    prefs = preferences_get(brand=brand, contact=contact)
    assert [h.public_id for h in prefs.holds] == [hold.public_id]
    assert {row.held_until for row in prefs.subscriptions if row.held} == {until}


def test_a_hold_limited_to_a_channel(brand, contact, topics):
    services.hold_start(
        brand=brand,
        external_id="cust-1",
        started_by="customer",
        weeks=1,
        channels=["sms"],
        recorded_by="page",
    )
    assert [key for key, value in held(brand, contact).items() if value] == [("newsletter", "sms")]


def test_a_hold_ends_by_itself_when_read_after_until(brand, contact, topics):
    services.hold_start(brand=brand, external_id="cust-1", started_by="customer", weeks=1, recorded_by="page")
    later = NOW + timedelta(weeks=1)
    assert not any(held(brand, contact, now=later).values())
    assert preferences_get(brand=brand, contact=contact, now=later).holds == []
    assert any(held(brand, contact, now=later - timedelta(seconds=1)).values())


def test_ending_a_hold_early(brand, contact, topics):
    hold = services.hold_start(
        brand=brand, external_id="cust-1", started_by="customer", weeks=2, recorded_by="p"
    )
    with time_machine.travel(NOW + timedelta(days=3), tick=False):
        services.hold_end(brand=brand, external_id="cust-1", hold_id=hold.public_id)
        assert not any(held(brand, contact).values())

    hold.refresh_from_db()
    assert (hold.ended_at, hold.end_reason) == (NOW + timedelta(days=3), "ended")
    assert outbox(contact)[-1] == (
        2,
        "hold.ended",
        {
            "contact": "cust-1",
            "sequence": 2,
            "hold": hold.public_id,
            "ended_at": "2026-11-25T10:00:00.000000Z",
            "reason": "ended",
        },
    )
    services.hold_end(brand=brand, external_id="cust-1", hold_id=hold.public_id)  # again: nothing new
    assert len(outbox(contact)) == 2


def test_ending_another_contacts_hold_is_422(brand, contact, topics):
    contact_upsert(brand=brand, external_id="cust-2")
    hold = services.hold_start(
        brand=brand, external_id="cust-2", started_by="customer", weeks=1, recorded_by="p"
    )
    with pytest.raises(Unprocessable) as caught:
        services.hold_end(brand=brand, external_id="cust-1", hold_id=hold.public_id)
    assert list(caught.value.errors) == ["hold"]
    assert Hold.objects.get().ended_at is None


def test_holds_end_expired_marks_them_and_announces_each_once(brand, contact, topics):
    contact_upsert(brand=brand, external_id="cust-2")
    short = services.hold_start(
        brand=brand, external_id="cust-1", started_by="customer", weeks=1, recorded_by="p"
    )
    long = services.hold_start(
        brand=brand, external_id="cust-1", started_by="customer", weeks=4, recorded_by="p"
    )
    other = services.hold_start(
        brand=brand, external_id="cust-2", started_by="customer", weeks=2, recorded_by="p"
    )

    assert services.holds_end_expired(now=NOW + timedelta(days=6)) == 0
    assert services.holds_end_expired(now=NOW + timedelta(weeks=3)) == 2
    assert services.holds_end_expired(now=NOW + timedelta(weeks=3)) == 0  # idempotent

    for hold in (short, long, other):
        hold.refresh_from_db()
    assert (short.ended_at, short.end_reason) == (NOW + timedelta(weeks=1), "expired")  # ended at its until
    assert (other.ended_at, other.end_reason) == (NOW + timedelta(weeks=2), "expired")
    assert (long.ended_at, long.end_reason) == (None, "")
    assert [(seq, kind, data["hold"], data.get("reason")) for seq, kind, data in outbox(contact)] == [
        (1, "hold.started", short.public_id, None),
        (2, "hold.started", long.public_id, None),
        (3, "hold.ended", short.public_id, "expired"),
    ]
    assert Event.objects.get(contact_ref=contact.pk, sequence=3).occurred_at == NOW + timedelta(weeks=1)
    [*_, (_, kind, data)] = outbox(other.contact)
    assert (kind, data["ended_at"]) == ("hold.ended", "2026-12-06T10:00:00.000000Z")
