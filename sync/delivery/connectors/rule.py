"""The one rule every vendor's push, reconciler and backfill apply to a mapped topic or purpose.

A mapping entry names a Candor topic, a purpose or both, on a channel; the vendor keeps one yes/no
for it (a list, an interest, a subscription type, a data use purpose). What the vendor should hold
follows from the contact's state now: a "no" anywhere (the channel opted out, the address
suppressed, the topic unsubscribed, the purpose withdrawn or expired) says unsubscribe; the topic
subscribed and the purpose granted say subscribe, with the latest time either was given; anything
else (not set, pending double opt-in) says nothing, and the vendor is left as it is.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sync.outbox.contact_state import ContactState


def channel_refused(state: ContactState, channel: str) -> bool:
    """A "no" to the whole channel (everything off on it, or the address suppressed), as opposed
    to a "no" to one topic or purpose; a vendor with a per-channel consent can hold it as such."""
    return state.unsubscribed_all.get(channel, False) or (channel == "email" and state.suppressed)


def mapped_action(
    state: ContactState, entry: dict[str, Any], channel: str
) -> tuple[str, datetime | None] | None:
    """("subscribe", consented_at) | ("unsubscribe", None) | None for one mapping entry (a topic,
    a purpose or both) on one channel: a "no" anywhere wins over every "yes"."""
    identifier = state.email if channel == "email" else state.phone
    if not identifier or state.erased:
        return None
    topic, purpose = entry.get("topic"), entry.get("purpose")
    status = state.subscriptions.get((topic, channel)) if topic else None
    consent = state.consents.get(purpose) if purpose else None
    if topic and status is None:
        return None  # the topic is not offered on this channel
    no = channel_refused(state, channel) or status == "unsubscribed" or consent in ("withdrawn", "expired")
    if no:
        return ("unsubscribe", None)
    if (not topic or status == "subscribed") and (not purpose or consent == "granted"):
        times = [
            t
            for t in (
                state.subscribed_at.get((topic, channel)) if topic else None,
                state.consented_at.get(purpose) if purpose else None,
            )
            if t is not None
        ]
        return ("subscribe", max(times) if times else None)
    return None
