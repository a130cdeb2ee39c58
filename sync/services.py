from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Subquery
from django.utils import timezone

from brands.models import Brand
from config.db import insert_row
from sync.models import Event, EventType
from sync.selectors import endpoint_ids_active


def event_build(
    *,
    brand: Brand,
    type: EventType,
    contact_ref: int,
    subject: str,
    sequence: int,
    data: dict[str, Any],
    occurred_at: datetime,
) -> Event:
    """The outbox Event, not yet saved: for a caller that inserts it in a larger statement."""
    return Event(
        brand=brand,
        type=type,
        contact_ref=contact_ref,
        subject=subject,
        sequence=sequence,
        data={"contact": subject, "sequence": sequence, **data},
        occurred_at=occurred_at,
    )


def event_record(
    *,
    brand: Brand,
    type: EventType,
    contact_ref: int,
    subject: str,
    sequence: int,
    data: dict[str, Any],
    occurred_at: datetime,
) -> Event:
    """Append an outbox Event. Call inside the transaction that made the change;
    the caller holds the contact's lock and hands out the per-contact sequence."""
    event = event_build(
        brand=brand,
        type=type,
        contact_ref=contact_ref,
        subject=subject,
        sequence=sequence,
        data=data,
        occurred_at=occurred_at,
    )
    insert_row(event)
    events_announce(brand_id=brand.pk)
    return event


class _FanoutNudge:
    """The on-commit callback of events_announce: one per brand per transaction."""

    def __init__(self, brand_id: int) -> None:
        self.brand_id = brand_id

    def __call__(self) -> None:
        from sync import webhooks  # it imports this module

        webhooks.fanout_enqueue(brand_id=self.brand_id)


def events_announce(*, brand_id: int) -> None:
    """Call after writing a brand's outbox Events: once the transaction commits, the brand's
    active webhook endpoints are asked to fan them out (sync.webhooks.endpoint_fanout).

    On every write path, so it stays cheap: a brand without active endpoints costs one cache
    lookup; otherwise the callback is registered once per transaction, however many events it
    writes. Nothing is lost if the nudge never happens (a stale cache, a broker that is down,
    a crash after COMMIT): the sweeper finds every endpoint whose cursor is behind.
    """
    if not endpoint_ids_active(brand_id=brand_id):
        return
    connection = transaction.get_connection()
    if connection.in_atomic_block:
        for _savepoints, callback, _robust in connection.run_on_commit:
            if isinstance(callback, _FanoutNudge) and callback.brand_id == brand_id:
                return
    transaction.on_commit(_FanoutNudge(brand_id))


def events_prune(*, now: datetime | None = None, batch_size: int = 5000) -> int:
    """Delete outbox events recorded more than EVENT_RETENTION_DAYS ago; the number deleted.

    Only the changes feed forgets them: the consent ledger, the projections and the
    subscriptions are other tables and stay. Runs in batches of `batch_size`, each its own
    statement and (outside an atomic block) its own transaction, so no batch holds locks for
    long nor keeps the feed's horizon (sync.selectors.events_feed) back; safe to re-run after
    an interruption. Meant for a periodic task.
    """
    cutoff = (now or timezone.now()) - timedelta(days=settings.EVENT_RETENTION_DAYS)
    total = 0
    while True:
        batch = Event.objects.filter(created_at__lt=cutoff).order_by("created_at").values("id")[:batch_size]
        deleted, _ = Event.objects.filter(id__in=Subquery(batch)).delete()
        total += deleted
        if deleted < batch_size:
            return total
