"""Reads of "the rows behind a figure" (console.dashboard.RowsBehind): one keyset page at a time,
every query scoped to the brand, contacts named by the brand's external id only (never an
address or a phone number).

- `consent-events`: the ledger's events, newest first, by purpose, decision, source and the UTC
  days they were recorded on (the days of the Overview's figures).
- `deliveries`: the webhook deliveries behind a health figure (waiting, failed in the last
  day, delivered in the last hour), of one endpoint or all, newest first.
- `contacts`: the rows the dashboard counted, from the rollups' per-contact memory
  (CountedConsent, CountedSubscription), so the list is exactly what makes up the figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID

from django.db.models import OuterRef, Q, QuerySet, Subquery

from brands.models import Brand
from consent.models import ConsentEvent, Decision
from console.models import CountedConsent, CountedSubscription, SubscriptionState, UnsubscribeSource
from console.rollups import _METHOD_SOURCES, FAILURE_WINDOW, LATENCY_WINDOW
from sync.models import Attempt, Delivery

PAGE_SIZE = 50

# The states a cadence figure counts (console.dashboard: active and paused subscriptions).
CADENCE_STATES = (SubscriptionState.ACTIVE.value, SubscriptionState.PAUSED.value)


def _source_q(source: str) -> Q:
    """The ledger events console.rollups.unsubscribe_source puts under `source`, as a filter: a
    connector by the credential, then Global Privacy Control by the method or the evidence's
    flag, then by the method (an unknown method counts as the API)."""
    connector = Q(method="connector") | Q(recorded_by__startswith="connector:")
    if source == UnsubscribeSource.CONNECTOR:
        return connector
    gpc = Q(evidence__gpc=True)
    if source == UnsubscribeSource.GPC:
        return ~connector & (gpc | Q(method__in=_methods_of(source)))
    by_method = Q(method__in=_methods_of(source))
    if source == UnsubscribeSource.API:
        by_method |= ~Q(method__in=list(_METHOD_SOURCES))
    return ~connector & ~gpc & by_method


def _methods_of(source: str) -> list[str]:
    return [method for method, mapped in _METHOD_SOURCES.items() if mapped == source]


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


# --- The ledger's events ----------------------------------------------------------------------


@dataclass(frozen=True)
class EventPosition:
    """Where a page of events ends: the last event's recording time in microseconds since the
    epoch and its id (two whole numbers, so the cursor is encode_cursor's)."""

    at_us: int
    id: int  # the event's UUID as a number

    @classmethod
    def of(cls, recorded_at: datetime, event_id: UUID) -> EventPosition:
        delta = recorded_at - EPOCH
        at_us = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
        return cls(at_us=at_us, id=event_id.int)

    @property
    def at(self) -> datetime:
        return EPOCH + timedelta(microseconds=self.at_us)

    @property
    def uuid(self) -> UUID:
        return UUID(int=self.id)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class EventRow:
    recorded_at: datetime
    external_id: str
    purpose: str  # the purpose's name
    decision: str
    method: str


@dataclass(frozen=True)
class EventPage:
    rows: list[EventRow]
    next: EventPosition | None


def consent_events_list(
    *,
    brand: Brand,
    start: date,
    end: date,
    purpose_id: int | None = None,
    decision: str | None = None,
    source: str | None = None,
    after: EventPosition | None = None,
    limit: int = PAGE_SIZE,
) -> EventPage:
    """One page of the brand's ledger events recorded on the UTC days `start` to `end`
    (inclusive), newest first; `source` keeps the withdrawals the unsubscribes figure puts
    there. One query."""
    events = ConsentEvent.objects.filter(
        brand=brand, recorded_at__gte=_day_start(start), recorded_at__lt=_day_start(end + timedelta(days=1))
    )
    if purpose_id is not None:
        events = events.filter(purpose_id=purpose_id)
    if decision is not None:
        events = events.filter(decision=decision)
    if source is not None:
        events = events.filter(_source_q(source), decision=Decision.WITHDRAWN)
    if after is not None:
        events = events.filter(Q(recorded_at__lt=after.at) | Q(recorded_at=after.at, id__lt=after.uuid))
    found = list(
        events.order_by("-recorded_at", "-id").values_list(
            "id", "recorded_at", "contact__external_id", "purpose__name", "decision", "method"
        )[: limit + 1]
    )
    page = found[:limit]
    return EventPage(
        rows=[
            EventRow(at, external_id, name, decided, method)
            for _, at, external_id, name, decided, method in page
        ],
        next=EventPosition.of(page[-1][1], page[-1][0]) if len(found) > limit else None,
    )


# --- The counted contacts ---------------------------------------------------------------------


@dataclass(frozen=True)
class ContactRow:
    external_id: str
    purpose: str = ""  # a consent row: the purpose's name
    granted: bool | None = None
    topic: str = ""  # a subscription row: the topic's name, its channel, state and cadence
    channel: str = ""
    state: str = ""
    cadence: str = ""


@dataclass(frozen=True)
class ContactPage:
    rows: list[ContactRow]
    next: int | None  # the last row's id: the next page starts after it


def _page(queryset: QuerySet[Any], *, after: int | None, limit: int) -> tuple[list[Any], int | None]:
    if after is not None:
        queryset = queryset.filter(pk__gt=after)
    found = list(queryset.order_by("pk")[: limit + 1])
    page = found[:limit]
    return page, (page[-1][0] if len(found) > limit else None)


def counted_consents_list(
    *, brand: Brand, purpose_id: int, granted: bool, after: int | None = None, limit: int = PAGE_SIZE
) -> ContactPage:
    """The contacts the opt-in figure counts for the purpose (granted, or not), in the order
    they were first counted. One query."""
    rows, following = _page(
        CountedConsent.objects.filter(brand=brand, purpose_id=purpose_id, granted=granted).values_list(
            "pk", "contact__external_id", "purpose__name", "granted"
        ),
        after=after,
        limit=limit,
    )
    return ContactPage(
        rows=[ContactRow(external_id=e, purpose=name, granted=g) for _, e, name, g in rows], next=following
    )


def counted_subscriptions_list(
    *,
    brand: Brand,
    topic_id: int | None = None,
    channel: str | None = None,
    state: str | None = None,
    cadence: str | None = None,
    after: int | None = None,
    limit: int = PAGE_SIZE,
) -> ContactPage:
    """The subscriptions the dashboard counts, by topic, channel, state and cadence; a cadence
    without a state keeps the active and paused ones, as the cadence figure counts them. One
    query."""
    counted = CountedSubscription.objects.filter(brand=brand)
    if topic_id is not None:
        counted = counted.filter(topic_id=topic_id)
    if channel is not None:
        counted = counted.filter(channel=channel)
    if state is not None:
        counted = counted.filter(state=state)
    if cadence is not None:
        counted = counted.filter(cadence=cadence)
        if state is None:
            counted = counted.filter(state__in=CADENCE_STATES)
    rows, following = _page(
        counted.values_list("pk", "contact__external_id", "topic__name", "channel", "state", "cadence"),
        after=after,
        limit=limit,
    )
    return ContactPage(
        rows=[
            ContactRow(external_id=e, topic=topic, channel=ch, state=st, cadence=cad)
            for _, e, topic, ch, st, cad in rows
        ],
        next=following,
    )


# --- The webhook deliveries -------------------------------------------------------------------

# The webhook health figures (console.rollups.endpoints_health_refresh) and what each counts:
# deliveries waiting; deliveries with a failed attempt in the last day; deliveries with a
# successful attempt in the last hour.
WAITING = "waiting"
FAILED_24H = "failed-24h"
DELIVERED_1H = "delivered-1h"
DELIVERY_FIGURES = (WAITING, FAILED_24H, DELIVERED_1H)


@dataclass(frozen=True)
class DeliveryRow:
    public_id: str
    created_at: datetime
    endpoint_url: str  # as stored: the page shows it without its query
    type: str
    status: str
    attempts: int
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_outcome: str | None


@dataclass(frozen=True)
class DeliveryPage:
    rows: list[DeliveryRow]
    next: int | None  # the last row's id: the next page holds older deliveries


def deliveries_behind(
    *,
    brand: Brand,
    figure: str,
    endpoint_public_id: str | None = None,
    now: datetime,
    after: int | None = None,
    limit: int = PAGE_SIZE,
) -> DeliveryPage:
    """The deliveries a webhook health figure counts, newest first, of one endpoint or of all
    the brand's, each with its latest attempt. One query, whatever the page holds."""
    deliveries = Delivery.objects.filter(endpoint__brand=brand)
    if endpoint_public_id is not None:
        deliveries = deliveries.filter(endpoint__public_id=endpoint_public_id)
    if figure == WAITING:
        deliveries = deliveries.filter(status=Delivery.Status.PENDING)
    else:
        succeeded = Q(outcome=Attempt.Outcome.SUCCEEDED)
        window = FAILURE_WINDOW if figure == FAILED_24H else LATENCY_WINDOW
        attempts = Attempt.objects.filter(started_at__gte=now - window).filter(
            ~succeeded if figure == FAILED_24H else succeeded
        )
        deliveries = deliveries.filter(pk__in=attempts.values("delivery_id"))
    if after is not None:
        deliveries = deliveries.filter(pk__lt=after)
    latest = Attempt.objects.filter(delivery_id=OuterRef("pk")).order_by("-number", "-id")
    found = list(
        deliveries.annotate(
            last_at=Subquery(latest.values("started_at")[:1]),
            last_code=Subquery(latest.values("status_code")[:1]),
            last_outcome=Subquery(latest.values("outcome")[:1]),
        )
        .order_by("-pk")
        .values_list(
            "pk",
            "public_id",
            "created_at",
            "endpoint__url",
            "type",
            "status",
            "attempt_count",
            "last_at",
            "last_code",
            "last_outcome",
        )[: limit + 1]
    )
    page = found[:limit]
    return DeliveryPage(
        rows=[DeliveryRow(*row[1:]) for row in page],
        next=page[-1][0] if len(found) > limit else None,
    )
