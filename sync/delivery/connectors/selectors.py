"""Reads of connectors; each API read takes the brand."""

from __future__ import annotations

from brands.models import Brand
from config.errors import NotFound
from sync.models import BackfillRun, Connector, ReconcileRun


def connector_get(*, brand: Brand, public_id: str) -> Connector:
    connector = (
        Connector.objects.filter(brand=brand, public_id=public_id).select_related("brand", "endpoint").first()
    )
    if connector is None:
        raise NotFound(f"No connector {public_id!r}.")
    return connector


def connectors_list(*, brand: Brand, after_id: int, limit: int) -> list[Connector]:
    """Oldest first, up to `limit` + 1 (the extra one says there is a next page)."""
    rows = Connector.objects.filter(brand=brand, id__gt=after_id).select_related("endpoint").order_by("id")
    return list(rows[: limit + 1])


def backfill_latest(*, connector: Connector) -> BackfillRun:
    run = BackfillRun.objects.filter(connector=connector).order_by("-id").first()
    if run is None:
        raise NotFound("This connector has no backfill yet.")
    return run


def reconcile_latest(*, connector: Connector) -> ReconcileRun:
    run = ReconcileRun.objects.filter(connector=connector).order_by("-id").first()
    if run is None:
        raise NotFound("This connector has not been reconciled yet.")
    return run
