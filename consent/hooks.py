"""What apps above consent must do, in the same transaction, when a contact's consent for a
purpose stops (withdrawn, or expired).

The ledger's one write path (`consent.services.consent_append`) calls every registered hook after
the projection moved to a withdrawal or an expiry, under the contact's lock, so whatever a hook
writes commits with the decision or not at all, whichever interface made it (API, preference
centre, one-click, SMS STOP, GPC, expiry, erasure). Consent cannot import those apps (they import
consent), so they register here from their AppConfig.ready (quizzes: traits.forgotten).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from brands.models import Brand
from consent.models import Contact, Purpose


class ConsentStopped(Protocol):
    def __call__(
        self, *, brand: Brand, contact: Contact, purpose: Purpose, decision: str, occurred_at: datetime
    ) -> None: ...


_stopped_hooks: list[ConsentStopped] = []


def consent_stopped_register(hook: ConsentStopped) -> None:
    """Add `hook` once (a second AppConfig.ready, as in tests, adds nothing)."""
    if hook not in _stopped_hooks:
        _stopped_hooks.append(hook)


def consent_stopped_run(
    *, brand: Brand, contact: Contact, purpose: Purpose, decision: str, occurred_at: datetime
) -> None:
    """Run every hook. `contact` is locked and carries its current outbox sequence; a hook that
    writes an outbox event moves `contact.event_sequence` on."""
    for hook in _stopped_hooks:
        hook(brand=brand, contact=contact, purpose=purpose, decision=decision, occurred_at=occurred_at)
