from __future__ import annotations

from datetime import datetime
from typing import Any

from brands.models import Brand
from sync.models import Event, EventType


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
    return Event.objects.create(
        brand=brand,
        type=type,
        contact_ref=contact_ref,
        subject=subject,
        sequence=sequence,
        data={"contact": subject, "sequence": sequence, **data},
        occurred_at=occurred_at,
    )
