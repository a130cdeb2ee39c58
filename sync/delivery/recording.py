"""Recording what a batch sent: its attempts, the deliveries finished or retried, the endpoint's
failing period (and disabling it), and handing the endpoint's next ready delivery over."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from brands.audit import Actor
from config.db import insert_from_arrays
from sync.delivery.broker import publish, publish_sends
from sync.delivery.claims import Claim
from sync.delivery.dispatch import deliveries_dispatch, dispatch_statement, dispatched
from sync.delivery.endpoints import endpoint_disable
from sync.delivery.retries import retry_delay
from sync.delivery.sending import Outcome
from sync.delivery.statements import select_generic
from sync.models import Attempt, Delivery, Endpoint

# Retries due sooner than this go to the broker with a countdown; later ones wait for the sweeper
# (long countdowns sit in a worker's memory and, on Redis, outlive the visibility timeout).
COUNTDOWN_MAX = 30

# Candor disables an endpoint that answers 410 or fails for days: the audit log says so.
WEBHOOK_DELIVERY = Actor.system("webhook-delivery")


def batch_record(*, claim: Claim, sent: list[tuple[Delivery, Outcome]]) -> list[Attempt]:
    """Record the batch's attempts, in the order sent; give back what it did not send.

    Successes (every attempt but perhaps the last) are recorded together: each Attempt, each
    delivery finished (while the lease is ours), the endpoint's failing period cleared. The
    deliveries not sent lose the lease and their broker mark, so the next dispatch or sweep hands
    them over at once. A failed last attempt is recorded by attempt_record (retry, Retry-After,
    410, days of failures), which hands the next ready delivery over; after a batch that ended
    well one ready delivery is handed over too, whether or not it was lately (its message may
    have found the endpoint busy), so the endpoint's backlog keeps moving without the sweeper."""
    failed = sent[-1] if sent and sent[-1][1].outcome != Attempt.Outcome.SUCCEEDED else None
    succeeded = sent[:-1] if failed is not None else sent
    unsent = claim.batch[len(sent) :]
    attempts = [
        Attempt(
            delivery=delivery,
            number=delivery.attempt_count + 1,
            started_at=result.started_at,
            duration_ms=result.duration_ms,
            status_code=result.status_code,
            response_excerpt=result.excerpt,
            error=result.error,
            outcome=result.outcome,
        )
        for delivery, result in succeeded
    ]
    finished = [
        (delivery.pk, result.finished_at, delivery.attempt_count + 1) for delivery, result in succeeded
    ]
    released = [delivery.pk for delivery in unsent]
    now = timezone.now()
    if attempts or released:
        _batch_record_rows(
            claim=claim,
            attempts=attempts,
            finished=finished,
            released=released,
            now=now,
            dispatch=failed is None,
        )
    if failed is not None:
        delivery, result = failed
        attempts.append(
            attempt_record(delivery=delivery, endpoint=claim.endpoint, lease=claim.lease, result=result)
        )
    return attempts


def _batch_record_rows(
    *,
    claim: Claim,
    attempts: list[Attempt],
    finished: list[tuple[int, datetime, int]],
    released: list[int],
    now: datetime,
    dispatch: bool,
) -> None:
    """batch_record's writes in one round trip. One statement (data-modifying CTEs
    over arrays, so its text and plan are the same for any batch) inserts the attempts, finishes
    the deliveries while the lease is ours, gives back the unsent ones and clears the endpoint's
    failing period; the next, with its own snapshot (so it sees them finished), picks and marks
    the next ready delivery to hand over."""
    insert, insert_params = insert_from_arrays(Attempt, attempts)
    record = f"""
        WITH attempt AS ({insert} RETURNING id, delivery_id),
        finished AS (
            UPDATE sync_delivery d
            SET status = 'succeeded', succeeded_at = v.at, attempt_count = v.number, leased_until = NULL
            FROM unnest(%s::bigint[], %s::timestamptz[], %s::integer[]) AS v(id, at, number)
            WHERE d.id = v.id AND d.leased_until = %s),
        released AS (
            UPDATE sync_delivery SET leased_until = NULL, enqueued_at = NULL
            WHERE id = ANY(%s::bigint[]) AND leased_until = %s),
        healthy AS (
            UPDATE sync_endpoint SET failing_since = NULL
            WHERE id = %s AND failing_since IS NOT NULL AND cardinality(%s::bigint[]) > 0)
        SELECT id, delivery_id FROM attempt"""  # noqa: S608
    ids = [pk for pk, _, _ in finished]
    params: list[Any] = [
        *insert_params,
        ids,
        [at for _, at, _ in finished],
        [number for _, _, number in finished],
        claim.lease,
        released,
        claim.lease,
        claim.endpoint.pk,
        ids,
    ]
    statements = [(record, params)]
    if dispatch:
        statements.append(
            dispatch_statement(
                endpoint_id=claim.endpoint.pk, limit=1, now=now, prefer_contact=None, skip_recent=False
            )
        )
    results = select_generic(statements)
    by_delivery = {delivery_id: pk for pk, delivery_id in results[0]}
    for attempt in attempts:
        attempt.pk = by_delivery[attempt.delivery_id]
        attempt._state.adding = False
        attempt._state.db = connection.alias
    if dispatch:
        handed = dispatched(results[1])
        if handed:
            transaction.on_commit(lambda: publish_sends(handed))


def attempt_record(
    *, delivery: Delivery, endpoint: Endpoint, lease: datetime, result: Outcome, permanent: bool = False
) -> Attempt:
    """Record one attempt through the ORM (the failed one that ends a batch): the retry, the
    failing period and disabling; then hand the endpoint's next ready delivery over. A
    `permanent` failure (a connector's vendor rejected the request itself) is not retried."""
    now = timezone.now()
    number = delivery.attempt_count + 1
    retry_in: float | None = None
    with transaction.atomic():
        attempt = Attempt.objects.create(
            delivery=delivery,
            number=number,
            started_at=result.started_at,
            duration_ms=result.duration_ms,
            status_code=result.status_code,
            response_excerpt=result.excerpt,
            error=result.error,
            outcome=result.outcome,
        )
        # Only while the lease is ours: after it ran out another worker may own the delivery.
        ours = Delivery.objects.filter(pk=delivery.pk, leased_until=lease)
        if result.outcome == Attempt.Outcome.SUCCEEDED:
            ours.update(
                status=Delivery.Status.SUCCEEDED, succeeded_at=now, attempt_count=number, leased_until=None
            )
            Endpoint.objects.filter(pk=endpoint.pk, failing_since__isnull=False).update(failing_since=None)
        else:
            retry_in = (
                None
                if permanent
                else retry_delay(attempt=number - delivery.round_start, retry_after=result.retry_after)
            )
            if retry_in is None:
                ours.update(status=Delivery.Status.FAILED, attempt_count=number, leased_until=None)
            else:
                soon = retry_in <= COUNTDOWN_MAX
                ours.update(
                    attempt_count=number,
                    leased_until=None,
                    next_attempt_at=now + timedelta(seconds=retry_in),
                    enqueued_at=now if soon else F("enqueued_at"),
                )
                if not soon:
                    retry_in = None  # the sweeper hands it over when due
            _failure_note(endpoint=endpoint, result=result, now=now)
    if retry_in is not None:
        publish("delivery_send", delivery.pk, countdown=retry_in)
    deliveries_dispatch(endpoint_id=endpoint.pk, limit=1, now=now, prefer_contact=delivery.contact_ref)
    return attempt


def _failure_note(*, endpoint: Endpoint, result: Outcome, now: datetime) -> None:
    """410 disables the endpoint at once; other failures start (or continue) its failing period,
    and one WEBHOOK_DISABLE_AFTER_DAYS long disables it."""
    if result.outcome == Attempt.Outcome.GONE:
        endpoint_disable(
            endpoint_id=endpoint.pk,
            reason="The receiver answered 410 Gone.",
            automatic=True,
            actor=WEBHOOK_DELIVERY,
        )
        return
    Endpoint.objects.filter(pk=endpoint.pk, failing_since__isnull=True).update(failing_since=now)
    since = Endpoint.objects.filter(pk=endpoint.pk).values_list("failing_since", flat=True).first()
    days = settings.WEBHOOK_DISABLE_AFTER_DAYS
    if since is not None and since <= now - timedelta(days=days):
        reason = f"Every delivery attempt failed for {days} days."
        endpoint_disable(endpoint_id=endpoint.pk, reason=reason, automatic=True, actor=WEBHOOK_DELIVERY)
