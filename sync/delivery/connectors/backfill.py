"""Backfill: push every existing contact's current state to a newly connected vendor.

A run (sync.models.BackfillRun) walks the brand's contacts by id, from its `cursor` up to
`last_ref` (the newest contact when it started: contacts created later reach the vendor through
the changes feed, as every change does), in batches of the adapter's `max_batch`, each pushed
with the adapter's own `push` (so the mapping and its "a no wins" rule are the connector's).

- Resumable: the cursor moves only after the vendor accepted a batch, in the same UPDATE that
  counts it, so a killed worker costs at most the batch in flight (pushed again on resume).
- Rate-limited: a 429 or an outage waits for Retry-After (or a backoff) and sends the same batch
  again; no batch is dropped. A request the vendor rejects for good counts its contacts `failed`.
- Run by a Celery task that works for CONNECTOR_BACKFILL_CHUNK_SECONDS under a lease, then
  re-enqueues itself; `connector_runs_resume` (beat) re-enqueues a run whose lease ran out (its
  worker died).
- Live deliveries may push the same contact meanwhile: both push the contact's state as it is
  when sent, which is idempotent in the vendor, so their order does not matter.
- Bulk: an adapter with `push_bulk` (Mailchimp's batch operations) is handed `bulk_batch`
  contacts at a time through it instead of `push`. Such a push is applied by the vendor later
  than it was read, so once it is accepted the batch's state is read again and the contacts that
  changed meanwhile are pushed again through `push` (synchronous): a withdrawal a live delivery
  pushed while the batch waited in the vendor's queue is not left overwritten by the older yes.
  The lease is renewed while the vendor is waited for (`heartbeat`).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from brands.audit import Actor, AuditAction
from brands.services import audit_record
from config.errors import Conflict
from sync.delivery.broker import publish
from sync.delivery.connectors.crypto import ConnectorKeysMissing, CredentialsUnreadable
from sync.delivery.connectors.target import connector_target
from sync.delivery.connectors.vendors import Adapter, Item, PushResult, Target, VendorError
from sync.delivery.sending import http_client
from sync.models import BackfillRun, Connector, ConnectorRun
from sync.outbox.contact_state import contact_refs, contacts_extent, contacts_state

logger = logging.getLogger(__name__)

BACKOFF_MAX = 60.0  # seconds between tries of a batch while the vendor is down


class BackfillRunning(Conflict):
    code = "connector-run-running"
    title = "A run is already in progress"


def backfill_start(*, connector: Connector, actor: Actor) -> BackfillRun:
    """A new run for `connector`, audited and handed to a worker after commit; BackfillRunning
    (409) if one is running."""
    now = timezone.now()
    # Every contact up to the newest now (ids only grow): later ones come through the feed.
    total, last_ref = contacts_extent(brand_id=connector.brand_id)
    try:
        with transaction.atomic():
            run = BackfillRun.objects.create(
                connector=connector,
                total=total,
                last_ref=last_ref,
                started_at=now,
                updated_at=now,
            )
            audit_record(
                brand=connector.brand,
                actor=actor,
                action=AuditAction.CONNECTOR_BACKFILL_STARTED,
                target_type="connector",
                target_id=connector.public_id,
                after={"run": run.public_id, "total": run.total},
            )
    except IntegrityError as exc:
        raise BackfillRunning("A backfill of this connector is already running.") from exc
    transaction.on_commit(lambda: publish("connector_backfill_chunk", run.pk))
    return run


def _lease_seconds() -> float:
    return float(settings.CONNECTOR_RUN_LEASE_SECONDS)


def _claim(run_id: int) -> str | None:
    """Take the run's lease if nobody holds it; the token that proves it, or None."""
    now = timezone.now()
    token = uuid.uuid4().hex
    taken = (
        BackfillRun.objects.filter(pk=run_id, status=ConnectorRun.RUNNING)
        .exclude(leased_until__gt=now)
        .update(leased_until=now + timedelta(seconds=_lease_seconds()), lease_token=token)
    )
    return token if taken else None


def backfill_chunk(*, run_id: int, budget: float | None = None) -> str:
    """Work on the run for `budget` seconds (CONNECTOR_BACKFILL_CHUNK_SECONDS), then hand the rest
    to the next task. "finished", "continued", "held" (another worker has it) or "failed"."""
    token = _claim(run_id)
    if token is None:
        return "held"
    run = BackfillRun.objects.select_related("connector", "connector__endpoint").get(pk=run_id)
    try:
        adapter, target = connector_target(connector=run.connector)
    except (VendorError, ConnectorKeysMissing, CredentialsUnreadable) as exc:
        _finish(run_id, token, status=ConnectorRun.FAILED, error=str(exc))
        return "failed"
    deadline = time.monotonic() + (
        budget if budget is not None else settings.CONNECTOR_BACKFILL_CHUNK_SECONDS
    )
    brand_id = run.connector.brand_id
    bulk = getattr(adapter, "push_bulk", None)
    size = int(getattr(adapter, "bulk_batch", adapter.max_batch)) if bulk is not None else adapter.max_batch
    # Up to `depth` batches in flight at the vendor while the next one's state is read: the
    # vendor's latency and our own work overlap. They settle in order, so the cursor only ever
    # moves past batches the vendor took.
    depth = adapter.backfill_in_flight
    sender = ThreadPoolExecutor(max_workers=depth, thread_name_prefix="backfill")
    in_flight: deque[tuple[list[Item], Future[list[PushResult]]]] = deque()
    read_up_to = run.cursor
    sent_any = False
    try:
        while True:
            out_of_time = sent_any and time.monotonic() >= deadline
            refs = (
                []
                if out_of_time
                else contact_refs(brand_id=brand_id, after=read_up_to, up_to=run.last_ref, limit=size)
            )
            items = _items(brand_id, refs) if refs else []
            while in_flight and (len(in_flight) >= depth or not refs):
                sent_items, future = in_flight.popleft()
                if not _settle(
                    adapter=adapter,
                    target=target,
                    brand_id=brand_id,
                    sent_items=sent_items,
                    results=future.result(),
                    bulk=bulk is not None,
                    run_id=run_id,
                    token=token,
                ):
                    return "held"  # the lease was lost (this worker stalled past it): the other goes on
            if not refs:
                if out_of_time and contact_refs(
                    brand_id=brand_id, after=read_up_to, up_to=run.last_ref, limit=1
                ):
                    BackfillRun.objects.filter(pk=run_id, lease_token=token).update(leased_until=None)
                    publish("connector_backfill_chunk", run_id)
                    return "continued"
                _finish(run_id, token, status=ConnectorRun.SUCCEEDED)
                return "finished"
            in_flight.append(
                (items, sender.submit(_send, adapter, target, items, run_id=run_id, token=token))
            )
            sent_any = True
            read_up_to = refs[-1]
    finally:
        sender.shutdown(wait=True)


def _settle(
    *,
    adapter: Adapter,
    target: Target,
    brand_id: int,
    sent_items: list[Item],
    results: list[PushResult] | None,
    bulk: bool,
    run_id: int,
    token: str,
) -> bool:
    """A batch the vendor answered: pushed again until accepted (or, after a bulk push, its
    contacts that changed meanwhile pushed again), then counted and the cursor moved past it.
    False if the run's lease was lost."""
    sent = [item.delivery_id for item in sent_items]
    if results is not None and not _accepted(results):
        results = _push_until_accepted(
            adapter=adapter,
            target=target,
            brand_id=brand_id,
            refs=sent,
            run_id=run_id,
            token=token,
            refused=results,
        )
    elif results is not None and bulk:
        results = _changed_pushed(
            adapter=adapter,
            target=target,
            brand_id=brand_id,
            sent=sent_items,
            results=results,
            run_id=run_id,
            token=token,
        )
    return results is not None and _commit(run_id, token, sent, results)


def _send(
    adapter: Adapter, target: Target, items: list[Item], *, run_id: int, token: str
) -> list[PushResult]:
    """One batch, in the sender thread: through the adapter's bulk method when it has one."""
    try:
        bulk = getattr(adapter, "push_bulk", None)
        if bulk is None:
            return adapter.push(target, items, client=http_client())
        results: list[PushResult] = bulk(
            target, items, client=http_client(), heartbeat=lambda: _lease_kept(run_id, token)
        )
        return results
    finally:
        connection.close()  # this thread's own (the adapter may have kept vendor ids)


def _lease_kept(run_id: int, token: str, pause: float = 0.0) -> bool:
    """Renew the run's lease while its worker waits on the vendor; False if it was lost."""
    now = timezone.now()
    kept = BackfillRun.objects.filter(pk=run_id, lease_token=token, status=ConnectorRun.RUNNING).update(
        leased_until=now + timedelta(seconds=pause + _lease_seconds()), updated_at=now
    )
    return bool(kept)


def _changed_pushed(
    *,
    adapter: Adapter,
    target: Target,
    brand_id: int,
    sent: list[Item],
    results: list[PushResult],
    run_id: int,
    token: str,
) -> list[PushResult] | None:
    """After a bulk push the vendor applied later than it was read: push again, synchronously,
    the contacts whose state changed since (their outcome is the new push's). None if the
    run's lease was lost."""
    now = _items(brand_id, [item.delivery_id for item in sent])
    changed = [fresh for fresh, old in zip(now, sent, strict=True) if fresh.state != old.state]
    if not changed:
        return results
    outcomes: dict[int, PushResult] = {}
    for start in range(0, len(changed), adapter.max_batch):
        chunk = changed[start : start + adapter.max_batch]
        refs = [item.delivery_id for item in chunk]
        again: list[PushResult] | None = adapter.push(target, chunk, client=http_client())
        if again is not None and not _accepted(again):
            again = _push_until_accepted(
                adapter=adapter,
                target=target,
                brand_id=brand_id,
                refs=refs,
                run_id=run_id,
                token=token,
                refused=again,
            )
        if again is None:
            return None
        outcomes.update(zip(refs, again, strict=True))
    return [outcomes.get(item.delivery_id, result) for item, result in zip(sent, results, strict=True)]


def _items(brand_id: int, refs: list[int]) -> list[Item]:
    states = contacts_state(brand_id=brand_id, contact_refs=refs)
    return [Item(delivery_id=ref, type="backfill", contact_ref=ref, state=states.get(ref)) for ref in refs]


def _accepted(results: list[PushResult]) -> bool:
    """The vendor took the batch, or rejected a request for good (retrying would not help)."""
    return all(result.succeeded or result.permanent for result in results)


def _commit(run_id: int, token: str, refs: list[int], results: list[PushResult]) -> bool:
    """Count the batch and move the cursor past it, in one UPDATE, if this worker still holds the
    run: what a killed worker leaves is the last batch it committed."""
    failed = sum(1 for result in results if not result.succeeded)
    now = timezone.now()
    moved = BackfillRun.objects.filter(pk=run_id, lease_token=token, status=ConnectorRun.RUNNING).update(
        cursor=refs[-1],
        done=F("done") + len(refs) - failed,
        failed=F("failed") + failed,
        updated_at=now,
        leased_until=now + timedelta(seconds=_lease_seconds()),
    )
    return bool(moved)


def _push_until_accepted(
    *,
    adapter: Adapter,
    target: Target,
    brand_id: int,
    refs: list[int],
    run_id: int,
    token: str,
    refused: list[PushResult],
) -> list[PushResult] | None:
    """After the vendor `refused` the batch (429, outage): wait for its Retry-After (or a
    backoff) and push the batch again, its state read again, until the vendor accepts it or
    rejects a request for good. None if the run's lease was lost meanwhile."""
    wait = 1.0
    results = refused
    while True:
        delay = max(
            (result.retry_after for result in results if result.retry_after is not None), default=None
        )
        pause = min(delay if delay is not None else wait, BACKOFF_MAX)
        wait = min(wait * 2, BACKOFF_MAX)
        # Keep the lease through the wait, so no sweeper hands the run to a second worker.
        if not _lease_kept(run_id, token, pause):
            return None
        time.sleep(pause)
        results = adapter.push(target, _items(brand_id, refs), client=http_client())
        if _accepted(results):
            return results


def _finish(run_id: int, token: str, *, status: str, error: str = "") -> None:
    now = timezone.now()
    BackfillRun.objects.filter(pk=run_id, lease_token=token).update(
        status=status, error=error[:300], finished_at=now, updated_at=now, leased_until=None
    )


def backfill_eta(run: BackfillRun, *, now: datetime | None = None) -> datetime | None:
    """When the run should end at its pace so far (None until it has a pace, or once over)."""
    if run.status != ConnectorRun.RUNNING:
        return None
    handled = run.done + run.failed
    elapsed = ((now or timezone.now()) - run.started_at).total_seconds()
    if handled <= 0 or elapsed <= 0:
        return None
    remaining = max(run.total - handled, 0)
    return (now or timezone.now()) + timedelta(seconds=remaining * elapsed / handled)


def backfills_resume(*, now: datetime | None = None) -> int:
    """Hand back to a worker every running backfill whose lease ran out (its worker died, or its
    message was lost); how many."""
    now = now or timezone.now()
    # Untouched for a lease's length too: a run just handed to its next task is not stale.
    stale = list(
        BackfillRun.objects.filter(
            status=ConnectorRun.RUNNING, updated_at__lt=now - timedelta(seconds=_lease_seconds())
        )
        .exclude(leased_until__gt=now)
        .values_list("pk", flat=True)
    )
    for run_id in stale:
        publish("connector_backfill_chunk", run_id)
    return len(stale)
