"""Claims: a worker leases a batch of an endpoint's ready deliveries before it sends them.

One claim leases up to BATCH_SIZE deliveries until one instant (the lease), so the deliveries of
a worker that dies are sent again once it runs out, and counts as one of the endpoint's
WEBHOOK_MAX_IN_FLIGHT claims in flight. A delivery is ready when it is pending, due, not leased,
and the earliest pending one of its contact for its endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings

from config.db import shape
from sync.delivery.statements import READY, select_generic
from sync.models import Delivery, Endpoint

# One claim leases up to this many of an endpoint's ready deliveries and sends them one after
# another, starting no further attempt after BATCH_SECONDS: two database round trips (claim,
# record) for the batch instead of two per delivery.
BATCH_SIZE = 20
BATCH_SECONDS = 1.0


def lease_seconds() -> float:
    """Longer than any attempt can take (timeout for the answer plus the drain's own deadline).
    A setting WEBHOOK_LEASE_SECONDS overrides it (tests that kill a worker wait it out)."""
    return getattr(settings, "WEBHOOK_LEASE_SECONDS", None) or 2 * settings.WEBHOOK_TIMEOUT_SECONDS + 30


def batch_size() -> int:
    """Deliveries one claim leases and sends (setting WEBHOOK_BATCH_SIZE overrides BATCH_SIZE)."""
    return max(1, int(getattr(settings, "WEBHOOK_BATCH_SIZE", None) or BATCH_SIZE))


def batch_seconds() -> float:
    """After this long a batch starts no further attempt (setting WEBHOOK_BATCH_SECONDS; 0 sends
    one delivery per claim)."""
    value = getattr(settings, "WEBHOOK_BATCH_SECONDS", None)
    return BATCH_SECONDS if value is None else float(value)


@dataclass
class Claim:
    """What one delivery_send holds: the endpoint, its batch (the delivery the message named
    first, then the oldest ready ones) and the one lease they share."""

    endpoint: Endpoint
    batch: list[Delivery]
    lease: datetime


def batch_claim(
    *, now: datetime, delivery_id: int | None = None, endpoint_id: int | None = None
) -> Claim | None:
    """Lease the delivery, if it is ready and its endpoint has a claim to spare, together with
    up to batch_size() - 1 more of the endpoint's ready deliveries (oldest first), all until one
    instant; None if the delivery is not ready. With `endpoint_id` instead: the endpoint's
    batch_size() oldest ready deliveries, None if it has none or no claim to spare."""
    lease = now + timedelta(seconds=lease_seconds() + batch_seconds())
    if delivery_id is not None:
        return _batch_claim_delivery(delivery_id=delivery_id, now=now, lease=lease)
    assert endpoint_id is not None
    return _batch_claim_endpoint(endpoint_id=endpoint_id, now=now, lease=lease)


def _batch_claim_delivery(*, delivery_id: int, now: datetime, lease: datetime) -> Claim | None:
    """One round trip, two statements in one implicit transaction (select_many's pipeline has a
    single Sync). The first locks the endpoint's row, only if the delivery looks ready (a message
    whose delivery another batch sent takes no lock and costs this one round trip); the second,
    with a snapshot of its own taken after the lock, counts the claims in flight, checks the
    delivery's readiness and leases the batch in one step, reading the endpoint with it. The
    UPDATE repeats the status and lease conditions, so a row changed since its snapshot (a late
    worker finishing it) is checked again and left alone."""
    delivery_shape, endpoint_shape = shape(Delivery), shape(Endpoint)
    lock = """
        SELECT e.id FROM sync_endpoint e
        WHERE e.id = (SELECT endpoint_id FROM sync_delivery
                      WHERE id = %s AND status = 'pending' AND next_attempt_at <= %s
                        AND (leased_until IS NULL OR leased_until <= %s))
          AND e.status = 'active'
        FOR UPDATE"""
    claim = f"""
        WITH own AS (
            SELECT d.id, d.endpoint_id FROM sync_delivery d JOIN sync_endpoint e ON e.id = d.endpoint_id
            WHERE d.id = %s AND e.status = 'active' AND {READY}
              AND (SELECT count(DISTINCT f.leased_until) FROM sync_delivery f
                   WHERE f.endpoint_id = d.endpoint_id AND f.status = 'pending'
                     AND f.leased_until > %s) < %s),
        picked AS (
            SELECT id FROM own
            UNION ALL
            SELECT later.id FROM own CROSS JOIN LATERAL (
                SELECT d.id FROM sync_delivery d
                WHERE d.endpoint_id = own.endpoint_id AND d.id <> own.id AND {READY}
                ORDER BY d.endpoint_id, d.id LIMIT %s) later)
        UPDATE sync_delivery d SET leased_until = %s FROM picked, sync_endpoint e
        WHERE d.id = picked.id AND e.id = d.endpoint_id
          AND d.status = 'pending' AND (d.leased_until IS NULL OR d.leased_until <= %s)
        RETURNING {delivery_shape.columns("d")}, {endpoint_shape.columns("e")}"""  # noqa: S608
    size = batch_size()
    cap = settings.WEBHOOK_MAX_IN_FLIGHT
    params = [delivery_id, now, now, now, cap, now, now, size - 1, lease, now]
    _, rows = select_generic([(lock, [delivery_id, now, now]), (claim, params)])
    return _claimed(rows, first=delivery_id, lease=lease)


def _batch_claim_endpoint(*, endpoint_id: int, now: datetime, lease: datetime) -> Claim | None:
    """_batch_claim_delivery for an endpoint's oldest ready deliveries (after a fan-out): the same two
    statements, the claim without a delivery of its own."""
    delivery_shape, endpoint_shape = shape(Delivery), shape(Endpoint)
    lock = "SELECT e.id FROM sync_endpoint e WHERE e.id = %s AND e.status = 'active' FOR UPDATE"
    claim = f"""
        WITH picked AS (
            SELECT d.id FROM sync_delivery d
            WHERE d.endpoint_id = %s AND {READY}
              AND (SELECT count(DISTINCT f.leased_until) FROM sync_delivery f
                   WHERE f.endpoint_id = %s AND f.status = 'pending' AND f.leased_until > %s) < %s
            ORDER BY d.endpoint_id, d.id LIMIT %s)
        UPDATE sync_delivery d SET leased_until = %s FROM picked, sync_endpoint e
        WHERE d.id = picked.id AND e.id = d.endpoint_id AND e.status = 'active'
          AND d.status = 'pending' AND (d.leased_until IS NULL OR d.leased_until <= %s)
        RETURNING {delivery_shape.columns("d")}, {endpoint_shape.columns("e")}"""  # noqa: S608
    cap = settings.WEBHOOK_MAX_IN_FLIGHT
    params = [endpoint_id, now, now, endpoint_id, now, cap, batch_size(), lease, now]
    _, rows = select_generic([(lock, [endpoint_id]), (claim, params)])
    return _claimed(rows, first=None, lease=lease)


def _claimed(rows: list[tuple[Any, ...]], *, first: int | None, lease: datetime) -> Claim | None:
    """The claim from the rows of a claim statement (each delivery's columns, then the endpoint's):
    the delivery `first` first, then the others oldest first (RETURNING keeps no order)."""
    if not rows:
        return None
    delivery_shape, endpoint_shape = shape(Delivery), shape(Endpoint)
    endpoint = endpoint_shape.build(rows[0], delivery_shape.width)
    batch = sorted((delivery_shape.build(row) for row in rows), key=lambda d: (d.pk != first, d.pk))
    for delivery in batch:
        delivery.endpoint = endpoint
    return Claim(endpoint=endpoint, batch=batch, lease=lease)
