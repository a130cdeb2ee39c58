"""Mailchimp's list webhooks into Candor: verified by the secret in the webhook's URL (Mailchimp
signs nothing), read from the form it posts; an unsubscribe or a cleaned address in a mapped
audience is a "no" over what that audience carries (see sync.delivery.connectors.mailchimp)."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

from sync.delivery.connectors.mailchimp_api import subscriber_hash
from sync.delivery.connectors.mailchimp_rule import mapped_entries, no_scope
from sync.delivery.connectors.vendors import (
    InboundAnswer,
    InboundRequest,
    SignalKind,
    Target,
    VendorSignal,
)

# Mailchimp list webhook types that are a "no" (every other type is answered 200 and ignored).
NO_TYPES = ("unsubscribe", "cleaned")


def _fired_at(raw: str) -> datetime | None:
    """When the event happened, from Mailchimp's `fired_at` ("YYYY-MM-DD HH:MM:SS", GMT): whole
    seconds, so read as the end of that second. A "no" in the same second as a "yes" given in
    Candor is then the later one: opt-out wins a tie (the recorder caps it at receipt)."""
    try:
        at = datetime.strptime(raw.strip(), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None
    return at + timedelta(seconds=1) - timedelta(microseconds=1)


def mailchimp_event_id(*, type: str, list_id: str, email: str, fired_at: str) -> str:
    """Mailchimp sends no event id: one derived from what identifies the event (a retry of the
    same call carries the same four)."""
    raw = f"{type}|{list_id}|{subscriber_hash(email)}|{fired_at.strip()}"
    return "mc_" + hashlib.sha256(raw.encode()).hexdigest()[:40]


def mailchimp_inbound(target: Target, request: InboundRequest) -> InboundAnswer:
    secret = target.credentials.get("webhook_secret")
    if not isinstance(secret, str) or not secret:
        return InboundAnswer(status=403, body="This connector has no webhook secret")
    given = request.query.get("secret", "")
    if not hmac.compare_digest(given.encode(), secret.encode()):
        return InboundAnswer(status=403, body="Bad secret")
    if request.method in ("GET", "HEAD"):
        return InboundAnswer(status=200, body="ok")  # Mailchimp's check when the webhook is created
    if request.method != "POST":
        return InboundAnswer(status=405, body="GET or POST")
    try:
        form = {
            key: values[-1] for key, values in parse_qs(request.body.decode(), strict_parsing=False).items()
        }
    except (UnicodeDecodeError, ValueError):
        return InboundAnswer(status=400, body="Not a Mailchimp webhook body")
    kind, fired_at = form.get("type"), form.get("fired_at")
    if not kind or not fired_at:
        return InboundAnswer(status=400, body="Not a Mailchimp webhook body: type and fired_at are required")
    if kind not in NO_TYPES:
        return InboundAnswer(status=200, body="ok")
    email, list_id = form.get("data[email]", "").strip(), form.get("data[list_id]", "").strip()
    occurred_at = _fired_at(fired_at)
    if not email or not list_id or occurred_at is None:
        return InboundAnswer(
            status=400, body="Not a Mailchimp webhook body: data[email], data[list_id] and fired_at"
        )
    entries = mapped_entries(target.mapping, list_id)
    if not entries:
        return InboundAnswer(status=200, body="ok: a list this connector does not map")
    reason = form.get("data[reason]", "").strip().lower()
    signal_kind: SignalKind
    if reason == "abuse":
        signal_kind = "complained"
    elif kind == "cleaned":
        signal_kind = "bounced"
    else:
        signal_kind = "unsubscribed"
    topics, purposes, whole = no_scope(entries)
    detail = {"type": kind, "list": list_id, "fired_at": fired_at.strip()}
    for key in ("reason", "campaign_id", "action"):
        if form.get(f"data[{key}]"):
            detail[key] = form[f"data[{key}]"][:200]
    signal = VendorSignal(
        event_id=mailchimp_event_id(type=kind, list_id=list_id, email=email, fired_at=fired_at),
        kind=signal_kind,
        channel="email",
        email=email,
        topics=topics,
        purposes=purposes,
        # A bounce or complaint is about the address: the whole channel, as every vendor's.
        whole_channel=whole or signal_kind != "unsubscribed",
        occurred_at=occurred_at,
        detail=detail,
    )
    return InboundAnswer(status=200, body="ok", signals=[signal])
