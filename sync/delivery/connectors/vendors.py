"""The adapter interface every vendor implements (the registry is sync.delivery.connectors.registry).

An adapter does four things, each in the vendor's own terms and nothing else:
- **push**: map contacts' current state onto the vendor's consent model (`push`);
- **inbound**: verify and read a vendor's webhook call into opt-out `VendorSignal`s
  (`inbound`), or, where the vendor has no webhooks, poll its changed records since a watermark
  (`poll`); Candor records the signals (sync.delivery.connectors.inbound);
- **reconcile**: say per contact and *slot* (one place the vendor keeps a yes/no: a list and
  channel, a subscription type, a data use purpose and channel…) what Candor expects
  (`expected`) and what the vendor holds (`vendor_read`), read the vendor's "no" on a slot as a
  signal (`slot_signal`), and turn a slot off in the vendor (`slots_turn_off`);
- **configuration**: check credentials and mapping, and list what the account holds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

import httpx

from sync.outbox.contact_state import ContactState
from sync.outbox.vendor_signals import SignalKind as SignalKind  # re-exported: the adapters name it here
from sync.outbox.vendor_signals import VendorSignal as VendorSignal


@dataclass
class Target:
    """What an adapter needs of a connector for one call: never the model itself, so nothing
    the worker holds can be saved back with decrypted credentials."""

    public_id: str
    base_url: str
    credentials: dict[str, Any]
    mapping: dict[str, Any]


@dataclass
class PushResult:
    """The outcome for one delivery. `permanent` failures are not retried (the vendor rejected
    the request itself; retrying would get the same answer)."""

    succeeded: bool
    status_code: int | None = None
    excerpt: str = ""
    error: str = ""
    retry_after: float | None = None
    permanent: bool = False


@dataclass
class Item:
    """One claimed delivery as an adapter sees it: the contact it is about (None for a brand
    event) and that contact's state now (None if the contact no longer exists)."""

    delivery_id: int
    type: str
    contact_ref: int | None
    state: ContactState | None


@dataclass
class AccountView:
    """What a test call found: whether the credentials work and what the account holds."""

    ok: bool
    detail: str
    lists: list[dict[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class InboundRequest:
    """A vendor's call to /hooks/{vendor}/{connector}, as the adapter verifies and reads it."""

    method: str  # GET (a vendor's URL check) or POST
    url: str  # the URL the vendor was given: PUBLIC_BASE_URL + path + query
    headers: Mapping[str, str]  # names lower-cased
    query: Mapping[str, str]
    body: bytes
    received_at: datetime


@dataclass
class InboundAnswer:
    """What to answer the vendor, and the signals its call carried (none for a check)."""

    status: int
    body: str = ""
    signals: list[VendorSignal] = field(default_factory=list)


# What one slot reads as, in Candor's expectation or the vendor's state. "unknown": the vendor
# does not have the contact (or the slot) at all; Candor's expectation None: no opinion (not
# set, pending double opt-in).
SlotState = Literal["subscribed", "unsubscribed", "unknown"]


class VendorError(Exception):
    """A vendor call that did not work (bad credentials, vendor down): its message is safe to show."""

    def __init__(
        self, message: str, *, status_code: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        # The vendor's Retry-After on a 429 or 503: the reconciler waits that long and reads again.
        self.retry_after = retry_after


class Adapter(Protocol):
    vendor: str
    default_base_url: str
    # The most deliveries one batch hands over.
    max_batch: int
    # Backfill batches at the vendor at once: more overlap its latency with our work, within
    # what its limits allow concurrently.
    backfill_in_flight: int
    # The vendor erases a record only by the address Candor erased (no id of its own kept): the
    # erasure leaves a sealed notice for it (erasure_notices).
    erases_by_address: bool
    # The vendor keeps consent by address, not by record: a "yes" stays under an address the
    # contact left, so a change of address leaves a sealed `moved` notice of the former ones for
    # the push to turn off there (erasure_notices).
    keeps_consent_by_address: bool

    def credentials_errors(self, credentials: Any) -> list[str]: ...

    def mapping_errors(
        self, mapping: Any, *, topics: dict[str, list[str]], purposes: set[str]
    ) -> dict[str, list[str]]: ...

    def mapping_lists(self, mapping: dict[str, Any]) -> set[str]:
        """The vendor-side ids the mapping names, checked against the account on save."""
        ...

    def account_view(self, target: Target, *, client: httpx.Client) -> AccountView: ...

    def push(self, target: Target, items: Sequence[Item], *, client: httpx.Client) -> list[PushResult]: ...

    # --- inbound -----------------------------------------------------------------------------

    def inbound(self, target: Target, request: InboundRequest) -> InboundAnswer:
        """Verify the call the vendor's way (signature, timestamp window, URL secret) and read it.
        An unverified call answers 401/403 with no signals; a vendor's URL check (GET) answers
        what the vendor expects. Never raises for a malformed body: 400."""
        ...

    # Whether the vendor is polled (`poll`) rather than heard from by webhook.
    polled: bool

    def poll(
        self, target: Target, watermark: str | None, *, client: httpx.Client
    ) -> tuple[list[VendorSignal], str | None]:
        """The opt-outs changed since `watermark` (None: from now on) and the next watermark."""
        ...

    # --- reconcile ---------------------------------------------------------------------------

    def expected(self, mapping: dict[str, Any], state: ContactState) -> dict[str, SlotState | None]:
        """Per slot, what the vendor should hold for this contact now (push's own rule)."""
        ...

    def vendor_read(
        self, target: Target, states: Sequence[ContactState], *, client: httpx.Client
    ) -> dict[int, dict[str, SlotState]]:
        """Per contact_ref and slot, what the vendor holds: as few calls as the vendor allows.
        VendorError (with Retry-After in the message's status) if the vendor refuses."""
        ...

    def slot_signal(
        self, mapping: dict[str, Any], slot: str, state: ContactState, *, event_id: str
    ) -> VendorSignal:
        """The vendor's "no" on this slot as a signal, for the reconciler to record."""
        ...

    def slots_turn_off(
        self, target: Target, offs: Sequence[tuple[ContactState, str]], *, client: httpx.Client
    ) -> list[PushResult]:
        """Turn these slots off in the vendor (a "subscribed" with no Candor consent behind it)."""
        ...


class BulkAdapter(Adapter, Protocol):
    """An adapter that also pushes a backfill's large batches its own way (Mailchimp: batch
    operations, answered asynchronously). The backfill prefers `push_bulk` when an adapter has
    it, `bulk_batch` contacts at a time; live deliveries always go through `push`."""

    bulk_batch: int

    def push_bulk(
        self, target: Target, items: Sequence[Item], *, client: httpx.Client, heartbeat: Callable[[], bool]
    ) -> list[PushResult]:
        """As `push`; `heartbeat` renews the caller's lease while the vendor is waited for and
        says False once it was lost (stop: the outcome no longer counts)."""
        ...


def redact(text: str, credentials: dict[str, Any]) -> str:
    """`text` with every credential value (and anything long enough to be one) blanked: for
    the delivery log, which keeps what the vendor answered."""
    for value in credentials.values():
        if isinstance(value, str) and len(value) >= 4:
            text = text.replace(value, "[redacted]")
    return text
