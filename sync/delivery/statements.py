"""What the hot path's hand-written SQL shares (one worker sends hundreds of deliveries a second,
so fan-out, dispatch, claims and records are each written out once: one round trip, no query
building)."""

from __future__ import annotations

from typing import Any

from config.db import select_many

# Run first in each of the hot path's pipelines (select_many: one implicit transaction, so the
# setting lasts until its end): the prepared statements after it use their generic plan. Left
# to choose, PostgreSQL planned the claim and dispatch statements afresh on every execution
# (their generic plans' estimated cost is higher, from default selectivities for the time
# parameters), 0.7 ms of planning for 0.1 ms of running; the generic plans are the same shape.
GENERIC_PLANS: tuple[str, list[Any]] = (
    "SELECT set_config('plan_cache_mode', 'force_generic_plan', true)",
    [],
)


def select_generic(statements: list[tuple[str, list[Any]]]) -> list[list[tuple[Any, ...]]]:
    """select_many of the statements, each with its generic plan (see GENERIC_PLANS)."""
    return select_many([GENERIC_PLANS, *statements])[1:]


READY = """
    d.status = 'pending' AND d.next_attempt_at <= %s
    AND (d.leased_until IS NULL OR d.leased_until <= %s)
    AND (d.contact_ref IS NULL OR NOT EXISTS (
        SELECT 1 FROM sync_delivery x
        WHERE x.endpoint_id = d.endpoint_id AND x.contact_ref = d.contact_ref
          AND x.status = 'pending' AND x.sequence < d.sequence))
"""
