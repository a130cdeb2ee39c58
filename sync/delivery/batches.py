"""Sending a claimed batch: its deliveries one after another over the kept-alive connection,
until one fails or the batch's time is up; then what was sent is recorded and the rest given
back. `delivery_send` is what the delivery_send task runs."""

from __future__ import annotations

import time

from django.utils import timezone

from sync.delivery import sending
from sync.delivery.claims import Claim, batch_claim, batch_seconds
from sync.delivery.connectors.push import connector_batch_push
from sync.delivery.recording import batch_record
from sync.delivery.sending import Outcome
from sync.models import Attempt, Delivery, Endpoint


def delivery_send(*, delivery_id: int) -> Attempt | None:
    """Send the delivery if it is ready, and with it up to batch_size() - 1 more of its
    endpoint's ready deliveries (the oldest first), one after another over the kept-alive
    connection, with no database transaction open; the named delivery's Attempt, or None when it
    was not ready (already sent, perhaps by another message's batch; not due; leased by another
    worker; waiting for an earlier event of its contact; its endpoint disabled or busy). Safe to
    call any number of times.

    The batch stops at the first attempt that fails (a failing receiver gets no more of it) and
    once batch_seconds() have passed (a slow receiver holds a worker no longer than that plus
    one attempt); what it did not send goes back at once. Its lease covers the time the batch
    may take; if the worker dies, every delivery of the batch is sent again once it runs out."""
    claim = batch_claim(delivery_id=delivery_id, now=timezone.now())
    if claim is None:
        return None
    attempts = batch_send(claim)
    return next((attempt for attempt in attempts if attempt.delivery_id == delivery_id), None)


def batch_send(claim: Claim) -> list[Attempt]:
    """POST the claim's deliveries in order until one fails or the batch's time is up; record
    what was sent and give back the rest (batch_record). A connector's batch goes to its
    vendor instead (sync.delivery.connectors)."""
    if claim.endpoint.kind == Endpoint.Kind.CONNECTOR:
        return connector_batch_push(claim)
    deadline = time.monotonic() + batch_seconds()
    sent: list[tuple[Delivery, Outcome]] = []
    try:
        for delivery in claim.batch:
            if sent and time.monotonic() >= deadline:
                break
            # No transaction is open: see sync.outbox.feed.events_feed.
            result = sending.post(endpoint=claim.endpoint, delivery=delivery)
            sent.append((delivery, result))
            if result.outcome != Attempt.Outcome.SUCCEEDED:
                break
    except BaseException:
        # Not a receiver's fault (those are outcomes): what went out is still recorded, the rest
        # given back, before the error goes on.
        batch_record(claim=claim, sent=sent)
        raise
    return batch_record(claim=claim, sent=sent)
