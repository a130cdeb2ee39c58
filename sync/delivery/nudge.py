"""After a write: nudge the brand's webhook fan-out once the transaction commits.

`fanout_nudge` listens to the outbox's events_announce (registered in sync.apps): the outbox
calls it inside the writing transaction, and it decides whether anything is needed at all.
"""

from __future__ import annotations

from django.db import transaction

from sync.delivery.broker import publish
from sync.delivery.selectors import endpoint_ids_active


def fanout_enqueue(*, brand_id: int) -> None:
    """Ask each of the brand's active endpoints to fan out its new events."""
    for endpoint_id in endpoint_ids_active(brand_id=brand_id):
        publish("endpoint_fanout", endpoint_id)


class _FanoutNudge:
    """The on-commit callback of fanout_nudge: one per brand per transaction."""

    def __init__(self, brand_id: int) -> None:
        self.brand_id = brand_id

    def __call__(self) -> None:
        fanout_enqueue(brand_id=self.brand_id)


def fanout_nudge(*, brand_id: int) -> None:
    """The brand's outbox Events were written in the current transaction: once it commits, the
    brand's active webhook endpoints are asked to fan them out (sync.delivery.fanout).

    On every write path, so it stays cheap: a brand without active endpoints costs one cache
    lookup; otherwise the callback is registered once per transaction, however many events it
    writes. Nothing is lost if the nudge never happens (a stale cache, a broker that is down,
    a crash after COMMIT): the sweeper finds every endpoint whose cursor is behind.
    """
    if not endpoint_ids_active(brand_id=brand_id):
        return
    connection = transaction.get_connection()
    if connection.in_atomic_block:
        for _savepoints, callback, _robust in connection.run_on_commit:
            if isinstance(callback, _FanoutNudge) and callback.brand_id == brand_id:
                return
    transaction.on_commit(_FanoutNudge(brand_id))
