"""Every read of topics, subscriptions and holds. Each takes the brand or a brand's contact.

How a topic and channel *reads* is decided here, once, for the API, the hosted page and the
services alike (see `PreferencesSnapshot.status`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from brands.models import Brand
from config.errors import NotFound
from consent.models import ConsentState, Contact, Decision
from preferences.models import (
    NOT_SET,
    Channel,
    ChannelOptOut,
    Hold,
    Subscription,
    SubscriptionStatus,
    Topic,
)
from preferences.statements import SnapshotRows, snapshot_rows

ACTIVE = (SubscriptionStatus.SUBSCRIBED, SubscriptionStatus.PENDING)
CONFIRMATION_LIFETIME = timedelta(hours=72)  # a pending request, and so every link confirming it
CONFIRMATION_RESEND_INTERVAL = timedelta(minutes=10)  # per contact and topic


def topics_list(*, brand: Brand) -> QuerySet[Topic]:
    return Topic.objects.filter(brand=brand).order_by("position", "slug")


def topic_exists(*, brand: Brand, slug: str) -> bool:
    return Topic.objects.filter(brand=brand, slug=slug).exists()


def topic_get(*, brand: Brand, slug: str) -> Topic:
    topic = Topic.objects.filter(brand=brand, slug=slug).select_related("purpose", "sms_purpose").first()
    if topic is None:
        raise NotFound(f"No topic '{slug}'.")
    return topic


def topic_channels(topic: Topic) -> list[str]:
    """The topic's allowed channels in the canonical order of `Channel`."""
    return [channel for channel in Channel.values if channel in topic.channels]


@dataclass
class PreferencesSnapshot:
    """Everything needed to say how each topic and channel reads, loaded in a fixed number of queries.

    Services mutate `rows` and `opt_outs` as they write, so the rules below see the new state.
    """

    contact: Contact
    now: datetime
    topics: list[Topic]
    rows: dict[tuple[int, str], Subscription]
    states: dict[int, ConsentState]  # by purpose id
    last_withdrawn: dict[int, datetime]  # latest withdrawal in the ledger, by purpose id
    opt_outs: dict[str, ChannelOptOut]
    unsubscribes_accepted: frozenset[tuple[int | None, str]] = frozenset()

    def unsubscribe_accepted(self, topic: Topic, channel: str) -> bool:
        """A one-click unsubscribe that covers the topic and channel was accepted and awaits the
        worker (preferences.one_click)."""
        accepted = self.unsubscribes_accepted
        return not topic.transactional and ((topic.pk, channel) in accepted or (None, channel) in accepted)

    def consent_granted(self, purpose_id: int | None) -> bool:
        """The purpose's current decision is a grant that has not expired."""
        state = self.states.get(purpose_id) if purpose_id is not None else None
        return (
            state is not None
            and state.decision == Decision.GRANTED
            and (state.expires_at is None or state.expires_at > self.now)
        )

    def opted_out(self, channel: str) -> bool:
        opt_out = self.opt_outs.get(channel)
        return opt_out is not None and opt_out.opted_out

    def status(self, topic: Topic, channel: str) -> str:
        """subscribed | unsubscribed | pending | not_set.

        - A stored choice reads as stored, except that a withdrawal of the topic's purpose in the
          ledger that is not older than the choice ends it (conflict rule: latest wins, a
          withdrawal wins ties), so withdrawing consent anywhere shows here too and a later
          grant never revives choices made before the withdrawal.
        - Without a stored choice, `default_subscribed` reads as subscribed for transactional
          topics, and for others only while the purpose is granted and the channel not opted out.
        """
        row = self.rows.get((topic.pk, channel))
        if row is not None:
            purpose_id = topic.purpose_id_for(channel)
            if row.status in ACTIVE and not topic.transactional and purpose_id is not None:
                withdrawn_at = self.last_withdrawn.get(purpose_id)
                if withdrawn_at is not None and withdrawn_at >= row.occurred_at:
                    return SubscriptionStatus.UNSUBSCRIBED
            return row.status
        if topic.default_subscribed:
            if topic.transactional:
                return SubscriptionStatus.SUBSCRIBED
            if self.consent_granted(topic.purpose_id_for(channel)) and not self.opted_out(channel):
                return SubscriptionStatus.SUBSCRIBED
        return NOT_SET

    def cadence(self, topic: Topic, channel: str) -> str:
        row = self.rows.get((topic.pk, channel))
        if row is not None and row.cadence in topic.cadence_options:
            return row.cadence
        return topic.default_cadence

    def purpose_active(self, purpose_id: int) -> bool:
        """Does any non-transactional topic and channel that needs the purpose read subscribed or
        pending?"""
        return any(
            self.status(topic, channel) in ACTIVE
            for topic in self.topics
            if not topic.transactional
            for channel in topic_channels(topic)
            if topic.purpose_id_for(channel) == purpose_id
        )


def preferences_snapshot(*, contact: Contact, now: datetime | None = None) -> PreferencesSnapshot:
    """Five reads whatever the number of topics, subscriptions or ledger events, sent in one
    round trip on PostgreSQL (preferences.statements)."""
    return snapshot_from_rows(contact=contact, rows=snapshot_rows(contact=contact), now=now)


def snapshot_from_rows(
    *, contact: Contact, rows: SnapshotRows, now: datetime | None = None
) -> PreferencesSnapshot:
    return PreferencesSnapshot(
        contact=contact,
        now=now or timezone.now(),
        topics=rows.topics,
        rows=rows.rows,
        states=rows.states,
        last_withdrawn=rows.last_withdrawn,
        opt_outs=rows.opt_outs,
        unsubscribes_accepted=rows.unsubscribes_accepted,
    )


def holds_active(*, contact: Contact, now: datetime) -> QuerySet[Hold]:
    return (
        Hold.objects.filter(contact=contact, ended_at__isnull=True, until__gt=now)
        .prefetch_related(Prefetch("topics", queryset=Topic.objects.order_by("position", "slug")))
        .order_by("until", "pk")
    )


def hold_covers(hold: Hold, topic: Topic, channel: str) -> bool:
    """A hold pauses everything non-transactional it names; empty lists mean all."""
    if topic.transactional:
        return False
    topic_ids = {t.pk for t in hold.topics.all()}  # prefetched
    return (not topic_ids or topic.pk in topic_ids) and (not hold.channels or channel in hold.channels)


@dataclass(frozen=True)
class SubscriptionRow:
    topic: Topic
    channel: str
    status: str  # subscribed | unsubscribed | pending | not_set
    cadence: str
    cadence_options: list[str]
    held: bool  # an active hold pauses this topic on this channel
    held_until: datetime | None


@dataclass(frozen=True)
class Preferences:
    contact: Contact
    subscriptions: list[SubscriptionRow]
    unsubscribed_all: dict[str, bool]  # every channel
    holds: list[Hold] = field(default_factory=list)  # active ones, soonest end first


def preferences_get(*, brand: Brand, contact: Contact, now: datetime | None = None) -> Preferences:
    """One row for every topic and allowed channel of the brand, in a constant number of queries."""
    if contact.brand_id != brand.pk:
        raise NotFound(f"No contact '{contact.external_id}'.")
    now = now or timezone.now()
    snapshot = preferences_snapshot(contact=contact, now=now)
    holds = list(holds_active(contact=contact, now=now))
    rows = []
    for topic in snapshot.topics:
        for channel in topic_channels(topic):
            covering = [hold.until for hold in holds if hold_covers(hold, topic, channel)]
            status = snapshot.status(topic, channel)
            if status != SubscriptionStatus.UNSUBSCRIBED and snapshot.unsubscribe_accepted(topic, channel):
                status = SubscriptionStatus.PENDING  # an accepted unsubscribe not applied yet (#17)
            rows.append(
                SubscriptionRow(
                    topic=topic,
                    channel=channel,
                    status=status,
                    cadence=snapshot.cadence(topic, channel),
                    cadence_options=list(topic.cadence_options),
                    held=bool(covering),
                    held_until=max(covering) if covering else None,
                )
            )
    return Preferences(
        contact=contact,
        subscriptions=rows,
        unsubscribed_all={channel: snapshot.opted_out(channel) for channel in Channel.values},
        holds=holds,
    )


def subscriptions_pending(
    *, contact: Contact, subscription_ids: Iterable[int] | None = None
) -> list[Subscription]:
    """Rows awaiting double opt-in, e.g. to (re)send the confirmation email."""
    query = Q(contact=contact, status=SubscriptionStatus.PENDING)
    if subscription_ids is not None:
        query &= Q(pk__in=list(subscription_ids))
    return list(Subscription.objects.filter(query).select_related("topic").order_by("pk"))


def confirmation_requested_at(row: Subscription) -> datetime:
    """When the row's pending (double opt-in) request began; rows pending before that was
    recorded began when they were chosen."""
    return row.confirmation_requested_at or row.occurred_at


def confirmation_expired(row: Subscription, *, now: datetime) -> bool:
    """72 hours after the request began, neither it nor any link confirming it is good."""
    return now >= confirmation_requested_at(row) + CONFIRMATION_LIFETIME
