"""Opt-outs that happen in a vendor, recorded in Candor: a "no" given anywhere is honoured everywhere.

A vendor's webhook call (sync.delivery.connectors.hooks), a poll of a vendor without webhooks
(Salesforce) and the reconciler all end here, as `VendorSignal`s read by the vendor's adapter.
Each signal is kept once per connector and vendor event id (InboundSignal, unique), so a vendor's
retry, a second poll of the same change or two calls racing change nothing the second time.

The ledger write itself belongs to the domain, which sits above this package: as with
sync.outbox.contact_state, the domain registers its recorder (preferences.apps). It records a
withdrawal or channel opt-out with method `connector`, the evidence naming the vendor, its event
id and when Candor received it.

Echo suppression: the outbox events a signal caused are kept (ConnectorEcho), and that
connector's push step skips deliveries of exactly those events: the vendor already holds the "no"
it told Candor about. Other connectors hear of it as of any change. Other slots of the same vendor
that the change affects (a second list mapped to a withdrawn purpose) converge with that contact's
next change, or at the reconciler's next run.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from django.db import IntegrityError, transaction
from django.utils import timezone

from sync.delivery.connectors.vendors import VendorSignal
from sync.models import Connector, ConnectorEcho, InboundSignal

logger = logging.getLogger(__name__)

DUPLICATE = "duplicate"


@dataclass
class RecordedSignal:
    """What the domain did with one signal: the contact it found and the outbox events written."""

    outcome: str  # InboundSignal.Outcome
    contact_ref: int | None = None
    event_ids: list[int] = field(default_factory=list)


class SignalRecorder(Protocol):
    def __call__(
        self, *, connector: Connector, signal: VendorSignal, received_at: datetime
    ) -> RecordedSignal: ...


_recorder: list[SignalRecorder] = []


def signal_recorder_set(recorder: SignalRecorder) -> None:
    """Register the domain's recorder (once per process, from preferences.apps)."""
    _recorder[:] = [recorder]


def signals_record(
    *, connector: Connector, signals: Sequence[VendorSignal], received_at: datetime | None = None
) -> list[str]:
    """Record each signal once (one transaction each: a bad one does not undo the others); one
    outcome per signal: recorded, unchanged, unknown_contact or duplicate."""
    if not _recorder:
        raise RuntimeError("No signal recorder is registered (preferences.apps registers it).")
    received_at = received_at or timezone.now()
    outcomes = []
    for signal in signals:
        try:
            with transaction.atomic():
                # The unique row first: a concurrent twin waits on it, then finds it taken.
                row = InboundSignal.objects.create(
                    connector=connector,
                    event_id=signal.event_id[:200],
                    kind=signal.kind,
                    channel=signal.channel,
                    outcome=InboundSignal.Outcome.UNCHANGED,
                    occurred_at=signal.occurred_at,
                    received_at=received_at,
                )
                recorded = _recorder[0](connector=connector, signal=signal, received_at=received_at)
                row.outcome, row.contact_ref = recorded.outcome, recorded.contact_ref
                row.save(update_fields=["outcome", "contact_ref"])
                ConnectorEcho.objects.bulk_create(
                    [ConnectorEcho(connector=connector, event_id=event_id) for event_id in recorded.event_ids]
                )
        except IntegrityError:
            outcomes.append(DUPLICATE)
            continue
        outcomes.append(recorded.outcome)
    if signals:
        logger.info(
            "connector %s: %d signal(s) from %s: %s",
            connector.public_id,
            len(signals),
            connector.vendor,
            ", ".join(sorted(set(outcomes))),
        )
    return outcomes


def echoes(*, connector: Connector, event_ids: Sequence[int]) -> set[int]:
    """Which of these outbox events this connector's own signals caused."""
    if not event_ids:
        return set()
    return set(
        ConnectorEcho.objects.filter(connector=connector, event_id__in=list(event_ids)).values_list(
            "event_id", flat=True
        )
    )
