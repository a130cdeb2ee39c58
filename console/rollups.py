"""Keeping the Overview's rollups current (console.models): every write is here.

Two ways in, one tally:

- `rollups_refresh` (the worker, every minute) reads the brand's changes feed from its
  watermark, in commit order (sync.outbox.feed: a transaction that commits late with a lower id
  is read, never skipped), and counts only what the new events name: each consent event's
  ledger row, and a recount of each named contact's subscriptions.
- `rollups_rebuild` (`manage.py rebuild_rollups`, for repair) replays the brand's whole ledger
  and recounts every subscription, in one snapshot, up to the feed position it then stores.

Both feed the same `_Tally`, so a rebuild gives what the refreshes gave.

What counts:

- A consent change is a ledger event that moved the projection (ConsentState); those are the
  events the outbox announces (consent.granted, consent.withdrawn, consent.expired). A late,
  older decision the ledger keeps as evidence but that changes nothing is not counted.
- A purpose's active contacts are those whose current decision is a grant; its decided
  contacts, those with any decision. The opt-in rate is active / decided.
- An unsubscribe is a withdrawal that ended an active consent; its source is the ledger event's
  method (and its evidence's GPC flag), see `unsubscribe_source`.
- A subscription is counted by its status, as `paused` while subscribed under an open hold.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

from django.db import OperationalError, connection, models, transaction
from django.utils import timezone

from brands.models import Brand
from consent.models import ConsentEvent, ConsentEvidence, Decision, Method
from console.models import (
    CountedConsent,
    CountedSubscription,
    EndpointHealth,
    PurposeDay,
    RollupWatermark,
    SubscriptionCount,
    SubscriptionState,
    UnsubscribeDay,
    UnsubscribeSource,
)
from preferences.models import Hold, Subscription, SubscriptionStatus, Topic
from sync.models import Attempt, Delivery, Endpoint, Event, EventType
from sync.outbox.feed import FeedPosition, events_feed, feed_end

logger = logging.getLogger(__name__)

CONSENT_EVENT_TYPES = frozenset(
    {EventType.CONSENT_GRANTED.value, EventType.CONSENT_WITHDRAWN.value, EventType.CONSENT_EXPIRED.value}
)
# A latency sample is a delivery that succeeded within this window; failures count over a day.
LATENCY_WINDOW = timedelta(hours=1)
REBUILD_ATTEMPTS = 3
SERIALIZATION_FAILURE = "40001"
FAILURE_WINDOW = timedelta(hours=24)

_METHOD_SOURCES = {
    Method.PREFERENCE_CENTRE.value: UnsubscribeSource.HOSTED_PAGE,
    Method.QUIZ.value: UnsubscribeSource.HOSTED_PAGE,
    Method.ONE_CLICK.value: UnsubscribeSource.ONE_CLICK,
    Method.API.value: UnsubscribeSource.API,
    Method.IMPORT.value: UnsubscribeSource.API,
    Method.GPC.value: UnsubscribeSource.GPC,
    Method.SMS.value: UnsubscribeSource.SMS,
    Method.AGENT.value: UnsubscribeSource.SUPPORT,
}


def unsubscribe_source(*, method: str, recorded_by: str, gpc: bool | None) -> str:
    """Where a withdrawal came from: a connector by the credential that wrote it (connectors
    record as `connector:…`), a Global Privacy Control signal by the method or the evidence's
    flag (the flag survives erasure), otherwise by the method."""
    if method == "connector" or recorded_by.startswith("connector:"):
        return UnsubscribeSource.CONNECTOR
    if gpc:
        return UnsubscribeSource.GPC
    return _METHOD_SOURCES.get(method, UnsubscribeSource.API)


def _day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


@dataclass
class _Tally:
    """Consent changes and subscription recounts of one batch, as differences to add."""

    brand_id: int
    # (contact_id, purpose_id) -> counted as granted; loaded for the pairs a batch touches.
    consents: dict[tuple[int, int], bool] = field(default_factory=dict)
    consents_changed: set[tuple[int, int]] = field(default_factory=set)
    # (purpose_id, day) -> [grants, withdrawals, expiries, active_change, decided_change]
    days: defaultdict[tuple[int, date], list[int]] = field(
        default_factory=lambda: defaultdict(lambda: [0] * 5)
    )
    unsubscribes: Counter[tuple[date, str]] = field(default_factory=Counter)
    # (topic_id, channel, state, cadence) -> change
    subscriptions: Counter[tuple[int, str, str, str]] = field(default_factory=Counter)

    def decision(
        self,
        *,
        contact_id: int,
        purpose_id: int,
        decision: str,
        recorded_at: datetime,
        method: str,
        recorded_by: str,
        gpc: bool | None,
    ) -> None:
        """One ledger event that moved the contact's state for the purpose, in chain order."""
        pair = (contact_id, purpose_id)
        before = self.consents.get(pair)
        after = decision == Decision.GRANTED
        day = _day(recorded_at)
        row = self.days[(purpose_id, day)]
        row[0] += decision == Decision.GRANTED
        row[1] += decision == Decision.WITHDRAWN
        row[2] += decision == Decision.EXPIRED
        row[3] += int(after) - int(bool(before))
        row[4] += before is None
        if decision == Decision.WITHDRAWN and before:
            source = unsubscribe_source(method=method, recorded_by=recorded_by, gpc=gpc)
            self.unsubscribes[(day, source)] += 1
        self.consents[pair] = after
        self.consents_changed.add(pair)


# --- Refresh -----------------------------------------------------------------------------------


def rollups_refresh(*, brand: Brand, batch_size: int = 2000, now: datetime | None = None) -> int:
    """Count the brand's changes since the watermark, a batch per transaction, then recompute
    its webhook health. Returns how many feed events were read."""
    now = now or timezone.now()
    total = 0
    while True:
        read, more = _refresh_batch(brand=brand, limit=batch_size, now=now)
        total += read
        if not more:
            break
    endpoints_health_refresh(brand=brand, now=now)
    return total


def rollups_refresh_all(*, now: datetime | None = None) -> int:
    """Every brand's rollups (the beat task). Returns how many feed events were read."""
    return sum(rollups_refresh(brand=brand, now=now) for brand in Brand.objects.order_by("pk"))


def _watermark_lock(brand: Brand) -> RollupWatermark:
    # One refresh or rebuild of a brand at a time: the row lock serialises them.
    RollupWatermark.objects.bulk_create([RollupWatermark(brand=brand)], ignore_conflicts=True)
    return RollupWatermark.objects.select_for_update().get(brand=brand)


@transaction.atomic
def _refresh_batch(*, brand: Brand, limit: int, now: datetime) -> tuple[int, bool]:
    mark = _watermark_lock(brand)
    after = FeedPosition(mark.cursor_txid, mark.cursor_id)
    page = events_feed(brand=brand, after=after, limit=limit)
    if page.next_position == after:
        return 0, False
    tally = _Tally(brand_id=brand.pk)
    consent_ids = [
        event.data["event_id"]
        for event in page.events
        if event.type in CONSENT_EVENT_TYPES and isinstance(event.data, dict) and event.data.get("event_id")
    ]
    _count_decisions(tally, _ledger_rows(brand_id=brand.pk, event_ids=consent_ids))
    # Brand-level events (endpoint.disabled, …) have a negative contact_ref: no contact.
    contacts = sorted({event.contact_ref for event in page.events if event.contact_ref > 0})
    _recount_subscriptions(tally, brand_id=brand.pk, contact_ids=contacts, now=now)
    _write(tally)
    mark.cursor_txid, mark.cursor_id = page.next_position
    mark.refreshed_at = now
    mark.save(update_fields=["cursor_txid", "cursor_id", "refreshed_at"])
    return len(page.events), page.has_more


_LEDGER_COLUMNS = ("contact_id", "purpose_id", "decision", "recorded_at", "method", "recorded_by")


def _ledger_rows(*, brand_id: int, event_ids: Sequence[str]) -> list[tuple[Any, ...]]:
    """The ledger rows behind the feed's consent events, in chain order per contact."""
    if not event_ids:
        return []
    return list(
        ConsentEvent.objects.filter(brand_id=brand_id, id__in=event_ids)
        .order_by("contact_id", "sequence")
        .values_list(*_LEDGER_COLUMNS, "evidence__gpc")
    )


def _count_decisions(tally: _Tally, rows: Iterable[tuple[Any, ...]]) -> None:
    rows = list(rows)
    if not rows:
        return
    contacts = {row[0] for row in rows}
    tally.consents.update(
        ((contact_id, purpose_id), granted)
        for contact_id, purpose_id, granted in CountedConsent.objects.filter(
            brand_id=tally.brand_id, contact_id__in=contacts
        ).values_list("contact_id", "purpose_id", "granted")
    )
    for contact_id, purpose_id, decision, recorded_at, method, recorded_by, gpc in rows:
        tally.decision(
            contact_id=contact_id,
            purpose_id=purpose_id,
            decision=decision,
            recorded_at=recorded_at,
            method=method,
            recorded_by=recorded_by,
            gpc=gpc,
        )


Reading = tuple[str, str]  # (state, cadence)
SubscriptionKey = tuple[int, int, str]  # (contact_id, topic_id, channel)


def _readings(
    *, brand_id: int, contact_ids: Sequence[int] | None, now: datetime
) -> dict[SubscriptionKey, Reading]:
    """The subscriptions as the dashboard counts them now: of these contacts, or (None) all."""
    subscriptions = Subscription.objects.filter(brand_id=brand_id)
    holds = Hold.objects.filter(brand_id=brand_id, ended_at__isnull=True, until__gt=now)
    if contact_ids is not None:
        subscriptions = subscriptions.filter(contact_id__in=contact_ids)
        holds = holds.filter(contact_id__in=contact_ids)
    transactional = set(
        Topic.objects.filter(brand_id=brand_id, transactional=True).values_list("pk", flat=True)
    )
    open_holds: defaultdict[int, list[tuple[set[int], set[str]]]] = defaultdict(list)
    hold_rows = list(holds.values_list("pk", "contact_id", "channels"))
    if hold_rows:
        topics: defaultdict[int, set[int]] = defaultdict(set)
        through = Hold.topics.through.objects.filter(hold_id__in=[row[0] for row in hold_rows])
        for hold_id, topic_id in through.values_list("hold_id", "topic_id"):
            topics[hold_id].add(topic_id)
        for hold_id, contact_id, channels in hold_rows:
            open_holds[contact_id].append((topics[hold_id], set(channels or [])))

    def held(contact_id: int, topic_id: int, channel: str) -> bool:
        return topic_id not in transactional and any(
            (not topic_set or topic_id in topic_set) and (not channel_set or channel in channel_set)
            for topic_set, channel_set in open_holds.get(contact_id, ())
        )

    readings: dict[SubscriptionKey, Reading] = {}
    for contact_id, topic_id, channel, status, cadence in subscriptions.values_list(
        "contact_id", "topic_id", "channel", "status", "cadence"
    ):
        if status == SubscriptionStatus.SUBSCRIBED:
            state = (
                SubscriptionState.PAUSED if held(contact_id, topic_id, channel) else SubscriptionState.ACTIVE
            )
        elif status == SubscriptionStatus.PENDING:
            state = SubscriptionState.PENDING
        else:
            state = SubscriptionState.UNSUBSCRIBED
        readings[(contact_id, topic_id, channel)] = (str(state), cadence)
    return readings


def _recount_subscriptions(
    tally: _Tally, *, brand_id: int, contact_ids: Sequence[int], now: datetime
) -> None:
    """Count the difference between the contacts' subscriptions now and as last counted, and
    remember them as they are now."""
    if not contact_ids:
        return
    new = _readings(brand_id=brand_id, contact_ids=contact_ids, now=now)
    old: dict[SubscriptionKey, Reading] = {
        (contact_id, topic_id, channel): (state, cadence)
        for contact_id, topic_id, channel, state, cadence in CountedSubscription.objects.filter(
            brand_id=brand_id, contact_id__in=contact_ids
        ).values_list("contact_id", "topic_id", "channel", "state", "cadence")
    }
    if new == old:
        return
    changed = {key[0] for key in set(new) ^ set(old)} | {
        key[0] for key in new if key in old and new[key] != old[key]
    }
    for (_, topic_id, channel), (state, cadence) in old.items():
        tally.subscriptions[(topic_id, channel, state, cadence)] -= 1
    for (_, topic_id, channel), (state, cadence) in new.items():
        tally.subscriptions[(topic_id, channel, state, cadence)] += 1
    CountedSubscription.objects.filter(brand_id=brand_id, contact_id__in=changed).delete()
    CountedSubscription.objects.bulk_create(
        [
            CountedSubscription(
                brand_id=brand_id,
                contact_id=contact_id,
                topic_id=topic_id,
                channel=channel,
                state=state,
                cadence=cadence,
            )
            for (contact_id, topic_id, channel), (state, cadence) in new.items()
            if contact_id in changed
        ],
        batch_size=5000,
    )


# --- Writing the differences ------------------------------------------------------------------


def _column(model: type[models.Model], name: str) -> str:
    return connection.ops.quote_name(cast(models.Field, model._meta.get_field(name)).column)


def _add(
    model: type[models.Model], keys: Sequence[str], counts: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    """INSERT rows of (brand_id, *keys, *counts), adding the counts to any row already there:
    one statement per 1000 rows, its names taken from the model."""
    if not rows:
        return
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    names = ["brand", *keys]
    columns = [_column(model, name) for name in [*names, *counts]]
    conflict = ", ".join(_column(model, name) for name in names)
    updates = ", ".join(
        f"{column} = {table}.{column} + EXCLUDED.{column}" for column in columns[len(names) :]
    )
    placeholders = "(" + ", ".join(["%s"] * len(columns)) + ")"
    for start in range(0, len(rows), 1000):
        chunk = rows[start : start + 1000]
        sql = (
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES "  # noqa: S608 (names from the model)
            f"{', '.join([placeholders] * len(chunk))} ON CONFLICT ({conflict}) DO UPDATE SET {updates}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [value for row in chunk for value in row])


def _write(tally: _Tally) -> None:
    brand_id = tally.brand_id
    _add(
        PurposeDay,
        ["purpose", "day"],
        ["grants", "withdrawals", "expiries", "active_change", "decided_change"],
        [
            (brand_id, purpose_id, day, *values)
            for (purpose_id, day), values in sorted(tally.days.items())
            if any(values)
        ],
    )
    _add(
        UnsubscribeDay,
        ["day", "source"],
        ["count"],
        [(brand_id, day, source, n) for (day, source), n in sorted(tally.unsubscribes.items()) if n],
    )
    _add(
        SubscriptionCount,
        ["topic", "channel", "state", "cadence"],
        ["count"],
        [(brand_id, *key, n) for key, n in sorted(tally.subscriptions.items()) if n],
    )
    if tally.consents_changed:
        CountedConsent.objects.bulk_create(
            [
                CountedConsent(
                    brand_id=brand_id,
                    contact_id=contact_id,
                    purpose_id=purpose_id,
                    granted=tally.consents[(contact_id, purpose_id)],
                )
                for contact_id, purpose_id in sorted(tally.consents_changed)
            ],
            update_conflicts=True,
            unique_fields=["contact", "purpose"],
            update_fields=["granted"],
            batch_size=5000,
        )


# --- Rebuild ----------------------------------------------------------------------------------


def _replay_sql() -> str:
    """The brand's ledger events that moved the projection, in chain order, with what the tally
    needs; leaving out those whose outbox event lies past the feed position the rebuild stores
    (the refreshes will count them). An event moved the projection when it outranks every
    earlier event of its contact and purpose: later occurred_at, then withdrawal over grant,
    then the later event (consent.statements._rank)."""
    quote = connection.ops.quote_name
    ledger = quote(ConsentEvent._meta.db_table)
    evidence = quote(ConsentEvidence._meta.db_table)
    outbox = quote(Event._meta.db_table)
    columns = ", ".join(f"e.{_column(ConsentEvent, name)}" for name in _LEDGER_COLUMNS)
    types = ", ".join(f"'{t}'" for t in sorted(CONSENT_EVENT_TYPES))
    return (
        f"WITH later AS (SELECT (data ->> 'event_id')::uuid AS id FROM {outbox} "  # noqa: S608 (names from the models)
        f"WHERE brand_id = %(brand)s AND type IN ({types}) AND (txid, id) > (%(txid)s, %(id)s)), "
        f"ranked AS (SELECT e.id, e.sequence, {columns}, d.gpc, "
        "extract(epoch FROM e.occurred_at) * 2 + CASE WHEN e.decision = 'withdrawn' THEN 1 ELSE 0 END AS r "
        f"FROM {ledger} e LEFT JOIN {evidence} d ON d.event_id = e.id WHERE e.brand_id = %(brand)s), "
        "marked AS (SELECT *, r >= coalesce(max(r) OVER (PARTITION BY contact_id, purpose_id "
        "ORDER BY sequence ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), r) AS moved FROM ranked) "
        f"SELECT {', '.join(_LEDGER_COLUMNS)}, gpc FROM marked "
        "WHERE moved AND id NOT IN (SELECT id FROM later) ORDER BY contact_id, sequence"
    )


def rollups_rebuild(*, brand: Brand, now: datetime | None = None) -> dict[str, int]:
    """Rebuild the brand's rollups from the ledger and the subscriptions as they are, and move
    the watermark to the feed's end: one snapshot (REPEATABLE READ), so the ledger replayed and
    the feed position agree. Returns how many ledger events and subscriptions were counted."""
    if connection.in_atomic_block:
        # The snapshot must be the transaction's first: a caller's earlier reads would break it.
        raise RuntimeError("rollups_rebuild runs in a transaction of its own.")
    for attempt in range(1, REBUILD_ATTEMPTS + 1):
        try:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                return _rebuild(brand=brand, now=now or timezone.now())
        except OperationalError as exc:
            # A refresh moved the watermark after this snapshot began: start again from a new one.
            if (
                getattr(exc.__cause__, "sqlstate", None) != SERIALIZATION_FAILURE
                or attempt == REBUILD_ATTEMPTS
            ):
                raise
    raise AssertionError("unreachable")


def _rebuild(*, brand: Brand, now: datetime) -> dict[str, int]:
    mark = _watermark_lock(brand)
    end = feed_end(brand=brand)
    for model in (CountedConsent, CountedSubscription, PurposeDay, UnsubscribeDay, SubscriptionCount):
        model.objects.filter(brand=brand).delete()
    tally = _Tally(brand_id=brand.pk)
    replayed = 0
    with connection.cursor() as cursor:
        cursor.execute(_replay_sql(), {"brand": brand.pk, "txid": end.txid, "id": end.id})
        while rows := cursor.fetchmany(10000):
            for contact_id, purpose_id, decision, recorded_at, method, recorded_by, gpc in rows:
                tally.decision(
                    contact_id=contact_id,
                    purpose_id=purpose_id,
                    decision=decision,
                    recorded_at=recorded_at if recorded_at.tzinfo else recorded_at.replace(tzinfo=UTC),
                    method=method,
                    recorded_by=recorded_by,
                    gpc=gpc,
                )
            replayed += len(rows)
    readings = _readings(brand_id=brand.pk, contact_ids=None, now=now)
    for (_, topic_id, channel), (state, cadence) in readings.items():
        tally.subscriptions[(topic_id, channel, state, cadence)] += 1
    CountedSubscription.objects.bulk_create(
        [
            CountedSubscription(
                brand_id=brand.pk,
                contact_id=contact_id,
                topic_id=topic_id,
                channel=channel,
                state=state,
                cadence=cadence,
            )
            for (contact_id, topic_id, channel), (state, cadence) in readings.items()
        ],
        batch_size=5000,
    )
    _write(tally)
    mark.cursor_txid, mark.cursor_id = end
    mark.refreshed_at = mark.rebuilt_at = now
    mark.save(update_fields=["cursor_txid", "cursor_id", "refreshed_at", "rebuilt_at"])
    endpoints_health_refresh(brand=brand, now=now)
    return {"ledger_events": replayed, "subscriptions": len(readings)}


# --- Webhook health ---------------------------------------------------------------------------


def endpoints_health_refresh(*, brand: Brand, now: datetime | None = None) -> int:
    """Each of the brand's endpoints: the oldest pending delivery's event time, how many are
    pending, failed attempts in the last 24 h, deliveries that succeeded in the last hour and
    the 95th percentile of their latency (from the event's recording to the successful
    attempt's end). Indexed reads of sync's tables; returns the number of endpoints."""
    now = now or timezone.now()
    endpoint_ids = list(Endpoint.objects.filter(brand=brand).values_list("pk", flat=True))
    if not endpoint_ids:
        EndpointHealth.objects.filter(brand=brand).delete()
        return 0
    quote = connection.ops.quote_name
    delivery, attempt, event = (quote(m._meta.db_table) for m in (Delivery, Attempt, Event))
    pending = Delivery.Status.PENDING.value
    succeeded = Attempt.Outcome.SUCCEEDED.value
    waited = "coalesce(ev.created_at, d.created_at)"  # a test message has no event
    sql = (
        f"SELECT ep.id, (SELECT {waited} FROM {delivery} d "  # noqa: S608 (names from the models)
        f"LEFT JOIN {event} ev ON ev.id = d.event_id "
        "WHERE d.endpoint_id = ep.id AND d.status = %(pending)s ORDER BY d.id LIMIT 1), "
        f"(SELECT count(*) FROM {delivery} d WHERE d.endpoint_id = ep.id AND d.status = %(pending)s), "
        "coalesce(a.failures, 0), coalesce(a.delivered, 0), a.p95 "
        "FROM unnest(%(ids)s::bigint[]) AS ep(id) LEFT JOIN ("
        "SELECT d.endpoint_id, "
        "count(*) FILTER (WHERE a.outcome <> %(succeeded)s) AS failures, "
        "count(*) FILTER (WHERE a.outcome = %(succeeded)s AND a.started_at >= %(recent)s) AS delivered, "
        "percentile_cont(0.95) WITHIN GROUP "
        f"(ORDER BY extract(epoch FROM a.started_at - {waited}) * 1000 + a.duration_ms) "
        "FILTER (WHERE a.outcome = %(succeeded)s AND a.started_at >= %(recent)s) AS p95 "
        f"FROM {attempt} a JOIN {delivery} d ON d.id = a.delivery_id "
        f"LEFT JOIN {event} ev ON ev.id = d.event_id "
        "WHERE a.started_at >= %(since)s AND d.endpoint_id = ANY(%(ids)s) GROUP BY d.endpoint_id"
        ") a ON a.endpoint_id = ep.id"
    )
    params: dict[str, Any] = {
        "ids": endpoint_ids,
        "pending": pending,
        "succeeded": succeeded,
        "since": now - FAILURE_WINDOW,
        "recent": now - LATENCY_WINDOW,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    EndpointHealth.objects.bulk_create(
        [
            EndpointHealth(
                endpoint_id=endpoint_id,
                brand=brand,
                oldest_pending_at=oldest,
                pending=count,
                failures_24h=failures,
                delivered_1h=delivered,
                latency_p95_ms=None if p95 is None else max(0, round(p95)),
                computed_at=now,
            )
            for endpoint_id, oldest, count, failures, delivered, p95 in rows
        ],
        update_conflicts=True,
        unique_fields=["endpoint"],
        update_fields=[
            "oldest_pending_at",
            "pending",
            "failures_24h",
            "delivered_1h",
            "latency_p95_ms",
            "computed_at",
        ],
    )
    return len(rows)
