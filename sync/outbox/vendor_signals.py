"""A vendor's "no", as the connectors read it and the domain records it: the seam between them.

The connectors (sync.delivery.connectors) read a vendor's webhook call, poll or drift into
`VendorSignal`s; recording one in the ledger is the domain's, which sits above this package. As
with sync.outbox.contact_state, the domain registers its recorder here (preferences.apps), and
the connectors call it through `signal_recorder()`, knowing only this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from sync.models import Connector

SignalKind = Literal["unsubscribed", "complained", "bounced"]


@dataclass(frozen=True)
class VendorSignal:
    """One "no" the vendor saw, for Candor to record as a withdrawal or opt-out (method
    `connector`; the evidence names the vendor, `event_id` and when it was received).

    `event_id` is the vendor's own id for the event (or one derived from what the vendor says
    uniquely, e.g. list + address + fired_at): a signal with an id already recorded for the
    connector changes nothing. The contact is found by `email`, `phone` or `external_id`
    (whichever the adapter knows; the first that matches wins); a vendor whose call names the
    contact only by its own id (HubSpot) gives `vendor_contact_id` instead, read back to the
    external id through the ids Candor kept at push when the signal is applied, not while the
    vendor waits for its answer. Given with an `email` (a Salesforce record matched by Email),
    it names the contact where no live contact gives that address now: one that left the
    address the vendor still has. `topics` and `purposes` are the
    Candor slugs the vendor's "no" covers, read through the connector's mapping; `whole_channel`
    (implied when both are empty) is the vendor's global unsubscribe on the channel, recorded as
    "unsubscribe from all" there besides what the topics and purposes name."""

    event_id: str
    kind: SignalKind
    channel: str  # email | sms
    email: str | None = None
    phone: str | None = None
    external_id: str | None = None
    vendor_contact_id: str | None = None
    topics: tuple[str, ...] = ()
    purposes: tuple[str, ...] = ()
    whole_channel: bool = False
    occurred_at: datetime | None = None
    # Small and safe to keep as evidence: the vendor's reason, list, campaign… never credentials.
    detail: dict[str, Any] = field(default_factory=dict)


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


def signal_recorder() -> SignalRecorder:
    if not _recorder:
        raise RuntimeError("No signal recorder is registered (preferences.apps registers it).")
    return _recorder[0]
