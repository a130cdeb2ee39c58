"""Opt-outs that happen in a vendor, recorded in Candor: a "no" given anywhere is honoured everywhere.

A vendor's webhook call (sync.delivery.connectors.hooks), a poll of a vendor without webhooks
(Salesforce) and the reconciler all end here, as `VendorSignal`s read by the vendor's adapter.

Accepted durably at once, applied within seconds (as one-click unsubscribes are): a vendor
wants its answer fast and must never lose a "no". Accepting is one INSERT for the whole call
(`signals_accept`): a row per signal, `pending`, unique per connector and vendor event id, so a
vendor's retry, a second poll of the same change or two calls racing are kept once. A worker
applies the pending rows (`signals_apply_pending`): nudged after the call, swept by beat, so a
call accepted while the broker or the worker was down is applied when they are back. Callers
already in a worker (the poll, the reconciler) accept and apply in one go (`signals_record`).

The ledger write itself belongs to the domain, which sits above this package: as with
sync.outbox.contact_state, the domain registers its recorder (preferences.apps). It records a
withdrawal or channel opt-out with method `connector`, the evidence naming the vendor, its event
id and when Candor received it. The pending row holds the signal (and so the address) only
until then.

Echo suppression: the outbox events a signal caused are kept (ConnectorEcho), and that
connector's push step does not push deliveries of exactly those events: the vendor already holds
the "no" it told Candor about. Other connectors hear of it as of any change. Other slots of the
same vendor that the change affects (a second list or type mapped to a withdrawn purpose, the
consent records an opt-out flag withdrew) are brought in step instead, at once: read, and turned
off where still "subscribed" (sync.delivery.connectors.push, `_settle`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from time import monotonic
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from sync.delivery.connectors.vendor_contacts import address_holders_now, vendor_contacts_external_ids
from sync.models import Connector, ConnectorEcho, InboundSignal
from sync.outbox.vendor_signals import VendorSignal, signal_recorder

logger = logging.getLogger(__name__)

DUPLICATE = "duplicate"


def _payload(signal: VendorSignal) -> dict[str, Any]:
    return {
        "kind": signal.kind,
        "channel": signal.channel,
        "email": signal.email,
        "phone": signal.phone,
        "external_id": signal.external_id,
        "vendor_contact_id": signal.vendor_contact_id,
        "topics": list(signal.topics),
        "purposes": list(signal.purposes),
        "whole_channel": signal.whole_channel,
        "occurred_at": signal.occurred_at.isoformat() if signal.occurred_at else None,
        "detail": signal.detail,
    }


def _signal(row: InboundSignal) -> VendorSignal:
    data = row.payload or {}
    return VendorSignal(
        event_id=row.event_id,
        kind=data["kind"],
        channel=data["channel"],
        email=data.get("email"),
        phone=data.get("phone"),
        external_id=data.get("external_id"),
        vendor_contact_id=data.get("vendor_contact_id"),
        topics=tuple(data.get("topics") or ()),
        purposes=tuple(data.get("purposes") or ()),
        whole_channel=bool(data.get("whole_channel")),
        occurred_at=row.occurred_at,
        detail=data.get("detail") or {},
    )


def signals_accept(
    *, connector: Connector, signals: Sequence[VendorSignal], received_at: datetime | None = None
) -> None:
    """Keep the call's signals, once each (a known event id is skipped), for a worker to apply;
    one statement. The caller nudges the worker (`signals_nudge`) after its transaction."""
    received_at = received_at or timezone.now()
    InboundSignal.objects.bulk_create(
        [
            InboundSignal(
                connector=connector,
                event_id=signal.event_id[:200],
                kind=signal.kind,
                channel=signal.channel,
                outcome=InboundSignal.Outcome.PENDING,
                occurred_at=signal.occurred_at,
                received_at=received_at,
                payload=_payload(signal),
            )
            for signal in signals
        ],
        ignore_conflicts=True,
    )


def _apply(row: InboundSignal) -> str:
    """Apply one locked pending row in the caller's transaction; its outcome."""
    signal = _signal(row)
    if signal.vendor_contact_id and not (signal.phone or signal.external_id):
        signal = _by_vendor_id(row.connector.public_id, signal)
    recorded = signal_recorder()(connector=row.connector, signal=signal, received_at=row.received_at)
    row.outcome, row.contact_ref = recorded.outcome, recorded.contact_ref
    row.payload, row.applied_at = None, timezone.now()
    row.save(update_fields=["outcome", "contact_ref", "payload", "applied_at"])
    ConnectorEcho.objects.bulk_create(
        [ConnectorEcho(connector_id=row.connector_id, event_id=event_id) for event_id in recorded.event_ids]
    )
    return recorded.outcome


def _by_vendor_id(connector_public_id: str, signal: VendorSignal) -> VendorSignal:
    """A signal that names the vendor's record: the contact Candor pushed under that id (none:
    unknown) where the signal names no address (HubSpot), or names one that no live contact of
    the brand gives now (a Salesforce record matched by Email, whose contact has left the address
    the CRM still has); otherwise the address names the contact, as for any signal."""
    if signal.email and address_holders_now(connector_public_id=connector_public_id, emails=[signal.email]):
        return signal
    found = vendor_contacts_external_ids(
        connector_public_id=connector_public_id, vendor_ids=[signal.vendor_contact_id or ""]
    ).get(signal.vendor_contact_id or "")
    if signal.email and found is None:
        return signal  # no one then: unknown, named by the address as the vendor gave it
    return replace(signal, email=None, external_id=found)


def _claimed(rows: Any) -> InboundSignal | None:
    return (
        rows.filter(outcome=InboundSignal.Outcome.PENDING)
        .select_for_update(skip_locked=True, of=("self",))
        .select_related("connector__brand")
        .order_by("id")
        .first()
    )


def signals_apply_pending(*, limit: int = 1000) -> int:
    """Apply accepted signals, oldest first, each in its own transaction (a worker dying half-way
    leaves the rest pending; SKIP LOCKED lets several workers share the queue); how many."""
    handled = 0
    while handled < limit:
        with transaction.atomic():
            row = _claimed(InboundSignal.objects.all())
            if row is None:
                break
            _apply(row)
        handled += 1
    return handled


def signals_record(
    *, connector: Connector, signals: Sequence[VendorSignal], received_at: datetime | None = None
) -> list[str]:
    """Accept and apply at once, for callers already in a worker; one outcome per signal:
    recorded, unchanged, unknown_contact, or duplicate (its event id was kept before)."""
    ids = [signal.event_id[:200] for signal in signals]
    known = set(
        InboundSignal.objects.filter(connector=connector, event_id__in=ids).values_list("event_id", flat=True)
    )
    signals_accept(connector=connector, signals=signals, received_at=received_at)
    outcomes = []
    for event_id in ids:
        if event_id in known:
            outcomes.append(DUPLICATE)
            continue
        with transaction.atomic():
            row = _claimed(InboundSignal.objects.filter(connector=connector, event_id=event_id))
            # Taken meanwhile by the worker's sweep: applied there, once.
            outcomes.append(_apply(row) if row is not None else DUPLICATE)
        known.add(event_id)
    if signals:
        logger.info(
            "connector %s: %d signal(s) from %s: %s",
            connector.public_id,
            len(signals),
            connector.vendor,
            ", ".join(sorted(set(outcomes))),
        )
    return outcomes


_last_nudge = 0.0


def signals_nudge(*, publish: Callable[[], object]) -> None:
    """Ask a worker to apply what was accepted, once the transaction (if any) commits; at most
    once per INBOUND_NUDGE_SECONDS in this process (a broker publish costs more than the
    insert). Never raises: with the broker down, beat's sweep applies the signals later."""
    global _last_nudge
    now = monotonic()
    if now - _last_nudge < settings.INBOUND_NUDGE_SECONDS:
        return
    _last_nudge = now

    def publish_quietly() -> None:
        try:
            publish()
        except Exception:
            logger.warning("Could not nudge the inbound worker; beat's sweep will apply the signals.")

    transaction.on_commit(publish_quietly)


def echoes(*, connector: Connector, event_ids: Sequence[int]) -> set[int]:
    """Which of these outbox events this connector's own signals caused."""
    if not event_ids:
        return set()
    return set(
        ConnectorEcho.objects.filter(connector=connector, event_id__in=list(event_ids)).values_list(
            "event_id", flat=True
        )
    )
