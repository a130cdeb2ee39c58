"""Shared by the connector tests: consent granted and withdrawn as the API records it, and what
is pending sent as the worker would."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from brands.models import Brand
from consent.models import Purpose
from consent.services import consent_record
from sync.delivery import batches
from sync.models import Delivery, Endpoint
from tests.conftest import current_version


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


def grant(brand: Brand, purpose: Purpose, external_id: str = "cust-1") -> None:
    consent_record(
        brand=brand,
        external_id=external_id,
        purpose_slug=purpose.slug,
        decision="granted",
        notice_version_id=current_version(purpose).public_id,
        method="api",
        recorded_by="test",
    )


def withdraw(brand: Brand, purpose: Purpose, external_id: str = "cust-1") -> None:
    consent_record(
        brand=brand,
        external_id=external_id,
        purpose_slug=purpose.slug,
        decision="withdrawn",
        notice_version_id=None,
        method="api",
        recorded_by="test",
    )
