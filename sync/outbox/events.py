"""Writing the outbox: one Event per change, in the transaction that made it, and forgetting
events past the feed's retention."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Max, Subquery
from django.utils import timezone

from brands.models import Brand
from config.db import insert_row
from sync.models import Event, EventType
from sync.outbox.listeners import events_announce


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


def brand_event_record(*, brand: Brand, type: EventType, data: dict[str, Any], now: datetime) -> Event:
    """An outbox event about the brand itself, on its own stream (Event.brand_ref), such as
    delivery's endpoint.disabled. Call inside a transaction.

    Its sequence is the later of the stream's last + 1 and the time in milliseconds, so it keeps
    increasing after the feed's retention has pruned the stream's earlier events.
    """
    Brand.objects.select_for_update().filter(pk=brand.pk).values_list("pk").first()  # one writer
    ref = Event.brand_ref(brand.pk)
    last = Event.objects.filter(contact_ref=ref).aggregate(last=Max("sequence"))["last"] or 0
    sequence = max(last + 1, int(now.timestamp() * 1000))
    event = Event(
        brand=brand,
        type=type,
        contact_ref=ref,
        subject="",
        sequence=sequence,
        data={"sequence": sequence, **data},
        occurred_at=now,
    )
    insert_row(event)
    events_announce(brand_id=brand.pk)
    return event


def events_prune(*, now: datetime | None = None, batch_size: int = 5000) -> int:
    """Delete outbox events recorded more than EVENT_RETENTION_DAYS ago; the number deleted.

    Only the changes feed forgets them: the consent ledger, the projections and the
    subscriptions are other tables and stay. Runs in batches of `batch_size`, each its own
    statement and (outside an atomic block) its own transaction, so no batch holds locks for
    long nor keeps the feed's horizon (sync.outbox.feed.events_feed) back; safe to re-run after
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
