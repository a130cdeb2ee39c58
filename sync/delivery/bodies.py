"""The webhook body of an event: what each Delivery stores and sends, byte for byte."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sync.models import Delivery, Endpoint, Event
from sync.outbox import feed
from sync.outbox.serializers import timestamp

PERSONAL_KEYS = frozenset({"email", "phone"})


def without_personal(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_personal(v) for k, v in value.items() if k not in PERSONAL_KEYS}
    if isinstance(value, list):
        return [without_personal(item) for item in value]
    return value


def delivery_body(*, type: str, created_at: datetime, data: dict[str, Any], personal: bool) -> str:
    """The webhook body, compact JSON: {"type", "timestamp", "data"}. Email and phone are left
    out of data unless the endpoint asked for them."""
    if not personal:
        data = without_personal(data)
    payload = {"type": type, "timestamp": timestamp(created_at), "data": data}
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def delivery_of(*, endpoint: Endpoint, event: Event | feed.FeedEvent, now: datetime) -> Delivery:
    """The (unsaved) delivery of `event` to `endpoint`, due now."""
    return Delivery(
        endpoint_id=endpoint.pk,
        event_id=event.id,
        msg_id=f"msg_{event.public_id.hex}",
        type=event.type,
        contact_ref=event.contact_ref,
        sequence=event.sequence,
        body=delivery_body(
            type=event.type,
            created_at=event.created_at,
            data=event.data,
            personal=endpoint.include_personal_data,
        ),
        next_attempt_at=now,
        created_at=now,
    )
