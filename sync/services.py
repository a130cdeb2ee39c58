from __future__ import annotations

from datetime import datetime
from typing import Any

from brands.models import Brand
from config.db import insert_row
from sync.models import Event, EventType


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
    return event
