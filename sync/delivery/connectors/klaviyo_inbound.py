"""Klaviyo's system webhooks, read into opt-out signals (sync.delivery.connectors.inbound).

From Klaviyo's guide "Working with system webhooks" (developers.klaviyo.com/en/docs/
working_with_system_webhooks) and the Webhooks API reference:

- headers `Klaviyo-Webhook-Id`, `Klaviyo-Timestamp` and `Klaviyo-Signature`: the hex HMAC-SHA256
  of the raw body followed by the timestamp, keyed with the webhook's secret key (set when the
  webhook is created; here the connector's `webhook_secret` credential, 16 characters or more);
- the body is `{"data": [{"external_id", "topic", "payload"}], "meta": {"klaviyo_account_id",
  "klaviyo_webhook_id", "timestamp"}}`, where `meta.klaviyo_webhook_id` must equal the header
  (Klaviyo: otherwise do not process it), `external_id` is the event's id and `payload` has the
  shape of a Get Event response (`data.attributes.datetime` / `event_properties`, the profile in
  `included`).

Topics read as a "no" (every other topic answers 200 and changes nothing):
`event:klaviyo.unsubscribed_from_email_marketing` and `…_from_sms_marketing` (Klaviyo's
marketing consent is per channel, so the whole channel, and every topic and purpose mapped on
it), `event:klaviyo.marked_email_as_spam` (a complaint: the whole email channel) and
`event:klaviyo.bounced_email` when its bounce type is hard.
A timestamp more than five minutes from Candor's clock is refused, as a replay.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from django.utils.dateparse import parse_datetime

from sync.delivery.connectors.vendors import InboundAnswer, InboundRequest, Target, VendorSignal
from sync.outbox.vendor_signals import SignalKind

WINDOW = timedelta(minutes=5)
TOPICS: dict[str, tuple[SignalKind, str]] = {
    "event:klaviyo.unsubscribed_from_email_marketing": ("unsubscribed", "email"),
    "event:klaviyo.unsubscribed_from_sms_marketing": ("unsubscribed", "sms"),
    "event:klaviyo.marked_email_as_spam": ("complained", "email"),
    "event:klaviyo.bounced_email": ("bounced", "email"),
}


def klaviyo_signature(*, secret: str, body: bytes, timestamp: str) -> str:
    return hmac.new(secret.encode(), body + timestamp.encode(), hashlib.sha256).hexdigest()


def _when(raw: str) -> datetime | None:
    raw = raw.strip()
    if raw.isdigit():
        seconds = int(raw)
        return datetime.fromtimestamp(seconds / 1000 if seconds > 10**11 else seconds, tz=UTC)
    try:
        parsed = parse_datetime(raw)
    except ValueError:
        return None
    return parsed if parsed is not None and parsed.tzinfo is not None else None


def klaviyo_inbound(target: Target, request: InboundRequest) -> InboundAnswer:
    secret = target.credentials.get("webhook_secret")
    if request.method != "POST":
        return InboundAnswer(status=405, body="POST only")
    if not isinstance(secret, str) or not secret:
        return InboundAnswer(status=403, body="This connector has no webhook secret")
    webhook_id = request.headers.get("klaviyo-webhook-id", "")
    timestamp = request.headers.get("klaviyo-timestamp", "")
    signature = request.headers.get("klaviyo-signature", "")
    expected = klaviyo_signature(secret=secret, body=request.body, timestamp=timestamp)
    if not (webhook_id and timestamp and signature) or not hmac.compare_digest(expected, signature.strip()):
        return InboundAnswer(status=401, body="Bad signature")
    sent_at = _when(timestamp)
    if sent_at is None or abs(request.received_at - sent_at) > WINDOW:
        return InboundAnswer(status=401, body="Timestamp outside the window")
    try:
        body = json.loads(request.body)
        meta, events = body["meta"], body["data"]
        if not isinstance(events, list) or meta.get("klaviyo_webhook_id") != webhook_id:
            return InboundAnswer(status=400, body="The body's webhook id does not match the header")
        signals = [signal for event in events if (signal := _signal(event, target.mapping)) is not None]
    except (ValueError, KeyError, TypeError, AttributeError):
        return InboundAnswer(status=400, body="Not a Klaviyo webhook body")
    return InboundAnswer(status=200, body="ok", signals=signals)


def _profile(payload: dict[str, Any]) -> dict[str, Any]:
    profile_id = payload["data"]["relationships"]["profile"]["data"]["id"]
    for row in payload.get("included") or []:
        if row.get("type") == "profile" and row.get("id") == profile_id:
            return row.get("attributes") or {}
    return {}


def _signal(event: dict[str, Any], mapping: dict[str, Any]) -> VendorSignal | None:
    known = TOPICS.get(event["topic"])
    if known is None:
        return None
    kind, channel = known
    payload = event["payload"]
    attributes = payload["data"]["attributes"]
    properties = attributes.get("event_properties") or {}
    if kind == "bounced" and str(properties.get("Bounce Type", "")).lower() != "hard":
        return None  # a soft bounce is not a "no"
    profile = _profile(payload)
    email = profile.get("email") if channel == "email" else None
    phone = profile.get("phone_number") if channel == "sms" else None
    if not email and not phone:
        return None
    occurred = attributes.get("datetime")
    detail = {"topic": event["topic"]}
    for key in ("Campaign Name", "Bounce Type", "Reason"):
        if key in properties:
            detail[key.lower().replace(" ", "_")] = str(properties[key])[:200]
    # Klaviyo's marketing consent is per channel: every list mapped on it says "no" too.
    entries = [entry for entry in mapping.get("lists", []) if channel in entry.get("channels", ["email"])]
    return VendorSignal(
        event_id=str(event["external_id"]),
        kind=kind,
        channel=channel,
        whole_channel=True,
        topics=tuple(sorted({entry["topic"] for entry in entries if entry.get("topic")})),
        purposes=tuple(sorted({entry["purpose"] for entry in entries if entry.get("purpose")})),
        email=email,
        phone=phone,
        occurred_at=_when(occurred) if isinstance(occurred, str) else None,
        detail=detail,
    )
