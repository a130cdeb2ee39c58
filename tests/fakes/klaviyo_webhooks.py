"""Klaviyo's system webhook calls, built and signed as Klaviyo sends them (see
sync.delivery.connectors.klaviyo_inbound for the sources): the body `{"data": [{"external_id",
"topic", "payload"}], "meta": {…}}` with a Get Event payload and its profile included, and the
headers Klaviyo-Webhook-Id, Klaviyo-Timestamp and Klaviyo-Signature (hex HMAC-SHA256 of the
body followed by the timestamp, keyed with the webhook's secret key)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from typing import Any

WEBHOOK_ID = "01JWEBHOOK0000000000000000"
ACCOUNT_ID = "AbC123"


def klaviyo_event(
    *,
    topic: str,
    email: str | None = None,
    phone: str | None = None,
    event_id: str | None = None,
    at: str = "2026-12-04T10:00:00+00:00",
    properties: dict[str, Any] | None = None,
) -> dict[str, Any]:
    profile_id = "01PROFILE" + hashlib.sha256(f"{email}{phone}".encode()).hexdigest()[:17].upper()
    profile: dict[str, Any] = {}
    if email:
        profile["email"] = email
    if phone:
        profile["phone_number"] = phone
    return {
        "external_id": event_id or str(uuid.uuid4()),
        "topic": topic,
        "payload": {
            "data": {
                "type": "event",
                "id": event_id or str(uuid.uuid4()),
                "attributes": {"datetime": at, "event_properties": properties or {}},
                "relationships": {"profile": {"data": {"type": "profile", "id": profile_id}}},
            },
            "included": [{"type": "profile", "id": profile_id, "attributes": profile}],
        },
    }


def klaviyo_webhook(
    *, secret: str, events: list[dict[str, Any]], timestamp: str | None = None, webhook_id: str = WEBHOOK_ID
) -> tuple[dict[str, str], bytes]:
    """(headers, body) of one call, signed with `secret`."""
    stamp = timestamp or str(int(time.time()))
    body = json.dumps(
        {
            "data": events,
            "meta": {"klaviyo_account_id": ACCOUNT_ID, "klaviyo_webhook_id": webhook_id, "timestamp": stamp},
        }
    ).encode()
    signature = hmac.new(secret.encode(), body + stamp.encode(), hashlib.sha256).hexdigest()
    headers = {
        "Klaviyo-Webhook-Id": webhook_id,
        "Klaviyo-Timestamp": stamp,
        "Klaviyo-Signature": signature,
        "Content-Type": "application/json",
    }
    return headers, body


def klaviyo_unsubscribe(fake: Any, *, email: str, hook_url: str, secret: str, event_id: str) -> int:
    """The person unsubscribes inside Klaviyo: the fake's own state changes as Klaviyo's would
    (marketing consent off on email, out of every list), then Klaviyo's system webhook goes to
    `hook_url`, signed. Candor's answer's status."""
    import httpx

    with fake._lock:
        for (_list_id, channel), members in fake.members.items():
            if channel == "email":
                members.discard(email)
        fake.consent[(email, "email")] = "UNSUBSCRIBED"
    event = klaviyo_event(
        topic="event:klaviyo.unsubscribed_from_email_marketing",
        email=email,
        event_id=event_id,
        at=time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
    )
    headers, body = klaviyo_webhook(secret=secret, events=[event])
    return httpx.post(hook_url, content=body, headers=headers, timeout=10).status_code
