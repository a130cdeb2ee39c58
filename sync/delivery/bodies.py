"""The webhook body of an event: what each Delivery stores and sends, byte for byte."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime
from typing import Any

from django.conf import settings

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


def contact_pseudonym(*, endpoint_public_id: str, contact_ref: int) -> str:
    """The name a pseudonymous endpoint knows a contact by: stable for the endpoint and the
    contact (also after the contact's erasure, so contact.erased names the same one), different
    for every endpoint (two receivers cannot join their data on it), and an HMAC under a key
    derived from the identifier pepper (held outside the database) and the endpoint's id, so
    nobody without the pepper can link it to the contact."""
    key = hmac.new(
        settings.IDENTIFIER_PEPPER.encode(),
        f"webhook-pseudonym\x00{endpoint_public_id}".encode(),
        hashlib.sha256,
    ).digest()
    digest = hmac.new(key, str(contact_ref).encode(), hashlib.sha256).hexdigest()
    return f"psn_{digest[:32]}"


def event_data_for(*, endpoint: Endpoint, contact_ref: int, data: dict[str, Any]) -> dict[str, Any]:
    """The event's data as this endpoint receives it: data.contact replaced by the endpoint's
    pseudonym when it asked for pseudonyms (events about a contact only, not the brand's own)."""
    if endpoint.pseudonymous_contacts and contact_ref >= 0 and "contact" in data:
        pseudonym = contact_pseudonym(endpoint_public_id=endpoint.public_id, contact_ref=contact_ref)
        data = {**data, "contact": pseudonym}
    return data


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
            data=event_data_for(endpoint=endpoint, contact_ref=event.contact_ref, data=event.data),
            personal=endpoint.include_personal_data,
        ),
        next_attempt_at=now,
        created_at=now,
    )
