"""Reads of the Overview: the console's dashboard figures, from the rollups (console.models)
only, in a fixed number of queries whatever the brand's size. Every read takes the brand.

Each figure carries `rows`, what "the rows behind it" are (RowsBehind): a kind of list and its
filters, which a page turns into a link where the person's role allows it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlencode

from django.db.models import Sum
from django.utils import timezone

from brands.models import Brand
from consent.models import Purpose
from console.models import (
    PurposeDay,
    RollupWatermark,
    SubscriptionCount,
    SubscriptionState,
    UnsubscribeDay,
    UnsubscribeSource,
)
from console.rows import DELIVERY_FIGURES
from preferences.models import Cadence, Channel
from sync.models import Endpoint

DEFAULT_DAYS = 30
MAX_DAYS = 366


@dataclass(frozen=True)
class RowsBehind:
    """The rows a figure counts: `kind` names the list (contacts, consent-events, deliveries,
    endpoints), `filters` narrow it."""

    kind: str
    filters: tuple[tuple[str, str], ...] = ()

    @property
    def query(self) -> str:
        return urlencode(self.filters)


@dataclass(frozen=True)
class RatePoint:
    day: date
    grants: int
    withdrawals: int
    expiries: int
    active: int  # contacts whose consent is granted at the end of the day
    decided: int  # contacts with any decision for the purpose by then
    rows: RowsBehind

    @property
    def rate(self) -> float | None:
        """Active among decided, 0 to 1; None while nobody has decided."""
        return self.active / self.decided if self.decided else None


@dataclass(frozen=True)
class PurposeTrend:
    slug: str
    name: str
    points: list[RatePoint]
    rows: RowsBehind

    @property
    def current(self) -> RatePoint:
        return self.points[-1]


@dataclass(frozen=True)
class SubscriptionCell:
    """One topic on one channel: its subscriptions by state."""

    topic: str
    topic_name: str
    channel: str
    counts: dict[str, int]  # SubscriptionState -> count, every state present
    rows: dict[str, RowsBehind]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class CadenceShare:
    cadence: str
    count: int  # active and paused subscriptions that chose it
    rows: RowsBehind


@dataclass(frozen=True)
class PendingTopic:
    topic: str
    topic_name: str
    count: int
    rows: RowsBehind


@dataclass(frozen=True)
class PendingOptIns:
    total: int
    by_topic: list[PendingTopic]
    rows: RowsBehind


@dataclass(frozen=True)
class UnsubscribeDayRow:
    day: date
    by_source: dict[str, int]  # every source, in UnsubscribeSource's order

    @property
    def total(self) -> int:
        return sum(self.by_source.values())


@dataclass(frozen=True)
class Unsubscribes:
    days: list[UnsubscribeDayRow]
    totals: dict[str, int]
    rows: dict[str, RowsBehind]  # per source, over the period

    @property
    def total(self) -> int:
        return sum(self.totals.values())


@dataclass(frozen=True)
class EndpointStatus:
    public_id: str
    url: str
    status: str
    disabled_at: datetime | None
    lag_seconds: int | None  # age of the oldest event still waiting for delivery
    pending: int
    failures_24h: int
    delivered_1h: int
    latency_p95_ms: int | None
    rows: dict[str, RowsBehind]  # per figure (console.rows.DELIVERY_FIGURES): its deliveries


@dataclass(frozen=True)
class WebhookHealth:
    endpoints: list[EndpointStatus]
    # The summary's figures over every endpoint: the waiting deliveries (the longest wait is
    # the oldest of them) and those with a failed attempt in the last day.
    rows: dict[str, RowsBehind] = field(default_factory=lambda: _delivery_rows(None))
    # The brand's connectors by status (read with the endpoints: no query of their own).
    connectors_active: int = 0
    connectors_disabled: int = 0

    @property
    def disabled(self) -> int:
        return sum(e.status == Endpoint.Status.DISABLED for e in self.endpoints)

    @property
    def failures_24h(self) -> int:
        return sum(e.failures_24h for e in self.endpoints)

    @property
    def lag_seconds(self) -> int | None:
        lags = [e.lag_seconds for e in self.endpoints if e.lag_seconds is not None]
        return max(lags) if lags else None


@dataclass(frozen=True)
class Overview:
    start: date
    end: date
    refreshed_at: datetime | None
    consent: list[PurposeTrend]
    subscriptions: list[SubscriptionCell]
    cadences: list[CadenceShare]
    pending: PendingOptIns
    unsubscribes: Unsubscribes
    webhooks: WebhookHealth
    days: list[date] = field(default_factory=list)


def dashboard_overview(
    *,
    brand: Brand,
    days: int = DEFAULT_DAYS,
    today: date | None = None,
    language: str = "en",
    now: datetime | None = None,
) -> Overview:
    """The Overview's figures for the `days` days up to `today` (UTC): seven queries."""
    now = now or timezone.now()
    end = today or now.astimezone(UTC).date()
    days = max(1, min(days, MAX_DAYS))
    start = end - timedelta(days=days - 1)
    period = [start + timedelta(days=n) for n in range(days)]
    refreshed_at = RollupWatermark.objects.filter(brand=brand).values_list("refreshed_at", flat=True).first()
    figures = _subscriptions(brand=brand, language=language)
    return Overview(
        start=start,
        end=end,
        refreshed_at=refreshed_at,
        consent=_consent(brand=brand, period=period),
        subscriptions=figures.subscriptions,
        cadences=figures.cadences,
        pending=figures.pending,
        unsubscribes=_unsubscribes(brand=brand, period=period),
        webhooks=_webhooks(brand=brand, now=now),
        days=period,
    )


def _consent(*, brand: Brand, period: list[date]) -> list[PurposeTrend]:
    start, end = period[0], period[-1]
    purposes = list(Purpose.objects.filter(brand=brand).order_by("slug").values_list("pk", "slug", "name"))
    before = {
        row["purpose_id"]: (row["active"] or 0, row["decided"] or 0)
        for row in PurposeDay.objects.filter(brand=brand, day__lt=start)
        .values("purpose_id")
        .annotate(active=Sum("active_change"), decided=Sum("decided_change"))
        .order_by()
    }
    within: defaultdict[int, dict[date, tuple[int, int, int, int, int]]] = defaultdict(dict)
    for purpose_id, day, *values in PurposeDay.objects.filter(
        brand=brand, day__gte=start, day__lte=end
    ).values_list(
        "purpose_id", "day", "grants", "withdrawals", "expiries", "active_change", "decided_change"
    ):
        within[purpose_id][day] = tuple(values)  # type: ignore[assignment]
    trends = []
    for purpose_id, slug, name in purposes:
        active, decided = before.get(purpose_id, (0, 0))
        points = []
        for day in period:
            grants, withdrawals, expiries, active_change, decided_change = within[purpose_id].get(
                day, (0, 0, 0, 0, 0)
            )
            active += active_change
            decided += decided_change
            points.append(
                RatePoint(
                    day=day,
                    grants=grants,
                    withdrawals=withdrawals,
                    expiries=expiries,
                    active=active,
                    decided=decided,
                    rows=RowsBehind("consent-events", (("purpose", slug), ("day", day.isoformat()))),
                )
            )
        rows = RowsBehind("contacts", (("purpose", slug), ("consent", "granted")))
        trends.append(PurposeTrend(slug=slug, name=name, points=points, rows=rows))
    return trends


_STATES = [str(state) for state in SubscriptionState.values]
_CHANNEL_ORDER = {channel: n for n, channel in enumerate(Channel.values)}
_CADENCE_ORDER = {cadence: n for n, cadence in enumerate(Cadence.values)}


@dataclass(frozen=True)
class _SubscriptionFigures:
    subscriptions: list[SubscriptionCell]
    cadences: list[CadenceShare]
    pending: PendingOptIns


def _subscriptions(*, brand: Brand, language: str) -> _SubscriptionFigures:
    cells: dict[tuple[str, str], SubscriptionCell] = {}
    order: dict[str, tuple[int, str]] = {}
    cadences: defaultdict[str, int] = defaultdict(int)
    pending: defaultdict[str, int] = defaultdict(int)
    names: dict[str, str] = {}
    for slug, name, translations, position, channel, state, cadence, count in (
        SubscriptionCount.objects.filter(brand=brand)
        .exclude(count=0)
        .values_list(
            "topic__slug",
            "topic__name",
            "topic__translations",
            "topic__position",
            "channel",
            "state",
            "cadence",
            "count",
        )
    ):
        names[slug] = ((translations or {}).get(language) or {}).get("name") or name
        order[slug] = (position, slug)
        cell = cells.get((slug, channel))
        if cell is None:
            rows = {
                state_: RowsBehind(
                    "contacts", (("topic", slug), ("channel", channel), ("subscription", state_))
                )
                for state_ in _STATES
            }
            cell = cells[(slug, channel)] = SubscriptionCell(
                slug, "", channel, dict.fromkeys(_STATES, 0), rows
            )
        cell.counts[state] += count
        if state in (SubscriptionState.ACTIVE, SubscriptionState.PAUSED):
            cadences[cadence] += count
        elif state == SubscriptionState.PENDING:
            pending[slug] += count
    ordered = sorted(cells.values(), key=lambda c: (order[c.topic], _CHANNEL_ORDER.get(c.channel, 99)))
    subscriptions = [SubscriptionCell(c.topic, names[c.topic], c.channel, c.counts, c.rows) for c in ordered]
    cadence_shares = [
        CadenceShare(cadence, cadences[cadence], RowsBehind("contacts", (("cadence", cadence),)))
        for cadence in sorted(cadences, key=lambda c: _CADENCE_ORDER.get(c, 99))
        if cadences[cadence]
    ]
    by_topic = [
        PendingTopic(
            slug,
            names[slug],
            pending[slug],
            RowsBehind("contacts", (("topic", slug), ("subscription", "pending"))),
        )
        for slug in sorted(pending, key=lambda s: order[s])
        if pending[slug]
    ]
    return _SubscriptionFigures(
        subscriptions=subscriptions,
        cadences=cadence_shares,
        pending=PendingOptIns(
            total=sum(pending.values()),
            by_topic=by_topic,
            rows=RowsBehind("contacts", (("subscription", "pending"),)),
        ),
    )


_SOURCES = [str(source) for source in UnsubscribeSource.values]


def _unsubscribes(*, brand: Brand, period: list[date]) -> Unsubscribes:
    start, end = period[0], period[-1]
    found: defaultdict[date, dict[str, int]] = defaultdict(lambda: dict.fromkeys(_SOURCES, 0))
    for day, source, count in UnsubscribeDay.objects.filter(
        brand=brand, day__gte=start, day__lte=end
    ).values_list("day", "source", "count"):
        found[day][source] += count
    days = [
        UnsubscribeDayRow(day, found[day] if day in found else dict.fromkeys(_SOURCES, 0)) for day in period
    ]
    totals = {source: sum(row.by_source[source] for row in days) for source in _SOURCES}
    rows = {
        source: RowsBehind(
            "consent-events",
            (
                ("decision", "withdrawn"),
                ("source", source),
                ("from", start.isoformat()),
                ("to", end.isoformat()),
            ),
        )
        for source in _SOURCES
    }
    return Unsubscribes(days=days, totals=totals, rows=rows)


def _delivery_rows(endpoint: str | None) -> dict[str, RowsBehind]:
    narrowed = (("endpoint", endpoint),) if endpoint else ()
    return {figure: RowsBehind("deliveries", (("figure", figure), *narrowed)) for figure in DELIVERY_FIGURES}


def _webhooks(*, brand: Brand, now: datetime) -> WebhookHealth:
    endpoints = []
    connectors = {Endpoint.Status.ACTIVE.value: 0, Endpoint.Status.DISABLED.value: 0}
    for kind, public_id, url, status, disabled_at, oldest, pending, failures, delivered, p95 in (
        Endpoint.objects.filter(brand=brand)
        .order_by("created_at", "pk")
        .values_list(
            "kind",
            "public_id",
            "url",
            "status",
            "disabled_at",
            "console_health__oldest_pending_at",
            "console_health__pending",
            "console_health__failures_24h",
            "console_health__delivered_1h",
            "console_health__latency_p95_ms",
        )
    ):
        if kind == Endpoint.Kind.CONNECTOR:
            # Connectors are only counted here: their health is on their own pages.
            connectors[status] = connectors.get(status, 0) + 1
            continue
        endpoints.append(
            EndpointStatus(
                public_id=public_id,
                url=url,
                status=status,
                disabled_at=disabled_at,
                lag_seconds=None if oldest is None else max(0, int((now - oldest).total_seconds())),
                pending=pending or 0,
                failures_24h=failures or 0,
                delivered_1h=delivered or 0,
                latency_p95_ms=p95,
                rows=_delivery_rows(public_id),
            )
        )
    return WebhookHealth(
        endpoints=endpoints,
        connectors_active=connectors[Endpoint.Status.ACTIVE],
        connectors_disabled=connectors[Endpoint.Status.DISABLED],
    )
