"""The changes feed: reads of the outbox by position, in commit order. Every read takes the brand."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, cast

from django.db import connection, models
from django.db.models.expressions import Col

from brands.models import Brand
from sync.models import Event
from sync.outbox.serializers import EVENT_JSON_SQL


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
    # For webhook fan-out (sync.delivery.fanout): the row, its contact and per-contact sequence.
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
    events: list[str]  # each event's JSON text (sync.outbox.serializers.event_json)
    next_position: FeedPosition
    has_more: bool


def events_feed_json(
    *, brand: Brand, after: FeedPosition, limit: int, types: Collection[str] = ()
) -> FeedJsonPage:
    """events_feed's page (the same statement, order and horizon) with each event as the JSON
    text the API answers, built by the database (sync.outbox.serializers.EVENT_JSON_SQL),
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
