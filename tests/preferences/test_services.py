"""Every rule of the preference services: exact ledger rows, exact outbox Events, and what a
rejected or superseded change must not have written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from config.errors import NotFound, Unprocessable
from consent.models import ConsentEvidence, ConsentState
from consent.services import EvidenceInput, consent_record, notice_version_publish
from consent.verification import ledger_verify
from preferences import services, topics
from preferences.models import ChannelOptOut, Subscription
from preferences.selectors import preferences_get
from preferences.services import SubscriptionChange
from tests.actors import TEST_ACTOR
from tests.preferences.conftest import counts, ledger, outbox, stored

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
AT = "2026-11-22T10:00:00.000000Z"


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def update(brand, contact="cust-1", method="preference_centre", **kwargs):
    return services.preferences_update(
        brand=brand, external_id=contact, method=method, recorded_by="page:test", **kwargs
    )


def change(topic, channel="email", status="subscribed", **kwargs):
    return SubscriptionChange(topic=topic, channel=channel, status=status, **kwargs)


def subscribed(brand, notice_version, *rows, **kwargs):
    """Subscribe the named (topic, channel) rows, naming the notice on the first."""
    changes = [
        change(topic, channel, notice_version=notice_version.public_id if index == 0 else None)
        for index, (topic, channel) in enumerate(rows)
    ]
    return update(brand, subscriptions=changes, **kwargs)


def reading(brand, contact):
    prefs = preferences_get(brand=brand, contact=contact)
    return {(row.topic.slug, row.channel): row.status for row in prefs.subscriptions}


def updated(sequence, rows, unsubscribed_all=None, at=AT):
    return (
        sequence,
        "preferences.updated",
        {
            "contact": "cust-1",
            "sequence": sequence,
            "subscriptions": [
                {"topic": topic, "channel": channel, "status": status, "cadence": cadence}
                for topic, channel, status, cadence in rows
            ],
            "unsubscribed_all": unsubscribed_all or {},
            "occurred_at": at,
        },
    )


# --- Subscribing ----------------------------------------------------------------------------


def test_subscribing_without_consent_records_the_grant_with_the_notice_and_evidence(
    brand, contact, newsletter, notice_version
):
    result = update(
        brand,
        subscriptions=[change("newsletter", notice_version=notice_version.public_id)],
        evidence=EvidenceInput(ip="203.0.113.0", user_agent="Firefox", page_url="https://p.example/prefs"),
    )

    assert ledger(contact) == [
        (1, "email-marketing", "granted", "preference_centre", notice_version.public_id)
    ]
    [event] = result.consent_events
    assert (event.actor, event.recorded_by, event.occurred_at) == ("subject", "page:test", NOW)
    evidence = ConsentEvidence.objects.get(event=event)
    assert (evidence.ip, evidence.user_agent, evidence.page_url) == (
        "203.0.113.0",
        "Firefox",
        "https://p.example/prefs",
    )
    assert stored(contact) == {("newsletter", "email"): ("subscribed", "weekly")}  # first cadence offered
    row = Subscription.objects.get()
    assert (row.occurred_at, row.notice_version_id, row.brand_id) == (NOW, None, brand.pk)
    assert [(seq, kind) for seq, kind, _ in outbox(contact)] == [
        (1, "consent.granted"),
        (2, "preferences.updated"),
    ]
    assert outbox(contact)[1] == updated(2, [("newsletter", "email", "subscribed", "weekly")])
    assert [e.type for e in result.events] == ["preferences.updated"]
    contact.refresh_from_db()
    assert (contact.ledger_sequence, contact.event_sequence) == (1, 2)
    assert "ada@example.com" not in str(outbox(contact))
    assert result.pending == []
    assert ledger_verify().ok


def test_subscribing_without_the_notice_version_is_422_and_writes_nothing(brand, contact, newsletter):
    before = counts()
    with pytest.raises(Unprocessable) as caught:
        update(brand, subscriptions=[change("newsletter")])

    assert list(caught.value.errors) == ["subscriptions.0.notice_version"]
    assert counts() == before
    contact.refresh_from_db()
    assert (contact.ledger_sequence, contact.event_sequence) == (0, 0)


def test_subscribing_with_consent_already_granted_records_no_second_grant(
    brand, contact, newsletter, offers, notice_version
):
    subscribed(brand, notice_version, ("newsletter", "email"))
    update(brand, subscriptions=[change("offers")])  # no notice needed any more

    assert ledger(contact) == [
        (1, "email-marketing", "granted", "preference_centre", notice_version.public_id)
    ]
    assert stored(contact) == {
        ("newsletter", "email"): ("subscribed", "weekly"),
        ("offers", "email"): ("subscribed", "immediate"),
    }
    assert outbox(contact)[2] == updated(3, [("offers", "email", "subscribed", "immediate")])


def test_several_rows_of_one_purpose_record_one_grant(brand, contact, newsletter, offers, notice_version):
    subscribed(brand, notice_version, ("newsletter", "email"), ("newsletter", "sms"), ("offers", "email"))

    assert ledger(contact) == [
        (1, "email-marketing", "granted", "preference_centre", notice_version.public_id)
    ]
    assert outbox(contact) == [
        outbox(contact)[0],
        updated(
            2,
            [
                ("newsletter", "email", "subscribed", "weekly"),
                ("newsletter", "sms", "subscribed", "weekly"),
                ("offers", "email", "subscribed", "immediate"),
            ],
        ),
    ]


def test_notice_version_of_another_purpose_or_unknown_is_422(
    brand, contact, newsletter, launches, news_version
):
    before = counts()
    for version in (news_version.public_id, "nv_unknown"):
        with pytest.raises(Unprocessable) as caught:
            update(brand, subscriptions=[change("newsletter", notice_version=version)])
        assert list(caught.value.errors) == ["subscriptions.0.notice_version"]
    assert counts() == before


def test_subscribing_a_transactional_topic_needs_and_records_no_consent(brand, contact, orders):
    assert reading(brand, contact) == {("orders", "email"): "subscribed", ("orders", "sms"): "subscribed"}
    update(brand, subscriptions=[change("orders", "sms", cadence="immediate")])

    assert ledger(contact) == []
    assert stored(contact) == {("orders", "sms"): ("subscribed", "immediate")}
    assert outbox(contact) == []  # it read subscribed before and after: nothing changed downstream


# --- Double opt-in ---------------------------------------------------------------------------


def test_double_opt_in_subscription_is_pending_and_grants_nothing(brand, contact, launches, news_version):
    result = update(brand, subscriptions=[change("launches", notice_version=news_version.public_id)])

    assert ledger(contact) == []
    assert ConsentState.objects.count() == 0
    row = Subscription.objects.get()
    assert (row.status, row.notice_version_id) == ("pending", news_version.pk)
    assert result.pending == [row]  # the hook: the caller sends the confirmation on commit
    assert outbox(contact) == [updated(1, [("launches", "email", "pending", "immediate")])]
    assert reading(brand, contact)[("launches", "email")] == "pending"


def test_double_opt_in_still_needs_the_notice_version(brand, contact, launches):
    with pytest.raises(Unprocessable) as caught:
        update(brand, subscriptions=[change("launches")])
    assert list(caught.value.errors) == ["subscriptions.0.notice_version"]
    assert Subscription.objects.count() == 0


def test_confirming_subscribes_and_records_the_grant_with_the_confirmation_evidence(
    brand, contact, launches, news_version
):
    update(brand, subscriptions=[change("launches", notice_version=news_version.public_id)])
    confirmed_at = NOW + timedelta(hours=2)
    with time_machine.travel(confirmed_at, tick=False):
        result = services.subscription_confirm(
            brand=brand,
            external_id="cust-1",
            method="preference_centre",
            recorded_by="confirm-link",
            evidence=EvidenceInput(ip="198.51.100.0", user_agent="Mail app"),
        )

    assert ledger(contact) == [(1, "product-news", "granted", "preference_centre", news_version.public_id)]
    [event] = result.consent_events
    assert (event.occurred_at, event.recorded_by) == (confirmed_at, "confirm-link")
    assert ConsentEvidence.objects.get(event=event).user_agent == "Mail app"
    row = Subscription.objects.get()
    assert (row.status, row.occurred_at, row.notice_version_id) == ("subscribed", confirmed_at, None)
    assert result.confirmed == [row]
    assert [(seq, kind) for seq, kind, _ in outbox(contact)] == [
        (1, "preferences.updated"),
        (2, "consent.granted"),
        (3, "preferences.updated"),
    ]
    assert outbox(contact)[2] == updated(
        3, [("launches", "email", "subscribed", "immediate")], at="2026-11-22T12:00:00.000000Z"
    )

    again = services.subscription_confirm(
        brand=brand, external_id="cust-1", method="preference_centre", recorded_by="confirm-link"
    )
    assert (again.confirmed, again.consent_events, again.events) == ([], [], [])
    assert len(ledger(contact)) == 1


def test_resubscribing_while_pending_stays_pending_and_hands_back_the_row_again(
    brand, contact, launches, news_version
):
    first = update(brand, subscriptions=[change("launches", notice_version=news_version.public_id)])
    again = update(brand, subscriptions=[change("launches", notice_version=news_version.public_id)])
    assert again.pending == first.pending  # so the confirmation can be resent
    assert ledger(contact) == []
    assert len(outbox(contact)) == 1  # still pending: nothing new downstream


def test_unsubscribing_a_pending_row_withdraws_nothing_and_confirm_then_does_nothing(
    brand, contact, launches, news_version
):
    update(brand, subscriptions=[change("launches", notice_version=news_version.public_id)])
    update(brand, subscriptions=[change("launches", status="unsubscribed")])
    result = services.subscription_confirm(
        brand=brand, external_id="cust-1", method="preference_centre", recorded_by="confirm-link"
    )

    assert ledger(contact) == []  # nothing was granted, so nothing is withdrawn
    assert result.confirmed == []
    assert stored(contact) == {("launches", "email"): ("unsubscribed", "immediate")}


def test_confirm_only_the_rows_named(brand, contact, launches, news_version, make_topic, news_purpose):
    make_topic(brand, "betas", news_purpose, double_opt_in=True)
    result = update(
        brand,
        subscriptions=[
            change("launches", notice_version=news_version.public_id),
            change("betas"),  # the notice named on the row above covers the same purpose
        ],
    )
    _, betas_row = result.pending
    confirmed = services.subscription_confirm(
        brand=brand,
        external_id="cust-1",
        method="preference_centre",
        recorded_by="confirm-link",
        subscription_ids=[betas_row.pk],
    )

    assert confirmed.confirmed == [betas_row]
    assert stored(contact) == {
        ("launches", "email"): ("pending", "immediate"),
        ("betas", "email"): ("subscribed", "immediate"),
    }
    assert ledger(contact) == [(1, "product-news", "granted", "preference_centre", news_version.public_id)]


def test_double_opt_in_topic_subscribes_at_once_when_consent_is_already_granted(
    brand, contact, launches, news_version
):
    consent_record(
        brand=brand,
        external_id="cust-1",
        purpose_slug="product-news",
        decision="granted",
        notice_version_id=news_version.public_id,
        method="api",
        recorded_by="test",
    )
    result = update(brand, subscriptions=[change("launches")])

    assert result.pending == []
    assert stored(contact) == {("launches", "email"): ("subscribed", "immediate")}
    assert len(ledger(contact)) == 1  # only the earlier grant


# --- Unsubscribing ---------------------------------------------------------------------------


def test_the_last_unsubscribe_of_a_purpose_withdraws_it(brand, contact, newsletter, offers, notice_version):
    subscribed(brand, notice_version, ("newsletter", "email"), ("offers", "email"))
    update(brand, subscriptions=[change("newsletter", status="unsubscribed")], method="one_click")
    assert [row[2] for row in ledger(contact)] == ["granted"]  # offers still needs it

    later = NOW + timedelta(minutes=5)
    with time_machine.travel(later, tick=False):
        update(brand, subscriptions=[change("offers", status="unsubscribed")], method="one_click")

    assert ledger(contact) == [
        (1, "email-marketing", "granted", "preference_centre", notice_version.public_id),
        (2, "email-marketing", "withdrawn", "one_click", None),
    ]
    assert ConsentState.objects.get(contact=contact).decision == "withdrawn"
    assert [(seq, kind) for seq, kind, _ in outbox(contact)] == [
        (1, "consent.granted"),
        (2, "preferences.updated"),
        (3, "preferences.updated"),
        (4, "consent.withdrawn"),
        (5, "preferences.updated"),
    ]
    assert outbox(contact)[2] == updated(3, [("newsletter", "email", "unsubscribed", "weekly")])
    assert outbox(contact)[4] == updated(
        5, [("offers", "email", "unsubscribed", "immediate")], at="2026-11-22T10:05:00.000000Z"
    )
    assert ledger_verify().ok


def test_a_subscription_on_another_channel_keeps_the_purpose_granted(
    brand, contact, newsletter, notice_version
):
    subscribed(brand, notice_version, ("newsletter", "email"), ("newsletter", "sms"))
    update(brand, subscriptions=[change("newsletter", "email", status="unsubscribed")])
    assert [row[2] for row in ledger(contact)] == ["granted"]


def test_a_pending_row_keeps_its_purpose_from_being_withdrawn(
    brand, contact, launches, news_version, make_topic, news_purpose
):
    make_topic(brand, "betas", news_purpose)  # same purpose, no double opt-in
    update(brand, subscriptions=[change("launches", notice_version=news_version.public_id)])  # pending
    update(brand, subscriptions=[change("betas", notice_version=news_version.public_id)])  # grants
    assert [row[2] for row in ledger(contact)] == ["granted"]

    update(brand, subscriptions=[change("betas", status="unsubscribed")])

    assert [row[2] for row in ledger(contact)] == ["granted"]  # launches still awaits confirmation
    update(brand, subscriptions=[change("launches", status="unsubscribed")])
    assert [row[2] for row in ledger(contact)] == ["granted", "withdrawn"]


def test_transactional_topics_cannot_be_unsubscribed(brand, contact, orders):
    before = counts()
    with pytest.raises(Unprocessable) as caught:
        update(brand, subscriptions=[change("orders", "sms", status="unsubscribed")])
    assert list(caught.value.errors) == ["subscriptions.0.status"]
    assert counts() == before


def test_unsubscribing_a_topic_never_chosen_withdraws_a_purpose_granted_elsewhere(
    brand, contact, newsletter, notice_version
):
    consent_record(
        brand=brand,
        external_id="cust-1",
        purpose_slug="email-marketing",
        decision="granted",
        notice_version_id=notice_version.public_id,
        method="api",
        recorded_by="test",
    )
    update(brand, subscriptions=[change("newsletter", status="unsubscribed")])
    assert [row[2:4] for row in ledger(contact)] == [("granted", "api"), ("withdrawn", "preference_centre")]


# --- The conflict rule -----------------------------------------------------------------------


def test_an_older_subscribe_never_reenables_a_newer_unsubscribe(brand, contact, newsletter, notice_version):
    subscribed(brand, notice_version, ("newsletter", "email"), occurred_at=NOW - timedelta(hours=3))
    update(
        brand,
        subscriptions=[change("newsletter", status="unsubscribed")],
        occurred_at=NOW - timedelta(hours=1),
    )
    before = counts()

    result = update(
        brand,
        subscriptions=[change("newsletter", notice_version=notice_version.public_id)],
        occurred_at=NOW - timedelta(hours=2),
    )

    assert stored(contact) == {("newsletter", "email"): ("unsubscribed", "weekly")}
    assert Subscription.objects.get().occurred_at == NOW - timedelta(hours=1)
    assert (result.consent_events, result.events) == ([], [])  # no grant for a write that did not apply
    assert counts() == before


def test_an_older_unsubscribe_does_not_override_a_newer_subscribe(brand, contact, newsletter, notice_version):
    subscribed(brand, notice_version, ("newsletter", "email"))
    result = update(
        brand,
        subscriptions=[change("newsletter", status="unsubscribed")],
        occurred_at=NOW - timedelta(hours=1),
    )
    assert stored(contact) == {("newsletter", "email"): ("subscribed", "weekly")}
    assert (result.consent_events, result.events) == ([], [])


@pytest.mark.parametrize("order", [("subscribed", "unsubscribed"), ("unsubscribed", "subscribed")])
def test_unsubscribe_wins_a_tie(brand, contact, newsletter, notice_version, order):
    tie = NOW - timedelta(minutes=1)
    for status in order:
        update(
            brand,
            subscriptions=[change("newsletter", status=status, notice_version=notice_version.public_id)],
            occurred_at=tie,
        )
    assert stored(contact) == {("newsletter", "email"): ("unsubscribed", "weekly")}


def test_future_occurred_at_is_422(brand, contact, newsletter):
    with pytest.raises(Unprocessable) as caught:
        update(
            brand,
            subscriptions=[change("newsletter", status="unsubscribed")],
            occurred_at=NOW + timedelta(hours=1),
        )
    assert list(caught.value.errors) == ["occurred_at"]


# --- A withdrawal recorded elsewhere ---------------------------------------------------------


def test_a_withdrawal_in_the_ledger_ends_the_subscriptions_and_a_new_grant_does_not_revive_them(
    brand, contact, newsletter, offers, notice_version
):
    subscribed(
        brand,
        notice_version,
        ("newsletter", "email"),
        ("offers", "email"),
        occurred_at=NOW - timedelta(hours=2),
    )
    record = dict(
        brand=brand, external_id="cust-1", purpose_slug="email-marketing", method="api", recorded_by="t"
    )
    consent_record(
        decision="withdrawn", notice_version_id=None, occurred_at=NOW - timedelta(hours=1), **record
    )
    assert reading(brand, contact)[("newsletter", "email")] == "unsubscribed"

    consent_record(decision="granted", notice_version_id=notice_version.public_id, **record)
    assert reading(brand, contact) == {
        ("newsletter", "email"): "unsubscribed",
        ("newsletter", "sms"): "not_set",
        ("offers", "email"): "unsubscribed",
    }
    update(brand, subscriptions=[change("offers")])  # granted now, so no notice needed
    assert reading(brand, contact)[("offers", "email")] == "subscribed"
    assert reading(brand, contact)[("newsletter", "email")] == "unsubscribed"


def test_default_subscribed_reads_subscribed_only_while_consent_is_granted(
    brand, contact, make_topic, purpose, notice_version
):
    make_topic(brand, "tips", purpose, default_subscribed=True)
    assert reading(brand, contact) == {("tips", "email"): "not_set"}  # never pre-ticked for a new contact

    consent_record(
        brand=brand,
        external_id="cust-1",
        purpose_slug="email-marketing",
        decision="granted",
        notice_version_id=notice_version.public_id,
        method="api",
        recorded_by="t",
    )
    assert reading(brand, contact) == {("tips", "email"): "subscribed"}
    assert Subscription.objects.count() == 0

    update(brand, subscriptions=[change("tips", status="unsubscribed")])
    assert reading(brand, contact) == {("tips", "email"): "unsubscribed"}
    assert [row[2] for row in ledger(contact)] == ["granted", "withdrawn"]  # it was the last one


# --- Cadence -----------------------------------------------------------------------------------


def test_changing_only_the_cadence_touches_no_ledger(brand, contact, newsletter, notice_version):
    subscribed(brand, notice_version, ("newsletter", "email"))
    row_time = Subscription.objects.get().occurred_at
    with time_machine.travel(NOW + timedelta(minutes=1), tick=False):
        update(
            brand, subscriptions=[SubscriptionChange(topic="newsletter", channel="email", cadence="monthly")]
        )

    assert stored(contact) == {("newsletter", "email"): ("subscribed", "monthly")}
    assert Subscription.objects.get().occurred_at == row_time  # a cadence is not a consent decision
    assert len(ledger(contact)) == 1
    assert outbox(contact)[-1] == updated(
        3, [("newsletter", "email", "subscribed", "monthly")], at="2026-11-22T10:01:00.000000Z"
    )


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        (
            [SubscriptionChange(topic="newsletter", channel="email", cadence="immediate")],
            "subscriptions.0.cadence",
        ),
        (
            [SubscriptionChange(topic="newsletter", channel="sms", cadence="daily")],
            "subscriptions.0.cadence",
        ),
        (
            [SubscriptionChange(topic="nope", channel="email", status="unsubscribed")],
            "subscriptions.0.topic",
        ),
        (
            [SubscriptionChange(topic="offers", channel="sms", status="unsubscribed")],
            "subscriptions.0.channel",
        ),
        (
            [SubscriptionChange(topic="offers", channel="fax", status="unsubscribed")],
            "subscriptions.0.channel",
        ),
        ([SubscriptionChange(topic="offers", channel="email", status="pending")], "subscriptions.0.status"),
        ([SubscriptionChange(topic="offers", channel="email")], "subscriptions.0.status"),
        (
            [
                SubscriptionChange(topic="offers", channel="email", status="unsubscribed"),
                SubscriptionChange(topic="offers", channel="email", cadence="immediate"),
            ],
            "subscriptions.1",
        ),
    ],
)
def test_invalid_rows_are_422_naming_the_field_and_write_nothing(
    brand, contact, newsletter, offers, notice_version, changes, field
):
    subscribed(brand, notice_version, ("newsletter", "email"))  # sms stays not_set
    before = counts()
    with pytest.raises(Unprocessable) as caught:
        update(brand, subscriptions=changes)
    assert list(caught.value.errors) == [field]
    assert counts() == before


def test_one_bad_row_rejects_the_whole_change(brand, contact, newsletter, notice_version):
    before = counts()
    with pytest.raises(Unprocessable):
        update(
            brand,
            subscriptions=[
                change("newsletter", notice_version=notice_version.public_id),
                change("newsletter", "sms", cadence="hourly"),
            ],
        )
    assert counts() == before


def test_unknown_and_foreign_contacts_are_not_found(brand, other_brand, contact, newsletter):
    with pytest.raises(NotFound):
        update(brand, contact="ghost", subscriptions=[change("newsletter", status="unsubscribed")])
    with pytest.raises(NotFound):
        update(other_brand, subscriptions=[])


def test_another_brands_topic_is_unknown(brand, other_brand, contact, make_topic, make_purpose):
    make_topic(other_brand, "outsider-news", make_purpose(other_brand, "email-marketing"))
    with pytest.raises(Unprocessable) as caught:
        update(brand, subscriptions=[change("outsider-news", status="unsubscribed")])
    assert list(caught.value.errors) == ["subscriptions.0.topic"]


# --- Unsubscribe from all ------------------------------------------------------------------------


def test_unsubscribe_from_all_on_a_channel(brand, contact, topics, notice_version, news_version):
    subscribed(brand, notice_version, ("newsletter", "email"), ("newsletter", "sms"), ("offers", "email"))
    update(brand, subscriptions=[change("launches", notice_version=news_version.public_id)])  # pending
    ledger_before = ledger(contact)

    result = services.channel_unsubscribe_all(
        brand=brand, external_id="cust-1", channel="email", method="one_click", recorded_by="link"
    )

    assert stored(contact) == {
        ("newsletter", "email"): ("unsubscribed", "weekly"),
        ("newsletter", "sms"): ("subscribed", "weekly"),  # another channel
        ("offers", "email"): ("unsubscribed", "immediate"),
        ("launches", "email"): ("unsubscribed", "immediate"),
    }  # the transactional topic has no row: it reads subscribed by default
    assert reading(brand, contact) == {
        ("orders", "email"): "subscribed",  # transactional: untouched
        ("orders", "sms"): "subscribed",
        ("newsletter", "email"): "unsubscribed",
        ("newsletter", "sms"): "subscribed",
        ("offers", "email"): "unsubscribed",
        ("launches", "email"): "unsubscribed",
    }
    assert ledger(contact) == ledger_before  # email-marketing still needed by SMS; launches never granted
    opt_out = ChannelOptOut.objects.get()
    assert (opt_out.channel, opt_out.opted_out, opt_out.occurred_at) == ("email", True, NOW)
    assert [(e.sequence, e.type) for e in result.events] == [
        (4, "preferences.updated"),
        (5, "contact.unsubscribed"),
    ]
    assert outbox(contact)[-2:] == [
        updated(
            4,
            [
                ("newsletter", "email", "unsubscribed", "weekly"),
                ("offers", "email", "unsubscribed", "immediate"),
                ("launches", "email", "unsubscribed", "immediate"),
            ],
            unsubscribed_all={"email": True},
        ),
        (
            5,
            "contact.unsubscribed",
            {"contact": "cust-1", "sequence": 5, "channel": "email", "scope": "all", "occurred_at": AT},
        ),
    ]
    assert preferences_get(brand=brand, contact=contact).unsubscribed_all == {
        "email": True,
        "sms": False,
        "push": False,
        "post": False,
        "phone": False,
    }


def test_unsubscribe_from_all_withdraws_purposes_that_lose_their_last_subscription(
    brand, contact, newsletter, offers, notice_version
):
    subscribed(brand, notice_version, ("newsletter", "email"), ("offers", "email"))
    services.channel_unsubscribe_all(
        brand=brand, external_id="cust-1", channel="email", method="one_click", recorded_by="link"
    )
    assert ledger(contact)[-1] == (2, "email-marketing", "withdrawn", "one_click", None)
    assert [kind for _, kind, _ in outbox(contact)] == [
        "consent.granted",
        "preferences.updated",
        "consent.withdrawn",
        "preferences.updated",
        "contact.unsubscribed",
    ]


def test_unsubscribe_from_all_creates_rows_for_topics_never_chosen(
    brand, contact, make_topic, purpose, notice_version
):
    make_topic(brand, "tips", purpose, default_subscribed=True)
    consent_record(
        brand=brand,
        external_id="cust-1",
        purpose_slug="email-marketing",
        decision="granted",
        notice_version_id=notice_version.public_id,
        method="api",
        recorded_by="t",
    )
    services.channel_unsubscribe_all(
        brand=brand, external_id="cust-1", channel="email", method="one_click", recorded_by="link"
    )
    assert stored(contact) == {("tips", "email"): ("unsubscribed", "immediate")}
    assert [row[2] for row in ledger(contact)] == ["granted", "withdrawn"]


def test_subscribing_again_clears_the_channel_opt_out(brand, contact, newsletter, offers, notice_version):
    subscribed(
        brand,
        notice_version,
        ("newsletter", "email"),
        ("offers", "email"),
        occurred_at=NOW - timedelta(hours=2),
    )
    update(brand, unsubscribed_all={"email": True}, occurred_at=NOW - timedelta(hours=1))

    update(brand, subscriptions=[change("offers", notice_version=notice_version.public_id)])

    assert ChannelOptOut.objects.get().opted_out is False
    assert reading(brand, contact) == {
        ("newsletter", "email"): "unsubscribed",  # only what was chosen again comes back
        ("newsletter", "sms"): "not_set",
        ("offers", "email"): "subscribed",
    }
    assert [row[2] for row in ledger(contact)] == ["granted", "withdrawn", "granted"]
    assert [kind for _, kind, _ in outbox(contact)][-2:] == ["consent.granted", "preferences.updated"]
    assert outbox(contact)[-1] == updated(
        7, [("offers", "email", "subscribed", "immediate")], unsubscribed_all={"email": False}
    )


def test_an_older_subscribe_never_reopens_a_newer_channel_opt_out(brand, contact, newsletter, notice_version):
    update(brand, unsubscribed_all={"email": True})
    before = counts()
    update(
        brand,
        subscriptions=[change("newsletter", notice_version=notice_version.public_id)],
        occurred_at=NOW - timedelta(minutes=1),
    )
    assert ChannelOptOut.objects.get().opted_out is True
    assert stored(contact) == {("newsletter", "email"): ("unsubscribed", "weekly")}
    assert counts() == before

    update(brand, subscriptions=[change("newsletter", notice_version=notice_version.public_id)])  # a tie
    assert ChannelOptOut.objects.get().opted_out is True


def test_unsubscribed_all_false_reverses_the_opt_out_but_chooses_nothing(
    brand, contact, newsletter, notice_version
):
    update(brand, unsubscribed_all={"email": True}, occurred_at=NOW - timedelta(minutes=2))
    result = update(brand, unsubscribed_all={"email": False})

    assert ChannelOptOut.objects.get().opted_out is False
    assert stored(contact) == {("newsletter", "email"): ("unsubscribed", "weekly")}
    assert [e.type for e in result.events] == ["preferences.updated"]
    assert result.events[0].data["unsubscribed_all"] == {"email": False}
    assert result.events[0].data["subscriptions"] == []


def test_an_older_unsubscribe_from_all_after_a_newer_return_leaves_the_channel_open(
    brand, contact, newsletter, notice_version
):
    update(brand, unsubscribed_all={"email": True}, occurred_at=NOW - timedelta(hours=3))
    subscribed(brand, notice_version, ("newsletter", "email"), occurred_at=NOW - timedelta(hours=1))
    result = update(brand, unsubscribed_all={"email": True}, occurred_at=NOW - timedelta(hours=2))

    assert ChannelOptOut.objects.get().opted_out is False
    assert stored(contact) == {("newsletter", "email"): ("subscribed", "weekly")}
    assert result.events == []


def test_unknown_channel_in_unsubscribed_all_is_422(brand, contact):
    with pytest.raises(Unprocessable) as caught:
        update(brand, unsubscribed_all={"fax": True})
    assert list(caught.value.errors) == ["unsubscribed_all.fax"]
    assert ChannelOptOut.objects.count() == 0


# --- Topics ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"channels": []}, "channels"),
        ({"channels": ["email", "fax"]}, "channels"),
        ({"channels": ["email", "email"]}, "channels"),
        ({"cadence_options": ["hourly"]}, "cadence_options"),
        ({"cadence_options": []}, "cadence_options"),
        ({"translations": {"de": {"title": "x"}}}, "translations"),
        ({"slug": "Not A Slug"}, "slug"),
        ({"purpose": None}, "purpose"),  # only transactional topics go without
    ],
)
def test_topic_configuration_is_validated(brand, purpose, kwargs, field):
    values = {"slug": "news", "name": "News", "purpose": purpose, **kwargs}
    with pytest.raises(Unprocessable) as caught:
        topics.topic_create(actor=TEST_ACTOR, brand=brand, **values)
    assert field in caught.value.errors


def test_topic_purpose_must_be_the_brands(brand, other_brand, make_purpose):
    with pytest.raises(Unprocessable) as caught:
        topics.topic_create(
            actor=TEST_ACTOR, brand=brand, slug="news", name="News", purpose=make_purpose(other_brand)
        )
    assert "purpose" in caught.value.errors


def test_topic_text_falls_back_to_the_base_language(newsletter):
    assert newsletter.text("de") == ("Newsletter", "Neuigkeiten")
    assert newsletter.text("fr") == ("Newsletter", "")


def test_confirming_grants_with_the_notice_of_the_latest_request(
    brand, contact, launches, news_version, news_purpose, make_topic
):
    make_topic(brand, "betas", news_purpose, double_opt_in=True)
    update(brand, subscriptions=[change("betas", notice_version=news_version.public_id)])
    newer = notice_version_publish(
        actor=TEST_ACTOR, purpose=news_purpose, language="en", title="News v2", text="Changed text."
    )
    with time_machine.travel(NOW + timedelta(minutes=1), tick=False):
        update(brand, subscriptions=[change("launches", notice_version=newer.public_id)])
    with time_machine.travel(NOW + timedelta(minutes=2), tick=False):
        result = services.subscription_confirm(
            brand=brand, external_id="cust-1", method="preference_centre", recorded_by="confirm-link"
        )

    assert len(result.confirmed) == 2
    assert ledger(contact) == [(1, "product-news", "granted", "preference_centre", newer.public_id)]


def test_subscription_unsubscribe_is_one_topic_on_one_channel(brand, contact, newsletter, notice_version):
    subscribed(brand, notice_version, ("newsletter", "email"), ("newsletter", "sms"))
    result = services.subscription_unsubscribe(
        brand=brand,
        external_id="cust-1",
        topic_slug="newsletter",
        channel="sms",
        method="one_click",
        recorded_by="link",
    )
    assert stored(contact) == {
        ("newsletter", "email"): ("subscribed", "weekly"),
        ("newsletter", "sms"): ("unsubscribed", "weekly"),
    }
    assert result.consent_events == []  # email still needs the purpose
    assert [e.data["subscriptions"] for e in result.events] == [
        [{"topic": "newsletter", "channel": "sms", "status": "unsubscribed", "cadence": "weekly"}]
    ]
