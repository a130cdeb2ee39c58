"""The preference centre's reads: the one-statement JSON reading (PostgreSQL) gives exactly the
model instances the statement-per-table reading gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import time_machine
from django.db import models

from consent.services import consent_record
from preferences import statements
from preferences.services import SubscriptionChange, channel_unsubscribe_all, hold_start, preferences_update

NOW = datetime(2026, 11, 22, 10, 0, 0, 123456, tzinfo=UTC)  # microseconds survive both readings


def values(instance: models.Model) -> dict[str, Any]:
    """Every column's value, as the ORM would hold it (instances compare by primary key only)."""
    return {field.attname: getattr(instance, field.attname) for field in instance._meta.concrete_fields}


def readable(rows: statements.CentreRows) -> dict[str, Any]:
    snapshot = rows.snapshot
    return {
        "topics": [values(topic) for topic in snapshot.topics],
        "subscriptions": {key: values(row) for key, row in snapshot.rows.items()},
        "states": {key: values(state) for key, state in snapshot.states.items()},
        "last_withdrawn": snapshot.last_withdrawn,
        "opt_outs": {key: values(row) for key, row in snapshot.opt_outs.items()},
        "holds": [(values(hold), [topic.pk for topic in hold.topics.all()]) for hold in rows.holds],
        "purposes": [
            (values(item.purpose), [values(version) for version in item.versions]) for item in rows.purposes
        ],
        "now": rows.now,
    }


def test_both_readings_of_the_centre_agree_field_for_field(
    brand, contact, purpose, notice_version, newsletter, offers, orders
):
    with time_machine.travel(NOW, tick=False):
        preferences_update(
            brand=brand,
            external_id="cust-1",
            method="api",
            recorded_by="test",
            subscriptions=[
                SubscriptionChange(
                    topic="newsletter",
                    channel="sms",
                    status="subscribed",
                    cadence="monthly",
                    notice_version=notice_version.public_id,
                ),
                SubscriptionChange(topic="offers", channel="email", status="unsubscribed"),
            ],
        )
    with time_machine.travel(NOW + timedelta(hours=1), tick=False):
        consent_record(
            brand=brand,
            external_id="cust-1",
            purpose_slug=purpose.slug,
            decision="withdrawn",
            notice_version_id=None,
            method="api",
            recorded_by="test",
        )
        channel_unsubscribe_all(
            brand=brand, external_id="cust-1", channel="sms", method="api", recorded_by="t"
        )
        hold_start(
            brand=brand,
            external_id="cust-1",
            started_by="agent",
            recorded_by="test",
            until=NOW + timedelta(days=9),
            reason="complaint",
            topics=["newsletter", "offers"],
            channels=["email"],
        )
        hold_start(brand=brand, external_id="cust-1", started_by="customer", weeks=2, recorded_by="test")
    now = NOW + timedelta(hours=2)

    _, _, read_once = statements.brand_contact_and_centre(
        slug=brand.slug, brand_id=brand.pk, contact_id=contact.pk, now=now
    )
    statements.brand_configs_forget()
    by_table = statements.centre_rows(contact=contact, now=now)

    assert read_once is not None
    assert readable(read_once) == readable(by_table)
    read = readable(read_once)
    assert len(read["subscriptions"]) == 2
    assert len(read["states"]) == 1
    assert list(read["last_withdrawn"].values()) == [NOW + timedelta(hours=1)]
    assert set(read["opt_outs"]) == {"sms"}
    assert [topics for _, topics in read["holds"]] == [[newsletter.pk, offers.pk], []]
