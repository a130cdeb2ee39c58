"""The JSON of an outbox Event: one body for the changes feed and for webhooks."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from rest_framework import serializers

from sync.models import EventType


def timestamp(value: datetime) -> str:
    """UTC, ISO 8601 with a Z: what the API's DateTimeFields answer, without their per-call cost."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def event_payload(
    *, public_id: uuid.UUID, type: str, created_at: datetime, data: dict[str, Any]
) -> dict[str, Any]:
    """{"id", "type", "timestamp", "data"}: what EventOut documents, built directly (hot path)."""
    return {
        "id": str(public_id),
        "type": type,
        "timestamp": timestamp(created_at),
        "data": data,
    }


class EventOut(serializers.Serializer):
    id = serializers.UUIDField(help_text="Unique and stable: deduplicate on it")
    type = serializers.ChoiceField(choices=EventType.choices)
    timestamp = serializers.DateTimeField(help_text="When the change was recorded (UTC)")
    # DRF takes declared fields off the class, so the field named data leaves Serializer.data be.
    data = serializers.DictField(  # type: ignore[assignment]
        help_text="contact (external id), sequence (per contact) and the new state"
    )


class EventFeedOut(serializers.Serializer):
    events = EventOut(many=True)
    next_cursor = serializers.CharField(
        help_text="Always present: pass it as `after` next time, whether or not this page had events"
    )
    has_more = serializers.BooleanField(help_text="More events are ready now; otherwise poll again later")
