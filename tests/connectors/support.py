"""Shared by the connector tests: send what is pending, as the worker would."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from sync.delivery import batches
from sync.models import Delivery, Endpoint


def drain(endpoint: Endpoint) -> None:
    """Send whatever is pending, as the worker would once each retry is due (per-contact order
    holds a contact's later deliveries until the earlier ones are done, so in rounds)."""
    for _ in range(20):
        pending = list(Delivery.objects.filter(endpoint=endpoint, status="pending").order_by("id"))
        if not pending:
            return
        Delivery.objects.filter(pk__in=[d.pk for d in pending]).update(
            next_attempt_at=timezone.now() - timedelta(seconds=1)
        )
        for delivery in pending:
            batches.delivery_send(delivery_id=delivery.pk)
