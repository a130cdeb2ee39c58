"""How the outbox tells its readers what happened, without knowing who they are.

The outbox is written on every write path and sits under the domain apps; webhook delivery (and
later the connectors) read it and sit above it. So the outbox cannot call delivery: delivery
registers a listener here, once per process, from sync.apps.SyncConfig.ready, and the outbox
calls whatever is registered. Two occasions:

- `events_announce(brand_id=…)`: a brand's events were written in the current transaction. Each
  listener is called at once, inside the transaction, and schedules its own work for after
  COMMIT (transaction.on_commit), if it has any. Called at once rather than after COMMIT so a
  listener that has nothing to do registers nothing (delivery: a brand without endpoints costs
  one cache lookup and no on-commit callback), and so it can register its callback once per
  transaction however many events are written.
- `contact_erased_announce(brand_id=…, contact_ref=…, pseudonym=…)`: consent.erasure has renamed
  the contact's events to the pseudonym. Each listener rewrites the copies it keeps (delivery:
  webhook deliveries) in the erasure's own transaction, so no copy outlives the erasure's
  commit; the number rewritten goes into the erasure's report. The listeners also hear the
  addresses the contact had (connectors: a vendor that can erase a record only by its address
  gets a sealed erasure notice, deleted once the erasure reached it).

Why not the alternatives: Django signals hide who reacts (STYLE: no domain logic in signals);
reacting to the `contact.erased` event itself would not do, as it names the old external id
on purpose and not the pseudonym; an erasure reaction in a Celery task after COMMIT would leave
the old external id in the delivery log for a while, and nothing would fence a fan-out running
meanwhile (Endpoint.erasures); a nudge task published by name on every write would cost a
broker message for brands without endpoints.
An events listener runs on every write path: keep it cheap.
"""

from __future__ import annotations

from typing import Protocol


class EventsWrittenListener(Protocol):
    def __call__(self, *, brand_id: int) -> None: ...


class ContactErasedListener(Protocol):
    def __call__(
        self, *, brand_id: int, contact_ref: int, pseudonym: str, email: str | None, phone: str | None
    ) -> int: ...


class ContactMovedListener(Protocol):
    def __call__(self, *, brand_id: int, contact_ref: int, email: str | None, phone: str | None) -> None: ...


_events_written: list[EventsWrittenListener] = []
_contact_erased: list[ContactErasedListener] = []
_contact_moved: list[ContactMovedListener] = []


def events_written_listener_add(listener: EventsWrittenListener) -> None:
    """Call `listener(brand_id=…)` whenever a brand's events are written (once per process)."""
    if listener not in _events_written:
        _events_written.append(listener)


def contact_erased_listener_add(listener: ContactErasedListener) -> None:
    """Call `listener(brand_id=…, contact_ref=…, pseudonym=…)` in every erasure's transaction; it
    returns how many copies it rewrote (once per process)."""
    if listener not in _contact_erased:
        _contact_erased.append(listener)


def contact_moved_listener_add(listener: ContactMovedListener) -> None:
    """Call `listener(brand_id=…, contact_ref=…, email=…, phone=…)` in every change of a contact's
    address, with the addresses it changed from (once per process)."""
    if listener not in _contact_moved:
        _contact_moved.append(listener)


def contact_moved_announce(*, brand_id: int, contact_ref: int, email: str | None, phone: str | None) -> None:
    """Call in the transaction that changed a contact's address (with its contact.updated), with
    the addresses it changed from (None: that one did not change, or there was none), for a
    listener that must turn off what a recipient holds under them and keeps nothing else."""
    for listener in _contact_moved:
        listener(brand_id=brand_id, contact_ref=contact_ref, email=email, phone=phone)


def events_announce(*, brand_id: int) -> None:
    """Call after writing a brand's outbox Events, inside the transaction that wrote them: the
    registered listeners hear of it (delivery nudges the brand's webhook fan-out after COMMIT)."""
    for listener in _events_written:
        listener(brand_id=brand_id)


def contact_erased_announce(
    *, brand_id: int, contact_ref: int, pseudonym: str, email: str | None, phone: str | None
) -> int:
    """Call in the erasure's transaction, once the contact's outbox Events name `pseudonym`:
    every listener rewrites its own copies of them the same way. `email` and `phone` are the
    addresses the contact had, for a listener that must tell a recipient which record to erase
    (Art. 17(2), 19) and keeps nothing else. The number of copies rewritten."""
    return sum(
        listener(brand_id=brand_id, contact_ref=contact_ref, pseudonym=pseudonym, email=email, phone=phone)
        for listener in _contact_erased
    )
