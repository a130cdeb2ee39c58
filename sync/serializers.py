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


# --- Webhook endpoints and their delivery log ----------------------------------------------


class EndpointIn(serializers.Serializer):
    url = serializers.CharField(
        max_length=2000, help_text="https:// URL of the receiver; redirects are not followed"
    )
    description = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    event_types = serializers.ListField(
        child=serializers.CharField(max_length=40),
        required=False,
        default=list,
        max_length=50,
        help_text="Only these event types; empty or absent: every type",
    )
    include_personal_data = serializers.BooleanField(
        required=False, default=False, help_text="Send email and phone in event data (left out by default)"
    )


class EndpointPatchIn(serializers.Serializer):
    url = serializers.CharField(max_length=2000, required=False)
    description = serializers.CharField(max_length=500, required=False, allow_blank=True)
    event_types = serializers.ListField(
        child=serializers.CharField(max_length=40), required=False, max_length=50
    )
    status = serializers.ChoiceField(
        choices=["active", "disabled"],
        required=False,
        help_text="Enabling resumes where the endpoint stopped: nothing written meanwhile is lost",
    )
    include_personal_data = serializers.BooleanField(required=False)


class EndpointOut(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    url = serializers.CharField()
    description = serializers.CharField()
    event_types = serializers.ListField(child=serializers.CharField(), help_text="Empty: every type")
    status = serializers.ChoiceField(choices=["active", "disabled"])
    disabled_reason = serializers.CharField(help_text="Why it was disabled; empty when active")
    disabled_at = serializers.DateTimeField(allow_null=True)
    include_personal_data = serializers.BooleanField()
    failing_since = serializers.DateTimeField(
        allow_null=True, help_text="Every attempt has failed since then; after 5 days it is disabled"
    )
    previous_secret_expires_at = serializers.DateTimeField(
        allow_null=True, help_text="Until then the previous secret signs beside the new one"
    )
    created_at = serializers.DateTimeField()


class EndpointWithSecretOut(EndpointOut):
    secret = serializers.CharField(help_text="whsec_…: shown only in this reply; keep it safe")


class EndpointListOut(serializers.Serializer):
    endpoints = EndpointOut(many=True)
    next_cursor = serializers.CharField(allow_null=True)


class AttemptOut(serializers.Serializer):
    number = serializers.IntegerField()
    started_at = serializers.DateTimeField()
    duration_ms = serializers.IntegerField()
    status_code = serializers.IntegerField(allow_null=True, help_text="Null when there was no answer")
    response_excerpt = serializers.CharField(help_text="The first 1,024 characters of the answer")
    error = serializers.CharField(help_text="Timeout, connection error, refused address…")
    outcome = serializers.ChoiceField(choices=["succeeded", "failed", "gone", "refused"])


class DeliveryOut(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    webhook_id = serializers.CharField(
        source="msg_id", help_text="The webhook-id header, the same on every retry"
    )
    event_id = serializers.UUIDField(
        source="event.public_id",
        allow_null=True,
        default=None,
        help_text="The feed event's id; null for test messages and after the event's retention",
    )
    type = serializers.CharField()
    sequence = serializers.IntegerField(help_text="The contact's sequence number (0 for test messages)")
    status = serializers.ChoiceField(choices=["pending", "succeeded", "failed"])
    attempt_count = serializers.IntegerField()
    next_attempt_at = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    succeeded_at = serializers.DateTimeField(allow_null=True)
    attempts = AttemptOut(many=True)

    def get_next_attempt_at(self, delivery: Any) -> str | None:
        """When the next attempt is due; null unless pending."""
        return timestamp(delivery.next_attempt_at) if delivery.status == "pending" else None


class DeliveryListOut(serializers.Serializer):
    deliveries = DeliveryOut(many=True)
    next_cursor = serializers.CharField(allow_null=True)


class RedeliverIn(serializers.Serializer):
    delivery = serializers.CharField(required=False, max_length=32, help_text="One delivery's id")
    since = serializers.DateTimeField(required=False, help_text="Every delivery made since then (RFC 3339)")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("delivery" in attrs) == ("since" in attrs):
            raise serializers.ValidationError("Give either delivery or since.")
        return attrs


class RedeliverOut(serializers.Serializer):
    redelivered = serializers.IntegerField(help_text="How many deliveries were queued again")
