"""How the outbox tells its readers what happened, without knowing who they are.

The outbox is written on every write path and sits under the domain apps; webhook delivery (and
later the connectors) read it and sit above it. So the outbox cannot call delivery: delivery
registers a listener here, once per process, from sync.apps.SyncConfig.ready, and the outbox
calls whatever is registered.

`events_announce(brand_id=…)`: a brand's events were written in the current transaction. Each
listener is called at once, inside the transaction, and schedules its own work for after COMMIT
(transaction.on_commit), if it has any. Called at once rather than after COMMIT so a listener
that has nothing to do registers nothing (delivery: a brand without endpoints costs one cache
lookup and no on-commit callback), and so it can register its callback once per transaction
however many events are written.

Why not the alternatives: Django signals hide who reacts (STYLE: no domain logic in signals); a
nudge task published by name on every write would cost a broker message for brands without
endpoints.
An events listener runs on every write path: keep it cheap.
"""

from __future__ import annotations

from typing import Protocol


class EventsWrittenListener(Protocol):
    def __call__(self, *, brand_id: int) -> None: ...


_events_written: list[EventsWrittenListener] = []


def events_written_listener_add(listener: EventsWrittenListener) -> None:
    """Call `listener(brand_id=…)` whenever a brand's events are written (once per process)."""
    if listener not in _events_written:
        _events_written.append(listener)


def events_announce(*, brand_id: int) -> None:
    """Call after writing a brand's outbox Events, inside the transaction that wrote them: the
    registered listeners hear of it (delivery nudges the brand's webhook fan-out after COMMIT)."""
    for listener in _events_written:
        listener(brand_id=brand_id)
