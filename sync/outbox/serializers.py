"""The JSON of an outbox Event: one body for the changes feed and for webhooks."""

from __future__ import annotations

import json
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


def event_json(*, public_id: uuid.UUID, type: str, created_at: datetime, data: dict[str, Any]) -> str:
    """event_payload as compact JSON text (what JSONRenderer makes of it)."""
    payload = event_payload(public_id=public_id, type=type, created_at=created_at, data=data)
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


# event_json, built by PostgreSQL from an Event row (sync_event): the same keys in the same order
# and the same timestamp (microseconds only when there are some, as isoformat writes them), with
# `data` in jsonb's own text form. Spliced into the reply as it comes, it spares the changes feed
# parsing every event's JSON in Python only to encode it again; the values are the same, only the
# whitespace inside `data` differs (", " and ": ").
EVENT_JSON_SQL = (
    """'{"id":"' || public_id::text || '","type":' || to_json(type)::text || ',"timestamp":"' """
    """|| to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS') """
    """|| CASE WHEN to_char(created_at, 'US') = '000000' THEN '' ELSE to_char(created_at, '.US') END """
    """|| 'Z","data":' || data::text || '}'"""
)


def event_list_json(events: list[str], *, next_cursor: str, has_more: bool) -> bytes:
    """The changes feed's reply ({"events", "next_cursor", "has_more"}, as EventFeedOut
    documents it) around events already in JSON text."""
    body = (
        '{"events":['
        + ",".join(events)
        + '],"next_cursor":'
        + json.dumps(next_cursor)
        + ',"has_more":'
        + ("true" if has_more else "false")
        + "}"
    )
    # As JSONRenderer does: the two line separators JSON allows raw but JavaScript did not.
    return body.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").encode()


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
