"""Handing an endpoint's ready deliveries to the broker, one delivery_send message each, no
more of them than the endpoint has claims to spare."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from sync.delivery import selectors
from sync.delivery.broker import publish_sends
from sync.delivery.statements import READY, select_generic

# The sweeper hands a ready delivery to the broker again only this long after the last time
# (setting WEBHOOK_REQUEUE_SECONDS overrides it).
REQUEUE_SECONDS = 60


def _requeue_seconds() -> float:
    return getattr(settings, "WEBHOOK_REQUEUE_SECONDS", None) or REQUEUE_SECONDS


def free_slots(endpoint_id: int, now: datetime) -> int:
    """How many more claims of the endpoint's deliveries may be in flight now."""
    return settings.WEBHOOK_MAX_IN_FLIGHT - selectors.deliveries_in_flight(endpoint_id=endpoint_id, now=now)


def deliveries_dispatch(
    *,
    endpoint_id: int,
    limit: int,
    now: datetime | None = None,
    prefer_contact: int | None = None,
    skip_recent: bool = True,
) -> list[int]:
    """Hand up to `limit` of the endpoint's ready deliveries to the broker (after COMMIT), oldest
    first (`prefer_contact`'s first); their ids. With `skip_recent` (the default) those handed
    over in the last REQUEUE_SECONDS are left out: their message may still be queued."""
    if limit <= 0:
        return []
    now = now or timezone.now()
    sql, params = dispatch_statement(
        endpoint_id=endpoint_id,
        limit=limit,
        now=now,
        prefer_contact=prefer_contact,
        skip_recent=skip_recent,
    )
    [rows] = select_generic([(sql, params)])
    ids = dispatched(rows)
    if ids:
        transaction.on_commit(lambda: publish_sends(ids))
    return ids


def dispatch_statement(
    *, endpoint_id: int, limit: int, now: datetime, prefer_contact: int | None, skip_recent: bool = True
) -> tuple[str, list[Any]]:
    """deliveries_dispatch's pick and mark in one statement: up to `limit` ready deliveries of an
    active endpoint (with `skip_recent`, not handed over in the last _requeue_seconds()), the
    ready one of `prefer_contact` first (a contact has at most one), then the oldest; marked
    handed over now; RETURNING id, rank (0 for the preferred contact's). Index scans that stop at
    the limit (delivery_pending_contact, delivery_pending_endpoint), not a sort of the backlog."""
    fresh = " AND (d.enqueued_at IS NULL OR d.enqueued_at < %s)" if skip_recent else ""
    before = [now - timedelta(seconds=_requeue_seconds())] if skip_recent else []
    oldest = """
        (SELECT d.id, 1 AS rank FROM sync_delivery d
         WHERE d.endpoint_id = %s{other} AND {ready} ORDER BY d.endpoint_id, d.id LIMIT %s)"""
    if prefer_contact is None:
        candidate = oldest.format(other="", ready=READY + fresh)
        params: list[Any] = [endpoint_id, now, now, *before, limit]
    else:
        candidate = f"""
        (SELECT d.id, 0 AS rank FROM sync_delivery d
         WHERE d.endpoint_id = %s AND d.contact_ref = %s AND {READY}{fresh} LIMIT 1)
        UNION ALL {oldest.format(other=" AND d.contact_ref IS DISTINCT FROM %s", ready=READY + fresh)}"""  # noqa: S608
        params = [endpoint_id, prefer_contact, now, now, *before]
        params += [endpoint_id, prefer_contact, now, now, *before, limit]
    sql = f"""
        WITH candidate AS ({candidate}),
        picked AS (SELECT id, rank FROM candidate ORDER BY rank, id LIMIT %s)
        UPDATE sync_delivery u SET enqueued_at = %s FROM picked
        WHERE u.id = picked.id
          AND EXISTS (SELECT 1 FROM sync_endpoint e WHERE e.id = %s AND e.status = 'active')
        RETURNING u.id, picked.rank"""  # noqa: S608 (no input in the text)
    return sql, [*params, limit, now, endpoint_id]


def dispatched(rows: list[tuple[Any, ...]]) -> list[int]:
    """The ids RETURNING gave, in deliveries_ready's order (RETURNING keeps none)."""
    return [pk for pk, _ in sorted(rows, key=lambda row: (row[1], row[0]))]
