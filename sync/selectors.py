"""Reads of the outbox. Every read takes the brand."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, cast

from django.conf import settings
from django.core.cache import cache
from django.db import connection, models
from django.db.models import Case, Exists, OuterRef, Prefetch, Q, When
from django.db.models.expressions import Col

from brands.models import Brand
from config.errors import NotFound
from sync.models import Attempt, Delivery, Endpoint, Event
from sync.serializers import EVENT_JSON_SQL


class FeedPosition(NamedTuple):
    """A place in a brand's changes feed: the (txid, id) of the last event a consumer has."""

    txid: int
    id: int


FEED_START = FeedPosition(0, 0)


@dataclass(frozen=True)
class FeedEvent:
    public_id: uuid.UUID
    type: str
    created_at: datetime
    data: dict[str, Any]
    # For webhook fan-out (sync.webhooks): the row, its contact and per-contact sequence.
    id: int
    contact_ref: int
    sequence: int


@dataclass(frozen=True)
class FeedPage:
    events: list[FeedEvent]
    # Where the next page starts: after the last event returned, or further when a type filter
    # skipped events past it; `after` itself when nothing new is ready.
    next_position: FeedPosition
    # More events are ready now: ask again at once rather than after the polling interval.
    has_more: bool


_table = Event._meta.db_table
_FEED_FIELDS = [
    cast(models.Field, Event._meta.get_field(name))
    for name in ("public_id", "type", "created_at", "data", "contact_ref", "sequence")
]


def _converters() -> list[tuple[int, list[Any], Col]]:
    """What the ORM would apply to each column (per backend): aware datetimes, parsed JSON, UUIDs."""
    out = []
    for index, field in enumerate(_FEED_FIELDS, start=4):
        column = Col(_table, field)
        found = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
        if found:
            out.append((index, found, column))
    return out


def events_feed(*, brand: Brand, after: FeedPosition, limit: int, types: Collection[str] = ()) -> FeedPage:
    """Up to `limit` of the brand's events after `after`, in commit order, optionally only of `types`.

    Why (txid, id) and not id: a BigAutoField id is handed out at INSERT, but transactions
    commit in their own order. On PostgreSQL a transaction can take id 10, stay open, and commit
    after id 11 did; a consumer that had already read up to 11 would never see 10. So every Event
    carries its writing transaction's id (Event.txid, filled by the database), the feed is
    ordered by (txid, id), and it only returns events whose txid is below the xmin of the
    statement's own snapshot: every transaction with a smaller id has committed or aborted, so
    that part of the feed can no longer change, while any event still to commit has a txid of
    at least that xmin, above every position the feed has handed out. A consumer that pages
    from the start therefore sees each committed event exactly once; the price is a lag as long
    as the oldest write transaction still open in the database.

    The order is that of the transactions' ids, which is commit order for transactions that do
    not overlap; for one contact it is always sequence order (a trigger raises an event's txid
    to its contact's previous one where needed; see migration sync 0003), so a consumer may
    apply each contact's events as they come.

    One statement, so the page, the horizon and the tail (below) come from one snapshot.
    """
    rows, next_position, has_more = _feed_rows(
        brand=brand, after=after, limit=limit, types=types, columns=[str(f.column) for f in _FEED_FIELDS]
    )
    converters = _converters()
    events = []
    for row in rows:
        values = list(row)
        for index, found, column in converters:
            for convert in found:
                values[index] = convert(values[index], column, connection)
        public_id, type_, created_at, data, contact_ref, sequence = values[4:]
        events.append(FeedEvent(public_id, type_, created_at, data, values[3], contact_ref, sequence))
    return FeedPage(events=events, next_position=next_position, has_more=has_more)


@dataclass(frozen=True)
class FeedJsonPage:
    events: list[str]  # each event's JSON text (sync.serializers.event_json)
    next_position: FeedPosition
    has_more: bool


def events_feed_json(
    *, brand: Brand, after: FeedPosition, limit: int, types: Collection[str] = ()
) -> FeedJsonPage:
    """events_feed's page (the same statement, order and horizon) with each event as the JSON
    text the API answers, built by the database (sync.serializers.EVENT_JSON_SQL),
    so the API's hot path neither parses nor encodes an event in Python."""
    rows, next_position, has_more = _feed_rows(
        brand=brand, after=after, limit=limit, types=types, columns=[f"{EVENT_JSON_SQL} AS body"]
    )
    return FeedJsonPage(events=[row[4] for row in rows], next_position=next_position, has_more=has_more)


def _feed_rows(
    *, brand: Brand, after: FeedPosition, limit: int, types: Collection[str], columns: list[str]
) -> tuple[list[tuple[Any, ...]], FeedPosition, bool]:
    """The one statement of the feed (see events_feed): up to `limit` rows of (tail txid, tail id,
    txid, id, *columns) in feed order, where the next page starts, and whether one is ready.

    `columns` are SQL over the sync_event row, each a column name or an expression with an
    alias (`… AS name`); never anything from a request."""
    where = (
        "brand_id = %s AND (txid, id) > (%s, %s) "
        "AND txid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
    )
    type_filter = f" AND type IN ({', '.join(['%s'] * len(types))})" if types else ""
    position = [brand.pk, after.txid, after.id]
    params: list[Any] = [*position, *position, *types, limit + 1]
    names = [column.rsplit(" AS ", 1)[-1] for column in columns]
    # The tail is the last ready event of any type: when a type filter leaves the page short,
    # the next page may start there, so polling for a rare type does not scan the same skipped
    # events again and again. No tail, no page; a tail and no page give one row of NULLs.
    sql = (
        f"WITH tail AS (SELECT txid, id FROM {_table} WHERE {where} "  # noqa: S608 (names from the model)
        "ORDER BY txid DESC, id DESC LIMIT 1), "
        f"page AS (SELECT txid, id, {', '.join(columns)} FROM {_table} WHERE {where}{type_filter} "
        "ORDER BY txid, id LIMIT %s) "
        f"SELECT tail.txid, tail.id, page.txid, page.id, {', '.join(f'page.{n}' for n in names)} "
        "FROM tail LEFT JOIN page ON 1 = 1 ORDER BY page.txid, page.id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if not rows:
        return [], after, False
    tail = FeedPosition(rows[0][0], rows[0][1])
    page = [row for row in rows if row[3] is not None]
    has_more = len(page) > limit
    page = page[:limit]
    # After a full page, the next one starts after its last event; otherwise at the tail, which
    # is that event or a later one the type filter skipped.
    next_position = FeedPosition(page[-1][2], page[-1][3]) if has_more else tail
    return page, next_position, has_more


# --- Webhooks ------------------------------------------------------------------------


def _endpoints_cache_key(brand_id: int) -> str:
    return f"sync:active-endpoints:{brand_id}"


def feed_end(*, brand: Brand) -> FeedPosition:
    """The position after the brand's last event the feed can hand out now (see events_feed's
    horizon): where a new webhook endpoint starts."""
    sql = (
        f"SELECT txid, id FROM {_table} WHERE brand_id = %s "  # noqa: S608 (names from the model)
        "AND txid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql + " ORDER BY txid DESC, id DESC LIMIT 1", [brand.pk])
        row = cursor.fetchone()
    return FeedPosition(row[0], row[1]) if row else FEED_START


def endpoint_ids_active(*, brand_id: int) -> list[int]:
    """The ids of the brand's active endpoints, cached (WEBHOOK_ENDPOINT_CACHE_SECONDS): every
    write asks, and most brands have none. sync.webhooks clears the entry after a change."""
    key = _endpoints_cache_key(brand_id)
    ids = cache.get(key)
    if ids is None:
        ids = list(
            Endpoint.objects.filter(brand_id=brand_id, status=Endpoint.Status.ACTIVE)
            .order_by("id")
            .values_list("id", flat=True)
        )
        cache.set(key, ids, settings.WEBHOOK_ENDPOINT_CACHE_SECONDS)
    return ids


def endpoint_get(*, brand: Brand, public_id: str) -> Endpoint:
    endpoint = Endpoint.objects.filter(brand=brand, public_id=public_id).first()
    if endpoint is None:
        raise NotFound(f"No endpoint {public_id!r}.")
    return endpoint


def endpoints_list(*, brand: Brand, after_id: int, limit: int) -> list[Endpoint]:
    """Oldest first, up to `limit` + 1 (the extra one says there is a next page)."""
    return list(Endpoint.objects.filter(brand=brand, id__gt=after_id).order_by("id")[: limit + 1])


def delivery_get(*, endpoint: Endpoint, public_id: str) -> Delivery:
    delivery = Delivery.objects.filter(endpoint=endpoint, public_id=public_id).first()
    if delivery is None:
        raise NotFound(f"No delivery {public_id!r} for this endpoint.")
    return delivery


def deliveries_list(
    *, endpoint: Endpoint, before_id: int | None, limit: int, status: str | None = None
) -> list[Delivery]:
    """The delivery log, newest first, each with its attempts; up to `limit` + 1."""
    rows = Delivery.objects.filter(endpoint=endpoint)
    if before_id is not None:
        rows = rows.filter(id__lt=before_id)
    if status:
        rows = rows.filter(status=status)
    attempts = Prefetch("attempts", queryset=Attempt.objects.order_by("number", "id"))
    return list(
        rows.select_related("event").prefetch_related(attempts).defer("body").order_by("-id")[: limit + 1]
    )


def deliveries_ready_rows(now: datetime) -> models.QuerySet[Delivery]:
    """Pending deliveries that may be sent now: due, held by no live worker, for an active
    endpoint, and the earliest pending one of their contact for their endpoint (so a receiver
    gets each contact's events in sequence order)."""
    earlier = Delivery.objects.filter(
        endpoint_id=OuterRef("endpoint_id"),
        contact_ref=OuterRef("contact_ref"),
        status=Delivery.Status.PENDING,
        sequence__lt=OuterRef("sequence"),
    )
    return (
        Delivery.objects.filter(
            status=Delivery.Status.PENDING, next_attempt_at__lte=now, endpoint__status=Endpoint.Status.ACTIVE
        )
        .filter(Q(leased_until__isnull=True) | Q(leased_until__lte=now))
        .filter(~Exists(earlier) | Q(contact_ref__isnull=True))
    )


def deliveries_ready(
    *,
    endpoint_id: int,
    limit: int,
    now: datetime,
    prefer_contact: int | None = None,
    enqueued_before: datetime | None = None,
) -> list[int]:
    """Up to `limit` ids of the endpoint's deliveries ready to send, oldest first (the contact
    `prefer_contact`'s first); with `enqueued_before`, only those not handed to the broker since."""
    rows = deliveries_ready_rows(now).filter(endpoint_id=endpoint_id)
    if enqueued_before is not None:
        rows = rows.filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=enqueued_before))
    order: list[Any] = ["id"]
    if prefer_contact is not None:
        order.insert(0, Case(When(contact_ref=prefer_contact, then=0), default=1))
    return list(rows.order_by(*order).values_list("id", flat=True)[:limit])


def deliveries_in_flight(*, endpoint_id: int, now: datetime) -> int:
    """The endpoint's claims in flight: a claim (sync.webhooks.delivery_send) leases its whole
    batch until one instant and sends one request at a time, so each distinct live lease is one
    worker busy with the endpoint."""
    leases = Delivery.objects.filter(
        endpoint_id=endpoint_id, status=Delivery.Status.PENDING, leased_until__gt=now
    )
    return leases.values("leased_until").distinct().count()


def endpoint_ids_behind() -> list[int]:
    """Active endpoints whose brand has events past their fan-out cursor (the feed's horizon
    may still hold some back: fan-out then finds nothing, which is harmless)."""
    later = Event.objects.filter(brand_id=OuterRef("brand_id")).filter(
        Q(txid__gt=OuterRef("cursor_txid")) | Q(txid=OuterRef("cursor_txid"), id__gt=OuterRef("cursor_id"))
    )
    return list(
        Endpoint.objects.filter(status=Endpoint.Status.ACTIVE)
        .filter(Exists(later))
        .order_by("id")
        .values_list("id", flat=True)
    )


def endpoint_ids_with_ready(*, now: datetime) -> list[int]:
    """Active endpoints with a delivery due now."""
    due = Delivery.objects.filter(
        endpoint_id=OuterRef("pk"), status=Delivery.Status.PENDING, next_attempt_at__lte=now
    )
    return list(
        Endpoint.objects.filter(status=Endpoint.Status.ACTIVE)
        .filter(Exists(due))
        .order_by("id")
        .values_list("id", flat=True)
    )
