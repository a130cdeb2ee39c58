"""Sending deliveries again on request (POST …/{id}/redeliver)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from brands.audit import Actor, AuditAction
from brands.services import audit_record
from config.errors import Unprocessable
from sync.delivery.dispatch import deliveries_dispatch, free_slots
from sync.models import Delivery, Endpoint


@transaction.atomic
def deliveries_redeliver(
    *, endpoint: Endpoint, actor: Actor, delivery: Delivery | None = None, since: datetime | None = None
) -> int:
    """Send again, under the same webhook-id and body, one delivery or every delivery made since
    a time, whatever its status; each gets a full retry schedule. Deliveries in flight are left
    alone. The number queued."""
    now = timezone.now()
    idle = Q(leased_until__isnull=True) | Q(leased_until__lte=now)
    rows = Delivery.objects.filter(idle, endpoint=endpoint)
    if delivery is not None:
        rows = rows.filter(pk=delivery.pk)
    elif since is not None:
        rows = rows.filter(created_at__gte=since)
    else:
        raise Unprocessable("Give a delivery or a time to redeliver since.")
    count = rows.update(
        status=Delivery.Status.PENDING,
        round_start=F("attempt_count"),
        next_attempt_at=now,
        succeeded_at=None,
        leased_until=None,
        enqueued_at=None,
    )
    if count:  # nothing queued (every one in flight) is no action to record
        what: dict[str, Any] = {"delivery": delivery.public_id} if delivery is not None else {"since": since}
        audit_record(
            brand=endpoint.brand,
            actor=actor,
            action=AuditAction.ENDPOINT_REDELIVERED,
            target_type="endpoint",
            target_id=endpoint.public_id,
            after={**what, "redelivered": count},
        )
    if count and endpoint.status == Endpoint.Status.ACTIVE:
        deliveries_dispatch(endpoint_id=endpoint.pk, limit=free_slots(endpoint.pk, now), now=now)
    return count
