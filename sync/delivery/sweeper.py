"""The sweeper (beat, every few seconds) and the delivery log's retention (hourly): what repairs
lost messages and dead workers, and what forgets old deliveries."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from sync.delivery import selectors
from sync.delivery.broker import publish
from sync.delivery.dispatch import deliveries_dispatch, free_slots
from sync.models import Attempt, Delivery


def deliveries_sweep() -> dict[str, int]:
    """Repair what a lost message or a dead worker left: fan out every active endpoint whose
    cursor is behind its feed, and hand over ready deliveries nobody handed over lately (due
    retries, expired leases). Cheap when there is nothing to do; safe to run at any time."""
    behind = selectors.endpoint_ids_behind()
    for endpoint_id in behind:
        publish("endpoint_fanout", endpoint_id)
    now = timezone.now()
    handed = 0
    for endpoint_id in selectors.endpoint_ids_with_ready(now=now):
        free = free_slots(endpoint_id, now)
        handed += len(deliveries_dispatch(endpoint_id=endpoint_id, limit=free, now=now))
    return {"fanouts": len(behind), "deliveries": handed}


def deliveries_prune(*, now: datetime | None = None, batch_size: int = 5000) -> int:
    """Delete finished deliveries (and their attempts) older than EVENT_RETENTION_DAYS: their
    bodies name contacts, and the log is for debugging, not evidence. Pending ones stay."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.EVENT_RETENTION_DAYS)
    total = 0
    while True:
        ids = list(
            Delivery.objects.filter(created_at__lt=cutoff)
            .exclude(status=Delivery.Status.PENDING)
            .order_by("id")
            .values_list("id", flat=True)[:batch_size]
        )
        if not ids:
            return total
        Attempt.objects.filter(delivery_id__in=ids).delete()
        deleted, _ = Delivery.objects.filter(pk__in=ids).delete()
        total += deleted
        if len(ids) < batch_size:
            return total
