"""HubSpot's webhooks (v3 signature), read into opt-out signals (sync.delivery.connectors.inbound).

From "Validating requests from HubSpot" (developers.hubspot.com/docs/apps/legacy-apps/
authentication/validating-requests; changelog "Introducing version 3 of webhook signatures")
and the webhooks guide (developers.hubspot.com/docs/api/webhooks):

- `X-HubSpot-Signature-v3` is base64(HMAC-SHA256(the app's client secret, method + URI + body +
  timestamp)), the URI being the full URL HubSpot called with the percent-encoded characters of
  its list (`: / ? @ ! $ ' ( ) * , ;`) decoded, and `X-HubSpot-Request-Timestamp` the time in
  milliseconds: a call more than five minutes old is refused as a replay (and one from more than
  five minutes ahead, as forged);
- the body is a JSON array of at most 100 events, each with `eventId`, `subscriptionId`,
  `portalId`, `appId`, `occurredAt` (ms), `subscriptionType`, `attemptNumber`, `objectId` and,
  for a property change, `propertyName`, `propertyValue`, `changeSource`.

A "no" (every other event answers 200 and changes nothing): a property change of a contact
(`contact.propertyChange`, or `object.propertyChange` with objectTypeId 0-1) on
- `hs_email_optout` to "true": unsubscribed from all email (HubSpot also sets it on a spam
  report, which it handles as an unsubscribe from all): the whole channel, and every topic and
  purpose the mapping puts on HubSpot's types (they are all off there now);
- `hs_email_optout_<subscription type id>` to "true": that type only, so the topics and purposes
  the mapping puts on it (a type the mapping does not name changes nothing in Candor);
- `hs_email_hard_bounce_reason_enum` to any value: a hard bounce, as the above.
The contact is named by HubSpot's id only: the signal carries it (`vendor_contact_id`), and when
a worker applies the signal it is read back to Candor's contact through the ids kept when Candor
pushed it (sync.models.VendorContact; database reads, no call to HubSpot), not while HubSpot
waits for its answer; an id Candor never pushed (or an erased contact) is kept as unknown.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sync.delivery.connectors.vendors import InboundAnswer, InboundRequest, SignalKind, Target, VendorSignal

WINDOW = timedelta(minutes=5)
CONTACT_EVENTS = ("contact.propertyChange", "object.propertyChange")
OPTOUT_ALL = "hs_email_optout"
OPTOUT_TYPE = "hs_email_optout_"
HARD_BOUNCE = "hs_email_hard_bounce_reason_enum"
# The percent-encoded characters HubSpot decodes in the URI before signing it (others stay encoded).
DECODED = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}


def _decoded(uri: str) -> str:
    for encoded, char in DECODED.items():
        uri = uri.replace(encoded, char).replace(encoded.lower(), char)
    return uri


def hubspot_signature(*, secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """The v3 signature HubSpot sends for this call."""
    message = method.upper().encode() + _decoded(uri).encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def hubspot_inbound(target: Target, request: InboundRequest) -> InboundAnswer:
    secret = target.credentials.get("client_secret")
    if request.method != "POST":
        return InboundAnswer(status=405, body="POST only")
    if not isinstance(secret, str) or not secret:
        return InboundAnswer(status=403, body="This connector has no client secret")
    signature = request.headers.get("x-hubspot-signature-v3", "")
    timestamp = request.headers.get("x-hubspot-request-timestamp", "").strip()
    expected = hubspot_signature(
        secret=secret, method=request.method, uri=request.url, body=request.body, timestamp=timestamp
    )
    if not (signature and timestamp) or not hmac.compare_digest(expected, signature.strip()):
        return InboundAnswer(status=401, body="Bad signature")
    if not timestamp.isdigit():
        return InboundAnswer(status=401, body="Timestamp outside the window")
    sent_at = datetime.fromtimestamp(int(timestamp) / 1000, tz=UTC)
    if abs(request.received_at - sent_at) > WINDOW:
        return InboundAnswer(status=401, body="Timestamp outside the window")
    try:
        events = json.loads(request.body)
        if not isinstance(events, list):
            return InboundAnswer(status=400, body="Not a HubSpot webhook body")
        read = [(event, _read(event, target.mapping)) for event in events]
    except (ValueError, KeyError, TypeError, AttributeError):
        return InboundAnswer(status=400, body="Not a HubSpot webhook body")
    signals = [_signal(event, found) for event, found in read if found is not None]
    return InboundAnswer(status=200, body="ok", signals=signals)


def _read(event: dict[str, Any], mapping: dict[str, Any]) -> tuple[SignalKind, dict[str, Any]] | None:
    """(kind, what it covers) for an event that is a "no", else None."""
    if event["subscriptionType"] not in CONTACT_EVENTS:
        return None
    if event["subscriptionType"] == "object.propertyChange" and str(event.get("objectTypeId")) != "0-1":
        return None
    name, value = str(event.get("propertyName") or ""), str(event.get("propertyValue") or "")
    entries = [e for e in mapping.get("subscriptions", []) if isinstance(e, dict)]
    if name == OPTOUT_ALL:
        # Every type is off in HubSpot now: every mapped topic and purpose says "no" too.
        return ("unsubscribed", _covers(entries, whole_channel=True)) if value.lower() == "true" else None
    if name == HARD_BOUNCE:
        return ("bounced", _covers(entries, whole_channel=True)) if value else None
    if name.startswith(OPTOUT_TYPE) and name[len(OPTOUT_TYPE) :].isdigit():
        if value.lower() != "true":
            return None
        subscription_id = name[len(OPTOUT_TYPE) :]
        entries = [e for e in entries if e.get("subscription_id") == subscription_id]
        if not entries:
            return None  # a type Candor does not map: nothing of Candor's says yes there
        return ("unsubscribed", {**_covers(entries, whole_channel=False), "subscription_id": subscription_id})
    return None


def _covers(entries: list[dict[str, Any]], *, whole_channel: bool) -> dict[str, Any]:
    return {
        "whole_channel": whole_channel,
        "topics": tuple(sorted({e["topic"] for e in entries if e.get("topic")})),
        "purposes": tuple(sorted({e["purpose"] for e in entries if e.get("purpose")})),
    }


def _signal(event: dict[str, Any], found: tuple[SignalKind, dict[str, Any]]) -> VendorSignal:
    kind, covers = found
    occurred = event.get("occurredAt")
    detail: dict[str, Any] = {
        "subscription_type": event["subscriptionType"],
        "property": event.get("propertyName"),
        "hubspot_contact_id": str(event["objectId"]),
    }
    for key, name in (("changeSource", "change_source"), ("portalId", "portal_id")):
        if event.get(key) is not None:
            detail[name] = str(event[key])[:200]
    if covers.get("subscription_id"):
        detail["subscription_id"] = covers["subscription_id"]
    return VendorSignal(
        event_id=str(event["eventId"]),
        kind=kind,
        channel="email",
        vendor_contact_id=str(event["objectId"]),
        whole_channel=bool(covers.get("whole_channel")),
        topics=covers.get("topics", ()),
        purposes=covers.get("purposes", ()),
        occurred_at=datetime.fromtimestamp(int(occurred) / 1000, tz=UTC)
        if isinstance(occurred, int)
        else None,
        detail=detail,
    )
