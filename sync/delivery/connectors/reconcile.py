"""The drift reconciler: compare what a vendor holds with what Candor expects, and repair it.

A run (sync.models.ReconcileRun) pages through the brand's contacts by id in batches of the
adapter's `max_batch`. For each batch it reads Candor's state (contacts_state), what the vendor
should hold per slot (`adapter.expected`: push's own rule) and what it does hold
(`adapter.vendor_read`), and repairs each difference by one rule, opt-out always winning:

- vendor "unsubscribed", Candor "subscribed" (`vendor_unsubscribed_candor_subscribed`): the
  withdrawal wins; it is recorded in the ledger as the vendor's signal (inbound.signals_record,
  method `connector`), event id `reconcile:<run>:<contact>:<slot>`, so a re-run adds nothing;
- vendor "subscribed", Candor not "subscribed" (`vendor_subscribed_without_consent`): turned off
  in the vendor (`adapter.slots_turn_off`);
- vendor "unknown", Candor "subscribed" (`unknown_in_vendor`): the contact's state is pushed
  (`adapter.push`, read again after the batch's signals were recorded);
- everything else is in step, a vendor "no" where Candor has no opinion included (nobody is sent
  marketing, and there is no consent in Candor to withdraw).

The report (drift and repairs by kind, a few external ids per kind, never an address) is kept on
the run, and when anything was repaired a brand-level `connector.drift_repaired` event carries the
counts. A 429 or an outage waits for Retry-After and reads again; a vendor that keeps refusing
fails the run (reported, retried at the next schedule).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from brands.audit import Actor, AuditAction
from brands.services import audit_record
from config.errors import Conflict
from sync.delivery.broker import publish
from sync.delivery.connectors.crypto import ConnectorKeysMissing, CredentialsUnreadable
from sync.delivery.connectors.inbound import signals_record
from sync.delivery.connectors.target import connector_target
from sync.delivery.connectors.vendors import Adapter, Item, PushResult, SlotState, Target, VendorError
from sync.delivery.sending import http_client
from sync.models import Connector, ConnectorRun, Endpoint, EventType, ReconcileRun
from sync.outbox.contact_state import ContactState, contact_refs, contacts_state
from sync.outbox.events import brand_event_record

logger = logging.getLogger(__name__)

SUBSCRIBED_WITHOUT_CONSENT = "vendor_subscribed_without_consent"
UNSUBSCRIBED_IN_VENDOR = "vendor_unsubscribed_candor_subscribed"
UNKNOWN_IN_VENDOR = "unknown_in_vendor"
KINDS = (SUBSCRIBED_WITHOUT_CONSENT, UNSUBSCRIBED_IN_VENDOR, UNKNOWN_IN_VENDOR)
SAMPLE_MAX = 20  # external ids kept per kind
TRIES = 8  # reads or repairs of one batch refused in a row before the run fails
WAIT_MAX = 60.0


class ReconcileRunning(Conflict):
    code = "connector-run-running"
    title = "A run is already in progress"


def drift_kind(expected: SlotState | None, vendor: SlotState | None) -> str | None:
    """The kind of drift of one slot, or None when the vendor is in step (or cannot say)."""
    if vendor == "subscribed" and expected != "subscribed":
        return SUBSCRIBED_WITHOUT_CONSENT
    if vendor == "unsubscribed" and expected == "subscribed":
        return UNSUBSCRIBED_IN_VENDOR
    if vendor == "unknown" and expected == "subscribed":
        return UNKNOWN_IN_VENDOR
    return None


def reconcile_start(*, connector: Connector, trigger: str, actor: Actor | None = None) -> ReconcileRun:
    """A new run, handed to a worker after commit; ReconcileRunning (409) if one is running. One
    started by someone (`actor`: the API, the command) is audited; the schedule's are not."""
    now = timezone.now()
    try:
        with transaction.atomic():
            run = ReconcileRun.objects.create(
                connector=connector, trigger=trigger, started_at=now, updated_at=now
            )
            if actor is not None:
                audit_record(
                    brand=connector.brand,
                    actor=actor,
                    action=AuditAction.CONNECTOR_RECONCILE_STARTED,
                    target_type="connector",
                    target_id=connector.public_id,
                    after={"run": run.public_id, "trigger": trigger},
                )
    except IntegrityError as exc:
        raise ReconcileRunning("A reconcile run of this connector is already running.") from exc
    transaction.on_commit(lambda: publish("connector_reconcile_run", run.pk))
    return run


def connectors_reconcile() -> int:
    """Beat: start a run for every active connector that has none running; how many."""
    started = 0
    connectors = Connector.objects.filter(endpoint__status=Endpoint.Status.ACTIVE).select_related(
        "endpoint", "brand"
    )
    for connector in connectors:
        try:
            reconcile_start(connector=connector, trigger="schedule")
        except ReconcileRunning:
            continue
        started += 1
    return started


def _lease() -> timedelta:
    return timedelta(seconds=settings.CONNECTOR_RUN_LEASE_SECONDS)


def reconcile_run(*, run_id: int) -> str:
    """Do the run (or the rest of it, from its cursor): "succeeded", "failed" or "held" (another
    worker has it)."""
    now = timezone.now()
    taken = (
        ReconcileRun.objects.filter(pk=run_id, status=ConnectorRun.RUNNING)
        .exclude(leased_until__gt=now)
        .update(leased_until=now + _lease())
    )
    if not taken:
        return "held"
    run = ReconcileRun.objects.select_related("connector", "connector__endpoint", "connector__brand").get(
        pk=run_id
    )
    try:
        adapter, target = connector_target(connector=run.connector)
        while _batch(run, adapter, target):
            pass
    except (VendorError, ConnectorKeysMissing, CredentialsUnreadable) as exc:
        _save(run, status=ConnectorRun.FAILED, error=str(exc))
        return "failed"
    _save(run, status=ConnectorRun.SUCCEEDED)
    repaired = {kind: count for kind, count in run.repaired.items() if count}
    if repaired:
        with transaction.atomic():
            brand_event_record(
                brand=run.connector.brand,
                type=EventType.CONNECTOR_DRIFT_REPAIRED,
                data=drift_event_data(run),
                now=run.finished_at or timezone.now(),
            )
    logger.info(
        "connector %s reconciled: %d contacts, drift %s, repaired %s",
        run.connector.public_id,
        run.contacts,
        dict(run.drift),
        repaired,
    )
    return "succeeded"


def drift_event_data(run: ReconcileRun) -> dict[str, Any]:
    """The body of connector.drift_repaired: which connector and run, and the counts."""
    return {
        "connector": run.connector.public_id,
        "vendor": run.connector.vendor,
        "run": run.public_id,
        "contacts": run.contacts,
        "drift": {kind: run.drift.get(kind, 0) for kind in KINDS},
        "repaired": {kind: run.repaired.get(kind, 0) for kind in KINDS},
    }


def _save(run: ReconcileRun, *, status: str | None = None, error: str = "") -> None:
    now = timezone.now()
    run.updated_at = now
    run.leased_until = now + _lease()
    fields = ["cursor", "contacts", "slots", "drift", "repaired", "samples", "updated_at", "leased_until"]
    if status is not None:
        run.status, run.error, run.finished_at, run.leased_until = status, error[:300], now, None
        fields += ["status", "error", "finished_at"]
    run.save(update_fields=fields)


def _batch(run: ReconcileRun, adapter: Adapter, target: Target) -> bool:
    """Compare and repair the next batch; False when there is none left."""
    connector = run.connector
    refs = contact_refs(brand_id=connector.brand_id, after=run.cursor, limit=adapter.max_batch)
    if not refs:
        return False
    states = contacts_state(brand_id=connector.brand_id, contact_refs=refs)
    live = [state for state in states.values() if not state.erased]
    held = _retrying(lambda: adapter.vendor_read(target, live, client=http_client()), run) if live else {}
    drift: Counter[str] = Counter()
    found: dict[str, list[tuple[ContactState, str]]] = {kind: [] for kind in KINDS}
    slots = 0
    for state in live:
        vendor = held.get(state.contact_ref, {})
        for slot, expected in adapter.expected(connector.mapping, state).items():
            if slot not in vendor:
                continue  # the vendor cannot be asked about it (no address for the channel)
            slots += 1
            kind = drift_kind(expected, vendor[slot])
            if kind is not None:
                drift[kind] += 1
                found[kind].append((state, slot))
    repaired = _repair(run, adapter, target, found)
    run.cursor = refs[-1]
    run.contacts += len(live)
    run.slots += slots
    run.drift = dict(Counter(run.drift) + drift)
    run.repaired = dict(Counter(run.repaired) + repaired)
    samples: dict[str, list[str]] = {kind: list(run.samples.get(kind, [])) for kind in KINDS}
    for kind, pairs in found.items():
        for state, _slot in pairs:
            if len(samples[kind]) < SAMPLE_MAX and state.external_id not in samples[kind]:
                samples[kind].append(state.external_id)
    run.samples = {kind: ids for kind, ids in samples.items() if ids}
    _save(run)
    return True


def _repair(
    run: ReconcileRun, adapter: Adapter, target: Target, found: dict[str, list[tuple[ContactState, str]]]
) -> Counter[str]:
    connector = run.connector
    repaired: Counter[str] = Counter()
    # 1. A "no" in the vendor wins: recorded in Candor first, so what is pushed below reflects it.
    signals = [
        adapter.slot_signal(
            connector.mapping, slot, state, event_id=f"reconcile:{run.public_id}:{state.contact_ref}:{slot}"
        )
        for state, slot in found[UNSUBSCRIBED_IN_VENDOR]
    ]
    if signals:
        outcomes = signals_record(connector=connector, signals=signals)
        repaired[UNSUBSCRIBED_IN_VENDOR] += sum(1 for outcome in outcomes if outcome == "recorded")
    # 2. A "subscribed" without consent behind it is turned off in the vendor.
    offs = found[SUBSCRIBED_WITHOUT_CONSENT]
    if offs:
        results = _retrying(
            lambda: _accepted(adapter.slots_turn_off(target, offs, client=http_client())), run
        )
        repaired[SUBSCRIBED_WITHOUT_CONSENT] += sum(1 for result in results if result.succeeded)
    # 3. What the vendor does not have is pushed: the contact's state now.
    unknown = found[UNKNOWN_IN_VENDOR]
    if unknown:
        refs = sorted({state.contact_ref for state, _slot in unknown})
        fresh = contacts_state(brand_id=connector.brand_id, contact_refs=refs)
        items = [
            Item(delivery_id=ref, type="reconcile", contact_ref=ref, state=fresh.get(ref)) for ref in refs
        ]
        results = _retrying(lambda: _accepted(adapter.push(target, items, client=http_client())), run)
        pushed = {item.contact_ref for item, result in zip(items, results, strict=True) if result.succeeded}
        repaired[UNKNOWN_IN_VENDOR] += sum(1 for state, _slot in unknown if state.contact_ref in pushed)
    return repaired


class _Refused(VendorError):
    pass


def _accepted(results: list[PushResult]) -> list[PushResult]:
    """The results if the vendor took the calls (or rejected one for good), else _Refused with
    the longest Retry-After, so the caller waits and sends them again."""
    waiting = [result for result in results if not result.succeeded and not result.permanent]
    if waiting:
        retry_after = max((r.retry_after for r in waiting if r.retry_after is not None), default=None)
        raise _Refused(waiting[0].error or "The vendor refused.", retry_after=retry_after)
    return results


def _retrying(call: Any, run: ReconcileRun) -> Any:
    """call() until the vendor answers, waiting Retry-After (or a backoff) after a 429, a 5xx or
    an outage, keeping the run's lease meanwhile; the last VendorError after TRIES refusals."""
    wait = 1.0
    for attempt in range(TRIES):
        try:
            return call()
        except VendorError as exc:
            retryable = (
                isinstance(exc, _Refused)
                or exc.status_code in (None, 408, 429)
                or (exc.status_code is not None and exc.status_code >= 500)
            )
            if not retryable or attempt == TRIES - 1:
                raise
            pause = min(exc.retry_after if exc.retry_after is not None else wait, WAIT_MAX)
            wait = min(wait * 2, WAIT_MAX)
            ReconcileRun.objects.filter(pk=run.pk).update(
                leased_until=timezone.now() + _lease() + timedelta(seconds=pause)
            )
            time.sleep(pause)
    raise AssertionError("unreachable")


def reconciles_resume(*, now: datetime | None = None) -> int:
    """Hand back to a worker every running reconcile whose lease ran out; how many."""
    now = now or timezone.now()
    stale = list(
        ReconcileRun.objects.filter(status=ConnectorRun.RUNNING)
        .exclude(leased_until__gt=now)
        .filter(updated_at__lt=now - _lease())
        .values_list("pk", flat=True)
    )
    for run_id in stale:
        publish("connector_reconcile_run", run_id)
    return len(stale)
