"""Webhook services: endpoints, fan-out from the changes feed, and signed delivery with retries.

How an event reaches a receiver:

1. A domain service writes an outbox Event and calls sync.services.events_announce; after COMMIT
   each of the brand's active endpoints gets an `endpoint_fanout` task.
2. `endpoint_fanout` reads the brand's feed after the endpoint's cursor (sync.selectors.events_feed:
   commit order, nothing skipped), inserts one Delivery per event (a second run inserts nothing)
   and moves the cursor, in one short transaction; then sends a batch of the endpoint's ready
   deliveries itself, as `delivery_send` does (below), handing more to the broker if there are.
   A new endpoint's cursor starts at the end of the feed: it receives what happens after it was
   created, not the history (the feed API serves that).
3. `delivery_send` claims a delivery with a lease (a conditional UPDATE), and with it up to
   BATCH_SIZE - 1 more of its endpoint's ready deliveries under the same lease; signs each
   (Standard Webhooks) and POSTs them one after another with no database transaction open, and
   records the Attempts together. A delivery is "ready" when it is pending, due, not leased, and
   the earliest pending one of its contact for its endpoint (so each receiver sees a contact's
   events in sequence order: a batch holds at most one per contact); at most
   WEBHOOK_MAX_IN_FLIGHT claims per endpoint are in flight at once, each sending one request at
   a time and starting none after BATCH_SECONDS (a slow receiver cannot take every worker). A
   batch stops at its first failed attempt and gives back what it did not send; each batch hands
   the endpoint's next ready delivery to the broker.
4. `deliveries_sweep` (beat, every few seconds) repairs whatever a lost message or a dead worker
   left behind: endpoints whose cursor is behind the feed, and ready deliveries nobody has
   handed to the broker lately (including those whose lease ran out).

Delivery is at least once: a receiver deduplicates on the webhook-id header.
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx
from django.conf import settings
from django.core.cache import cache
from django.core.mail import send_mass_mail
from django.db import connection, transaction
from django.db.models import F, Max, Q
from django.utils import timezone
from standardwebhooks import Webhook

from brands.models import Brand, Membership
from config.db import insert_from_arrays, insert_row, select_many, shape
from config.errors import Conflict, Unprocessable
from sync import selectors
from sync.models import Attempt, Delivery, Endpoint, Event, EventType, new_webhook_secret
from sync.serializers import timestamp
from sync.services import events_announce
from sync.ssrf import AddressRefused, GuardedBackend, url_validate

logger = logging.getLogger(__name__)

# Seconds to wait after failed attempt 1, 2, … (Svix's schedule: 0 s, 5 s, 5 min, 30 min, 2 h,
# 5 h, 10 h, 10 h); eight attempts in all, about 27.5 hours, each delay ±15 %. A setting
# WEBHOOK_RETRY_DELAYS replaces it (the fault tests' worker uses a schedule of seconds).
RETRY_DELAYS: tuple[float, ...] = (5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
JITTER = 0.15
# A receiver's Retry-After is honoured when longer than the schedule, up to this.
RETRY_AFTER_MAX = 24 * 3600
# Retries due sooner than this go to the broker with a countdown; later ones wait for the sweeper
# (long countdowns sit in a worker's memory and, on Redis, outlive the visibility timeout).
COUNTDOWN_MAX = 30
# The sweeper hands a ready delivery to the broker again only this long after the last time
# (setting WEBHOOK_REQUEUE_SECONDS overrides it).
REQUEUE_SECONDS = 60
EXCERPT_CHARS = 1024
# Read this much of an answer at most: enough to keep the connection for the next delivery.
DRAIN_BYTES = 64 * 1024
# One claim leases up to this many of an endpoint's ready deliveries and sends them one after
# another, starting no further attempt after BATCH_SECONDS: two database round trips (claim,
# record) for the batch instead of two per delivery.
BATCH_SIZE = 20
BATCH_SECONDS = 1.0
FANOUT_PAGE = 500
FANOUT_PAGES = 10
ROTATION_OVERLAP = timedelta(hours=24)
PERSONAL_KEYS = frozenset({"email", "phone"})
# Sent by POST …/{id}/test to that endpoint only; not an outbox event and not in the feed.
TEST_EVENT_TYPE = "webhook.test"
USER_AGENT = "Candor-Webhooks/1.0"


def _lease_seconds() -> float:
    """Longer than any attempt can take (timeout for the answer plus the drain's own deadline).
    A setting WEBHOOK_LEASE_SECONDS overrides it (tests that kill a worker wait it out)."""
    return getattr(settings, "WEBHOOK_LEASE_SECONDS", None) or 2 * settings.WEBHOOK_TIMEOUT_SECONDS + 30


def _batch_size() -> int:
    """Deliveries one claim leases and sends (setting WEBHOOK_BATCH_SIZE overrides BATCH_SIZE)."""
    return max(1, int(getattr(settings, "WEBHOOK_BATCH_SIZE", None) or BATCH_SIZE))


def _batch_seconds() -> float:
    """After this long a batch starts no further attempt (setting WEBHOOK_BATCH_SECONDS; 0 sends
    one delivery per claim)."""
    value = getattr(settings, "WEBHOOK_BATCH_SECONDS", None)
    return BATCH_SECONDS if value is None else float(value)


def _requeue_seconds() -> float:
    return getattr(settings, "WEBHOOK_REQUEUE_SECONDS", None) or REQUEUE_SECONDS


def _retry_delays() -> tuple[float, ...]:
    return tuple(getattr(settings, "WEBHOOK_RETRY_DELAYS", None) or RETRY_DELAYS)


# --- Publishing to the broker -----------------------------------------------------


def _publish(task_name: str, *args: Any, countdown: float | None = None) -> bool:
    """Hand a task to the broker; never raise (the sweeper catches up). Logs no arguments."""
    from sync import tasks

    task = getattr(tasks, task_name)
    try:
        task.apply_async(args=args, countdown=countdown, retry=False)
    except Exception as exc:
        logger.warning("could not publish %s (%s); the sweeper will catch up", task_name, type(exc).__name__)
        return False
    return True


def fanout_enqueue(*, brand_id: int) -> None:
    """Ask each of the brand's active endpoints to fan out its new events."""
    for endpoint_id in selectors.endpoint_ids_active(brand_id=brand_id):
        _publish("endpoint_fanout", endpoint_id)


def _endpoints_changed(brand_id: int) -> None:
    """After COMMIT, forget the cached list of the brand's active endpoints."""
    key = selectors._endpoints_cache_key(brand_id)
    transaction.on_commit(lambda: cache.delete(key))


# --- Endpoints ---------------------------------------------------------------------


def _checked(*, url: str | None = None, event_types: Collection[str] | None = None) -> None:
    errors: dict[str, list[str]] = {}
    if url is not None:
        problems = url_validate(url, allow_private=settings.WEBHOOK_ALLOW_PRIVATE)
        if problems:
            errors["url"] = problems
    if event_types is not None:
        unknown = sorted(set(event_types) - set(EventType.values))
        if unknown:
            errors["event_types"] = [
                f"Unknown event type(s): {', '.join(unknown)}. Known: {', '.join(EventType.values)}."
            ]
    if errors:
        raise Unprocessable("The endpoint has invalid fields; see errors.", errors=errors)


@transaction.atomic
def endpoint_create(
    *,
    brand: Brand,
    url: str,
    description: str = "",
    event_types: Collection[str] = (),
    include_personal_data: bool = False,
) -> Endpoint:
    """A new active endpoint with a fresh secret (endpoint.secret: show it to the caller once).

    Its cursor starts at the end of the brand's feed: no history is sent.
    """
    _checked(url=url, event_types=event_types)
    end = selectors.feed_end(brand=brand)
    endpoint = Endpoint.objects.create(
        brand=brand,
        url=url,
        description=description,
        event_types=sorted(set(event_types)),
        include_personal_data=include_personal_data,
        cursor_txid=end.txid,
        cursor_id=end.id,
    )
    _endpoints_changed(brand.pk)
    return endpoint


@transaction.atomic
def endpoint_update(
    *,
    endpoint: Endpoint,
    url: str | None = None,
    description: str | None = None,
    event_types: Collection[str] | None = None,
    status: str | None = None,
    include_personal_data: bool | None = None,
) -> Endpoint:
    """Change the fields given. Enabling resumes where the endpoint stopped, so events written
    while it was disabled are delivered (within the feed's retention) and none is lost."""
    _checked(url=url, event_types=event_types)
    fields: dict[str, Any] = {}
    if url is not None:
        fields["url"] = url
    if description is not None:
        fields["description"] = description
    if event_types is not None:
        fields["event_types"] = sorted(set(event_types))
    if include_personal_data is not None:
        fields["include_personal_data"] = include_personal_data
    if status is not None and status != endpoint.status:
        if status == Endpoint.Status.DISABLED:
            reason = "Disabled through the API."
            fields.update(status=status, disabled_reason=reason, disabled_at=timezone.now())
        else:
            fields.update(status=status, disabled_reason="", disabled_at=None, failing_since=None)
        _endpoints_changed(endpoint.brand_id)
    if fields:
        Endpoint.objects.filter(pk=endpoint.pk).update(**fields)
        for name, value in fields.items():
            setattr(endpoint, name, value)
    return endpoint


@transaction.atomic
def endpoint_delete(*, endpoint: Endpoint) -> None:
    """Remove the endpoint with its delivery log."""
    _endpoints_changed(endpoint.brand_id)
    endpoint.delete()


@transaction.atomic
def endpoint_secret_rotate(*, endpoint: Endpoint) -> Endpoint:
    """A new secret (show it once); the current one keeps signing beside it for 24 hours."""
    now = timezone.now()
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = now + ROTATION_OVERLAP
    endpoint.secret = new_webhook_secret()
    endpoint.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at"])
    return endpoint


@transaction.atomic
def endpoint_disable(*, endpoint_id: int, reason: str, automatic: bool) -> bool:
    """Disable an active endpoint; True if this call did. When Candor decided it (410, or days
    of failures) the brand is told: an endpoint.disabled event and an email to its owners."""
    now = timezone.now()
    changed = Endpoint.objects.filter(pk=endpoint_id, status=Endpoint.Status.ACTIVE).update(
        status=Endpoint.Status.DISABLED, disabled_reason=reason[:300], disabled_at=now
    )
    if not changed:
        return False
    endpoint = Endpoint.objects.select_related("brand").get(pk=endpoint_id)
    _endpoints_changed(endpoint.brand_id)
    if automatic:
        logger.warning("webhook endpoint %s disabled: %s", endpoint.public_id, reason)
        _brand_event_record(
            brand=endpoint.brand,
            type=EventType.ENDPOINT_DISABLED,
            data={"endpoint": endpoint.public_id, "reason": reason, "disabled_at": timestamp(now)},
            now=now,
        )
        transaction.on_commit(lambda: _owners_notify(endpoint_id=endpoint_id))
    return True


def _brand_event_record(*, brand: Brand, type: EventType, data: dict[str, Any], now: datetime) -> Event:
    """An outbox event about the brand itself, on its own stream (Event.brand_ref).

    Its sequence is the later of the stream's last + 1 and the time in milliseconds, so it keeps
    increasing after the feed's retention has pruned the stream's earlier events.
    """
    Brand.objects.select_for_update().filter(pk=brand.pk).values_list("pk").first()  # one writer
    ref = Event.brand_ref(brand.pk)
    last = Event.objects.filter(contact_ref=ref).aggregate(last=Max("sequence"))["last"] or 0
    sequence = max(last + 1, int(now.timestamp() * 1000))
    event = Event(
        brand=brand,
        type=type,
        contact_ref=ref,
        subject="",
        sequence=sequence,
        data={"sequence": sequence, **data},
        occurred_at=now,
    )
    insert_row(event)
    events_announce(brand_id=brand.pk)
    return event


def _owners_notify(*, endpoint_id: int) -> None:
    """A plain email to each owner of the brand that its endpoint was disabled."""
    endpoint = Endpoint.objects.select_related("brand").filter(pk=endpoint_id).first()
    if endpoint is None:
        return
    brand = endpoint.brand
    owners = Membership.objects.filter(brand=brand, role=Membership.Role.OWNER).exclude(user__email="")
    recipients = sorted(set(owners.values_list("user__email", flat=True)))
    if not recipients:
        return
    parts = urlsplit(endpoint.url)
    shown_url = f"{parts.scheme}://{parts.netloc}{parts.path}"  # no query: it may hold a token
    subject = f"[Candor] Webhook endpoint disabled for {brand.name}"
    message = (
        f"Candor disabled a webhook endpoint of {brand.name} ({brand.slug}).\n\n"
        f"Endpoint: {endpoint.public_id}\n"
        f"URL: {shown_url}\n"
        f"Reason: {endpoint.disabled_reason}\n\n"
        "Events are kept: once the receiver works again, enable the endpoint (PATCH "
        f"/api/v1/endpoints/{endpoint.public_id} with status active) and it resumes where it "
        "stopped. The delivery log (GET …/deliveries) shows every attempt.\n"
    )
    try:
        send_mass_mail([(subject, message, None, [address]) for address in recipients])
    except Exception as exc:
        logger.warning("could not email the owners of %s (%s)", brand.slug, type(exc).__name__)


# --- Fan-out ---------------------------------------------------------------------------


def _without_personal(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_personal(v) for k, v in value.items() if k not in PERSONAL_KEYS}
    if isinstance(value, list):
        return [_without_personal(item) for item in value]
    return value


def delivery_body(*, type: str, created_at: datetime, data: dict[str, Any], personal: bool) -> str:
    """The webhook body, compact JSON: {"type", "timestamp", "data"}. Email and phone are left
    out of data unless the endpoint asked for them."""
    if not personal:
        data = _without_personal(data)
    payload = {"type": type, "timestamp": timestamp(created_at), "data": data}
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def delivery_of(*, endpoint: Endpoint, event: Event | selectors.FeedEvent, now: datetime) -> Delivery:
    """The (unsaved) delivery of `event` to `endpoint`, due now."""
    return Delivery(
        endpoint_id=endpoint.pk,
        event_id=event.id,
        msg_id=f"msg_{event.public_id.hex}",
        type=event.type,
        contact_ref=event.contact_ref,
        sequence=event.sequence,
        body=delivery_body(
            type=event.type,
            created_at=event.created_at,
            data=event.data,
            personal=endpoint.include_personal_data,
        ),
        next_attempt_at=now,
        created_at=now,
    )


def endpoint_fanout(*, endpoint_id: int) -> int:
    """Make Deliveries of the endpoint's new events, then send a batch of its ready deliveries
    (delivery_send's, in this task: no message to wait for); the number made.

    Reads before it writes and moves the cursor with a compare-and-set, so two runs at once
    neither lose nor double anything, and no transaction is open while the feed is read. Each
    write nudges a fan-out, so most of them find that an earlier one took their event already:
    on PostgreSQL that costs one statement.
    """
    endpoint = _fanout_endpoint(endpoint_id)
    if endpoint is None:
        return 0
    brand = Brand(pk=endpoint.brand_id)  # the feed reads only its id
    after = selectors.FeedPosition(endpoint.cursor_txid, endpoint.cursor_id)
    made = 0
    for _ in range(FANOUT_PAGES):
        page = selectors.events_feed(brand=brand, after=after, limit=FANOUT_PAGE, types=endpoint.event_types)
        if page.next_position == after:
            break
        now = timezone.now()
        rows = [delivery_of(endpoint=endpoint, event=event, now=now) for event in page.events]
        if not _fanout_insert(
            endpoint_id=endpoint.pk, after=after, to=page.next_position, erasures=endpoint.erasures, rows=rows
        ):
            # Another fan-out moved the cursor, or a contact was erased since these events were
            # read (their rows may name it): read again from where the endpoint now is.
            endpoint = _fanout_endpoint(endpoint_id)
            if endpoint is None:
                break
            after = selectors.FeedPosition(endpoint.cursor_txid, endpoint.cursor_id)
            continue
        made += len(rows)
        after = page.next_position
        if not page.has_more:
            break
    else:
        _publish("endpoint_fanout", endpoint_id)  # a long backlog: go on in a fresh task
    if made:
        _endpoint_batch_send(endpoint_id)
    return made


def _fanout_endpoint(endpoint_id: int) -> Endpoint | None:
    """The endpoint, if it is active and its brand's feed has events past its cursor (the feed's
    horizon may still hold them back: fan-out then finds nothing, which is harmless)."""
    endpoint_shape = shape(Endpoint)
    sql = f"""
        SELECT {endpoint_shape.columns("e")} FROM sync_endpoint e
        WHERE e.id = %s AND e.status = 'active' AND EXISTS (
            SELECT 1 FROM sync_event ev
            WHERE ev.brand_id = e.brand_id AND (ev.txid, ev.id) > (e.cursor_txid, e.cursor_id)
              AND ev.txid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint)"""  # noqa: S608
    [rows] = _select_generic([(sql, [endpoint_id])])
    return endpoint_shape.build(rows[0]) if rows else None


def _fanout_insert(
    *,
    endpoint_id: int,
    after: selectors.FeedPosition,
    to: selectors.FeedPosition,
    erasures: int,
    rows: list[Delivery],
) -> bool:
    """Move the endpoint's cursor from `after` to `to` (only if it is still at `after`, the
    endpoint active and its erasure count still `erasures`) and insert `rows` (a second insert of
    an event inserts nothing), in one transaction; False if the cursor had moved or a contact was
    erased meanwhile. An erasure in progress holds the endpoint's row (deliveries_forget_contact),
    so this waits for it and then finds the count changed."""
    # One statement, one round trip: the INSERT reads the compare-and-set's RETURNING, so it
    # inserts nothing unless the cursor moved.
    insert, insert_params = insert_from_arrays(
        Delivery, rows, given={"endpoint_id": "moved.id"}, sources="moved, "
    )
    sql = f"""
        WITH moved AS (
            UPDATE sync_endpoint SET cursor_txid = %s, cursor_id = %s
            WHERE id = %s AND cursor_txid = %s AND cursor_id = %s AND erasures = %s AND status = 'active'
            RETURNING id),
        made AS ({insert} ON CONFLICT DO NOTHING RETURNING id)
        SELECT (SELECT count(*) FROM moved), (SELECT count(*) FROM made)"""  # noqa: S608
    params: list[Any] = [to.txid, to.id, endpoint_id, after.txid, after.id, erasures, *insert_params]
    [[(moved, _made)]] = _select_generic([(sql, params)])
    return bool(moved)


def _endpoint_batch_send(endpoint_id: int) -> None:
    """Send a batch of the endpoint's oldest ready deliveries now, in this task, if the endpoint
    has a claim to spare; when the batch is full there may be more, so up to the claims still
    free go to the broker as well (other workers take a batch each)."""
    now = timezone.now()
    claim = _batch_claim(endpoint_id=endpoint_id, now=now)
    if claim is None:
        return  # busy (each claim in flight hands the next ready one over) or nothing ready
    if len(claim.batch) == _batch_size():
        deliveries_dispatch(endpoint_id=endpoint_id, limit=_free_slots(endpoint_id, now), now=now)
    _batch_send(claim)


def _free_slots(endpoint_id: int, now: datetime) -> int:
    """How many more claims of the endpoint's deliveries may be in flight now."""
    return settings.WEBHOOK_MAX_IN_FLIGHT - selectors.deliveries_in_flight(endpoint_id=endpoint_id, now=now)


def deliveries_dispatch(
    *,
    endpoint_id: int,
    limit: int,
    now: datetime | None = None,
    prefer_contact: int | None = None,
    skip_recent: bool = True,
) -> list[int]:
    """Hand up to `limit` of the endpoint's ready deliveries to the broker (after COMMIT), oldest
    first (`prefer_contact`'s first); their ids. With `skip_recent` (the default) those handed
    over in the last REQUEUE_SECONDS are left out: their message may still be queued."""
    if limit <= 0:
        return []
    now = now or timezone.now()
    sql, params = _dispatch_statement(
        endpoint_id=endpoint_id,
        limit=limit,
        now=now,
        prefer_contact=prefer_contact,
        skip_recent=skip_recent,
    )
    [rows] = _select_generic([(sql, params)])
    ids = _dispatched(rows)
    if ids:
        transaction.on_commit(lambda: _publish_sends(ids))
    return ids


def _publish_sends(ids: list[int]) -> None:
    for delivery_id in ids:
        _publish("delivery_send", delivery_id)


# The hot path (one worker sends hundreds of deliveries a second), written out once so each step
# is one round trip with no query building.

# Run first in each of the hot path's pipelines (select_many: one implicit transaction, so the
# setting lasts until its end): the prepared statements after it use their generic plan. Left
# to choose, PostgreSQL planned the claim and dispatch statements afresh on every execution
# (their generic plans' estimated cost is higher, from default selectivities for the time
# parameters), 0.7 ms of planning for 0.1 ms of running; the generic plans are the same shape.
_GENERIC_PLANS: tuple[str, list[Any]] = (
    "SELECT set_config('plan_cache_mode', 'force_generic_plan', true)",
    [],
)


def _select_generic(statements: list[tuple[str, list[Any]]]) -> list[list[tuple[Any, ...]]]:
    """select_many of the statements, each with its generic plan (see _GENERIC_PLANS)."""
    return select_many([_GENERIC_PLANS, *statements])[1:]


_READY = """
    d.status = 'pending' AND d.next_attempt_at <= %s
    AND (d.leased_until IS NULL OR d.leased_until <= %s)
    AND (d.contact_ref IS NULL OR NOT EXISTS (
        SELECT 1 FROM sync_delivery x
        WHERE x.endpoint_id = d.endpoint_id AND x.contact_ref = d.contact_ref
          AND x.status = 'pending' AND x.sequence < d.sequence))
"""


def _dispatch_statement(
    *, endpoint_id: int, limit: int, now: datetime, prefer_contact: int | None, skip_recent: bool = True
) -> tuple[str, list[Any]]:
    """deliveries_dispatch's pick and mark in one statement: up to `limit` ready deliveries of an
    active endpoint (with `skip_recent`, not handed over in the last _requeue_seconds()), the
    ready one of `prefer_contact` first (a contact has at most one), then the oldest; marked
    handed over now; RETURNING id, rank (0 for the preferred contact's). Index scans that stop at
    the limit (delivery_pending_contact, delivery_pending_endpoint), not a sort of the backlog."""
    fresh = " AND (d.enqueued_at IS NULL OR d.enqueued_at < %s)" if skip_recent else ""
    before = [now - timedelta(seconds=_requeue_seconds())] if skip_recent else []
    oldest = """
        (SELECT d.id, 1 AS rank FROM sync_delivery d
         WHERE d.endpoint_id = %s{other} AND {ready} ORDER BY d.endpoint_id, d.id LIMIT %s)"""
    if prefer_contact is None:
        candidate = oldest.format(other="", ready=_READY + fresh)
        params: list[Any] = [endpoint_id, now, now, *before, limit]
    else:
        candidate = f"""
        (SELECT d.id, 0 AS rank FROM sync_delivery d
         WHERE d.endpoint_id = %s AND d.contact_ref = %s AND {_READY}{fresh} LIMIT 1)
        UNION ALL {oldest.format(other=" AND d.contact_ref IS DISTINCT FROM %s", ready=_READY + fresh)}"""  # noqa: S608
        params = [endpoint_id, prefer_contact, now, now, *before]
        params += [endpoint_id, prefer_contact, now, now, *before, limit]
    sql = f"""
        WITH candidate AS ({candidate}),
        picked AS (SELECT id, rank FROM candidate ORDER BY rank, id LIMIT %s)
        UPDATE sync_delivery u SET enqueued_at = %s FROM picked
        WHERE u.id = picked.id
          AND EXISTS (SELECT 1 FROM sync_endpoint e WHERE e.id = %s AND e.status = 'active')
        RETURNING u.id, picked.rank"""  # noqa: S608 (no input in the text)
    return sql, [*params, limit, now, endpoint_id]


def _dispatched(rows: list[tuple[Any, ...]]) -> list[int]:
    """The ids RETURNING gave, in deliveries_ready's order (RETURNING keeps none)."""
    return [pk for pk, _ in sorted(rows, key=lambda row: (row[1], row[0]))]


@dataclass
class _Claim:
    """What one delivery_send holds: the endpoint, its batch (the delivery the message named
    first, then the oldest ready ones) and the one lease they share."""

    endpoint: Endpoint
    batch: list[Delivery]
    lease: datetime


def _batch_claim(
    *, now: datetime, delivery_id: int | None = None, endpoint_id: int | None = None
) -> _Claim | None:
    """Lease the delivery, if it is ready and its endpoint has a claim to spare, together with
    up to _batch_size() - 1 more of the endpoint's ready deliveries (oldest first), all until one
    instant; None if the delivery is not ready. With `endpoint_id` instead: the endpoint's
    _batch_size() oldest ready deliveries, None if it has none or no claim to spare."""
    lease = now + timedelta(seconds=_lease_seconds() + _batch_seconds())
    if delivery_id is not None:
        return _batch_claim_delivery(delivery_id=delivery_id, now=now, lease=lease)
    assert endpoint_id is not None
    return _batch_claim_endpoint(endpoint_id=endpoint_id, now=now, lease=lease)


def _batch_claim_delivery(*, delivery_id: int, now: datetime, lease: datetime) -> _Claim | None:
    """One round trip, two statements in one implicit transaction (select_many's pipeline has a
    single Sync). The first locks the endpoint's row, only if the delivery looks ready (a message
    whose delivery another batch sent takes no lock and costs this one round trip); the second,
    with a snapshot of its own taken after the lock, counts the claims in flight, checks the
    delivery's readiness and leases the batch in one step, reading the endpoint with it. The
    UPDATE repeats the status and lease conditions, so a row changed since its snapshot (a late
    worker finishing it) is checked again and left alone."""
    delivery_shape, endpoint_shape = shape(Delivery), shape(Endpoint)
    lock = """
        SELECT e.id FROM sync_endpoint e
        WHERE e.id = (SELECT endpoint_id FROM sync_delivery
                      WHERE id = %s AND status = 'pending' AND next_attempt_at <= %s
                        AND (leased_until IS NULL OR leased_until <= %s))
          AND e.status = 'active'
        FOR UPDATE"""
    claim = f"""
        WITH own AS (
            SELECT d.id, d.endpoint_id FROM sync_delivery d JOIN sync_endpoint e ON e.id = d.endpoint_id
            WHERE d.id = %s AND e.status = 'active' AND {_READY}
              AND (SELECT count(DISTINCT f.leased_until) FROM sync_delivery f
                   WHERE f.endpoint_id = d.endpoint_id AND f.status = 'pending'
                     AND f.leased_until > %s) < %s),
        picked AS (
            SELECT id FROM own
            UNION ALL
            SELECT later.id FROM own CROSS JOIN LATERAL (
                SELECT d.id FROM sync_delivery d
                WHERE d.endpoint_id = own.endpoint_id AND d.id <> own.id AND {_READY}
                ORDER BY d.endpoint_id, d.id LIMIT %s) later)
        UPDATE sync_delivery d SET leased_until = %s FROM picked, sync_endpoint e
        WHERE d.id = picked.id AND e.id = d.endpoint_id
          AND d.status = 'pending' AND (d.leased_until IS NULL OR d.leased_until <= %s)
        RETURNING {delivery_shape.columns("d")}, {endpoint_shape.columns("e")}"""  # noqa: S608
    size = _batch_size()
    cap = settings.WEBHOOK_MAX_IN_FLIGHT
    params = [delivery_id, now, now, now, cap, now, now, size - 1, lease, now]
    _, rows = _select_generic([(lock, [delivery_id, now, now]), (claim, params)])
    return _claimed(rows, first=delivery_id, lease=lease)


def _batch_claim_endpoint(*, endpoint_id: int, now: datetime, lease: datetime) -> _Claim | None:
    """_batch_claim_delivery for an endpoint's oldest ready deliveries (after a fan-out): the same two
    statements, the claim without a delivery of its own."""
    delivery_shape, endpoint_shape = shape(Delivery), shape(Endpoint)
    lock = "SELECT e.id FROM sync_endpoint e WHERE e.id = %s AND e.status = 'active' FOR UPDATE"
    claim = f"""
        WITH picked AS (
            SELECT d.id FROM sync_delivery d
            WHERE d.endpoint_id = %s AND {_READY}
              AND (SELECT count(DISTINCT f.leased_until) FROM sync_delivery f
                   WHERE f.endpoint_id = %s AND f.status = 'pending' AND f.leased_until > %s) < %s
            ORDER BY d.endpoint_id, d.id LIMIT %s)
        UPDATE sync_delivery d SET leased_until = %s FROM picked, sync_endpoint e
        WHERE d.id = picked.id AND e.id = d.endpoint_id AND e.status = 'active'
          AND d.status = 'pending' AND (d.leased_until IS NULL OR d.leased_until <= %s)
        RETURNING {delivery_shape.columns("d")}, {endpoint_shape.columns("e")}"""  # noqa: S608
    cap = settings.WEBHOOK_MAX_IN_FLIGHT
    params = [endpoint_id, now, now, endpoint_id, now, cap, _batch_size(), lease, now]
    _, rows = _select_generic([(lock, [endpoint_id]), (claim, params)])
    return _claimed(rows, first=None, lease=lease)


def _claimed(rows: list[tuple[Any, ...]], *, first: int | None, lease: datetime) -> _Claim | None:
    """The claim from the rows of a claim statement (each delivery's columns, then the endpoint's):
    the delivery `first` first, then the others oldest first (RETURNING keeps no order)."""
    if not rows:
        return None
    delivery_shape, endpoint_shape = shape(Delivery), shape(Endpoint)
    endpoint = endpoint_shape.build(rows[0], delivery_shape.width)
    batch = sorted((delivery_shape.build(row) for row in rows), key=lambda d: (d.pk != first, d.pk))
    for delivery in batch:
        delivery.endpoint = endpoint
    return _Claim(endpoint=endpoint, batch=batch, lease=lease)


def _batch_record(*, claim: _Claim, sent: list[tuple[Delivery, _Outcome]]) -> list[Attempt]:
    """Record the batch's attempts, in the order sent; give back what it did not send.

    Successes (every attempt but perhaps the last) are recorded together: each Attempt, each
    delivery finished (while the lease is ours), the endpoint's failing period cleared. The
    deliveries not sent lose the lease and their broker mark, so the next dispatch or sweep hands
    them over at once. A failed last attempt is recorded by _attempt_record (retry, Retry-After,
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
            _attempt_record(delivery=delivery, endpoint=claim.endpoint, lease=claim.lease, result=result)
        )
    return attempts


def _batch_record_rows(
    *,
    claim: _Claim,
    attempts: list[Attempt],
    finished: list[tuple[int, datetime, int]],
    released: list[int],
    now: datetime,
    dispatch: bool,
) -> None:
    """_batch_record's writes in one round trip. One statement (data-modifying CTEs
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
            _dispatch_statement(
                endpoint_id=claim.endpoint.pk, limit=1, now=now, prefer_contact=None, skip_recent=False
            )
        )
    results = _select_generic(statements)
    by_delivery = {delivery_id: pk for pk, delivery_id in results[0]}
    for attempt in attempts:
        attempt.pk = by_delivery[attempt.delivery_id]
        attempt._state.adding = False
        attempt._state.db = connection.alias
    if dispatch:
        handed = _dispatched(results[1])
        if handed:
            transaction.on_commit(lambda: _publish_sends(handed))


# --- Sending ------------------------------------------------------------------------------

_client: httpx.Client | None = None
_client_pid = 0


class GuardedTransport(httpx.HTTPTransport):
    """httpx's transport with the SSRF guard as its network backend (see sync.ssrf). No proxy:
    a proxy would resolve the host itself, out of the guard's sight."""

    def __init__(self, *, limits: httpx.Limits) -> None:
        super().__init__(limits=limits, trust_env=False)
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(),
        )


def http_client() -> httpx.Client:
    """The process's client: one pool of kept-alive connections, reused by every delivery
    (made afresh in a forked worker, which must not share the parent's sockets)."""
    global _client, _client_pid
    if _client is None or _client_pid != os.getpid():
        limits = httpx.Limits(max_connections=50, max_keepalive_connections=20, keepalive_expiry=30)
        _client = httpx.Client(
            transport=GuardedTransport(limits=limits),
            timeout=httpx.Timeout(settings.WEBHOOK_TIMEOUT_SECONDS),
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": USER_AGENT},
        )
        _client_pid = os.getpid()
    return _client


def http_client_reset() -> None:
    """Close the process's client (its kept-alive connections); the next delivery opens a new one."""
    global _client
    if _client is not None:
        _client.close()
    _client = None


def signature(*, endpoint: Endpoint, msg_id: str, at: datetime, body: str) -> str:
    """The webhook-signature header: `v1,…` with the secret, and during a rotation a second
    entry with the previous one, so receivers can switch secrets at their own pace."""
    entries = [Webhook(endpoint.secret).sign(msg_id, at, body)]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires is not None and expires > at:
        entries.append(Webhook(endpoint.previous_secret).sign(msg_id, at, body))
    return " ".join(entries)


@dataclass
class _Outcome:
    started_at: datetime
    finished_at: datetime
    duration_ms: int
    outcome: str
    status_code: int | None = None
    excerpt: str = ""
    error: str = ""
    retry_after: float | None = None


def _retry_after(raw: str | None, now: datetime) -> float | None:
    """Retry-After in seconds (RFC 9110: delay-seconds or an HTTP date), capped; None if absent
    or unreadable."""
    if not raw:
        return None
    raw = raw.strip()
    if raw.isascii() and raw.isdigit():
        seconds = float(raw)
    else:
        try:
            seconds = (parsedate_to_datetime(raw) - now).total_seconds()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), RETRY_AFTER_MAX)


def _post(*, endpoint: Endpoint, delivery: Delivery) -> _Outcome:
    """One HTTP attempt. Never raises for the receiver's faults: they become the outcome."""
    at = timezone.now()
    start = time.monotonic()

    def done(**fields: Any) -> _Outcome:
        seconds = time.monotonic() - start
        return _Outcome(
            started_at=at,
            finished_at=at + timedelta(seconds=seconds),
            duration_ms=int(seconds * 1000),
            **fields,
        )

    if urlsplit(endpoint.url).scheme != "https" and not settings.WEBHOOK_ALLOW_PRIVATE:
        return done(outcome=Attempt.Outcome.REFUSED, error="Only https:// receivers are allowed.")
    headers = {
        "webhook-id": delivery.msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature(endpoint=endpoint, msg_id=delivery.msg_id, at=at, body=delivery.body),
        "content-type": "application/json",
    }
    deadline = start + settings.WEBHOOK_TIMEOUT_SECONDS
    try:
        with http_client().stream("POST", endpoint.url, content=delivery.body.encode(), headers=headers) as r:
            head, size = bytearray(), 0
            for chunk in r.iter_bytes():
                if len(head) < EXCERPT_CHARS * 4:
                    head += chunk[: EXCERPT_CHARS * 4 - len(head)]
                size += len(chunk)
                if size > DRAIN_BYTES or time.monotonic() > deadline:
                    break  # closing the stream drops the connection rather than read on
            status = r.status_code
            retry_after = _retry_after(r.headers.get("retry-after"), at)
    except AddressRefused as exc:
        return done(outcome=Attempt.Outcome.REFUSED, error=str(exc))
    except httpx.TimeoutException:
        return done(
            outcome=Attempt.Outcome.FAILED,
            error=f"No answer within {settings.WEBHOOK_TIMEOUT_SECONDS} s.",
        )
    except httpx.HTTPError as exc:
        return done(outcome=Attempt.Outcome.FAILED, error=f"{type(exc).__name__}: {exc}"[:300])
    excerpt = bytes(head).decode("utf-8", errors="replace")[:EXCERPT_CHARS]
    if 200 <= status < 300:
        outcome = Attempt.Outcome.SUCCEEDED
    elif status == 410:
        outcome = Attempt.Outcome.GONE
    else:
        outcome = Attempt.Outcome.FAILED
    error = f"Redirects are not followed ({status})." if 300 <= status < 400 else ""
    return done(outcome=outcome, status_code=status, excerpt=excerpt, error=error, retry_after=retry_after)


def retry_delay(*, attempt: int, retry_after: float | None = None) -> float | None:
    """Seconds before the next attempt after failed attempt number `attempt` of a round (1-based),
    with jitter, or at least what Retry-After asked; None when the round is exhausted."""
    delays = _retry_delays()
    if attempt > len(delays):  # MAX_ATTEMPTS with the default schedule
        return None
    delay = delays[attempt - 1] * random.uniform(1 - JITTER, 1 + JITTER)
    if retry_after is not None and retry_after > delay:
        delay = retry_after
    return delay


def delivery_send(*, delivery_id: int) -> Attempt | None:
    """Send the delivery if it is ready, and with it up to _batch_size() - 1 more of its
    endpoint's ready deliveries (the oldest first), one after another over the kept-alive
    connection, with no database transaction open; the named delivery's Attempt, or None when it
    was not ready (already sent, perhaps by another message's batch; not due; leased by another
    worker; waiting for an earlier event of its contact; its endpoint disabled or busy). Safe to
    call any number of times.

    The batch stops at the first attempt that fails (a failing receiver gets no more of it) and
    once _batch_seconds() have passed (a slow receiver holds a worker no longer than that plus
    one attempt); what it did not send goes back at once. Its lease covers the time the batch
    may take; if the worker dies, every delivery of the batch is sent again once it runs out."""
    claim = _batch_claim(delivery_id=delivery_id, now=timezone.now())
    if claim is None:
        return None
    attempts = _batch_send(claim)
    return next((attempt for attempt in attempts if attempt.delivery_id == delivery_id), None)


def _batch_send(claim: _Claim) -> list[Attempt]:
    """POST the claim's deliveries in order until one fails or the batch's time is up; record
    what was sent and give back the rest (_batch_record)."""
    deadline = time.monotonic() + _batch_seconds()
    sent: list[tuple[Delivery, _Outcome]] = []
    try:
        for delivery in claim.batch:
            if sent and time.monotonic() >= deadline:
                break
            result = _post(endpoint=claim.endpoint, delivery=delivery)  # no transaction open: see events_feed
            sent.append((delivery, result))
            if result.outcome != Attempt.Outcome.SUCCEEDED:
                break
    except BaseException:
        # Not a receiver's fault (those are outcomes): what went out is still recorded, the rest
        # given back, before the error goes on.
        _batch_record(claim=claim, sent=sent)
        raise
    return _batch_record(claim=claim, sent=sent)


def _attempt_record(*, delivery: Delivery, endpoint: Endpoint, lease: datetime, result: _Outcome) -> Attempt:
    """Record one attempt through the ORM (the failed one that ends a batch): the retry, the
    failing period and disabling; then hand the endpoint's next ready delivery over."""
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
            retry_in = retry_delay(attempt=number - delivery.round_start, retry_after=result.retry_after)
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
        _publish("delivery_send", delivery.pk, countdown=retry_in)
    deliveries_dispatch(endpoint_id=endpoint.pk, limit=1, now=now, prefer_contact=delivery.contact_ref)
    return attempt


def _failure_note(*, endpoint: Endpoint, result: _Outcome, now: datetime) -> None:
    """410 disables the endpoint at once; other failures start (or continue) its failing period,
    and one WEBHOOK_DISABLE_AFTER_DAYS long disables it."""
    if result.outcome == Attempt.Outcome.GONE:
        endpoint_disable(endpoint_id=endpoint.pk, reason="The receiver answered 410 Gone.", automatic=True)
        return
    Endpoint.objects.filter(pk=endpoint.pk, failing_since__isnull=True).update(failing_since=now)
    since = Endpoint.objects.filter(pk=endpoint.pk).values_list("failing_since", flat=True).first()
    days = settings.WEBHOOK_DISABLE_AFTER_DAYS
    if since is not None and since <= now - timedelta(days=days):
        reason = f"Every delivery attempt failed for {days} days."
        endpoint_disable(endpoint_id=endpoint.pk, reason=reason, automatic=True)


# --- Test messages and redelivery ---------------------------------------------------------


@transaction.atomic
def endpoint_test_send(*, endpoint: Endpoint) -> Delivery:
    """Queue a webhook.test message for this endpoint alone (whatever its event filter). It is a
    Delivery with no outbox event: it is not in the feed and no other endpoint gets it."""
    if endpoint.status != Endpoint.Status.ACTIVE:
        raise Conflict("The endpoint is disabled; enable it before sending a test message.")
    now = timezone.now()
    data = {"endpoint": endpoint.public_id, "message": "A test message from Candor."}
    delivery = Delivery.objects.create(
        endpoint=endpoint,
        event=None,
        msg_id=f"msg_{uuid.uuid4().hex}",
        type=TEST_EVENT_TYPE,
        contact_ref=None,
        sequence=0,
        body=delivery_body(type=TEST_EVENT_TYPE, created_at=now, data=data, personal=False),
        next_attempt_at=now,
        enqueued_at=now,
    )
    transaction.on_commit(lambda: _publish("delivery_send", delivery.pk))
    return delivery


@transaction.atomic
def deliveries_redeliver(
    *, endpoint: Endpoint, delivery: Delivery | None = None, since: datetime | None = None
) -> int:
    """Send again, under the same webhook-id and body, one delivery or every delivery made since
    a time, whatever its status; each gets a full retry schedule. Deliveries in flight are left
    alone. The number queued."""
    now = timezone.now()
    idle = Q(leased_until__isnull=True) | Q(leased_until__lte=now)
    rows = Delivery.objects.filter(idle, endpoint=endpoint)
    if delivery is not None:
        rows = rows.filter(pk=delivery.pk)
    elif since is not None:
        rows = rows.filter(created_at__gte=since)
    else:
        raise Unprocessable("Give a delivery or a time to redeliver since.")
    count = rows.update(
        status=Delivery.Status.PENDING,
        round_start=F("attempt_count"),
        next_attempt_at=now,
        succeeded_at=None,
        leased_until=None,
        enqueued_at=None,
    )
    if count and endpoint.status == Endpoint.Status.ACTIVE:
        deliveries_dispatch(endpoint_id=endpoint.pk, limit=_free_slots(endpoint.pk, now), now=now)
    return count


# --- Sweeper and retention ----------------------------------------------------------------------


def deliveries_sweep() -> dict[str, int]:
    """Repair what a lost message or a dead worker left: fan out every active endpoint whose
    cursor is behind its feed, and hand over ready deliveries nobody handed over lately (due
    retries, expired leases). Cheap when there is nothing to do; safe to run at any time."""
    behind = selectors.endpoint_ids_behind()
    for endpoint_id in behind:
        _publish("endpoint_fanout", endpoint_id)
    now = timezone.now()
    handed = 0
    for endpoint_id in selectors.endpoint_ids_with_ready(now=now):
        free = _free_slots(endpoint_id, now)
        handed += len(deliveries_dispatch(endpoint_id=endpoint_id, limit=free, now=now))
    return {"fanouts": len(behind), "deliveries": handed}


def deliveries_prune(*, now: datetime | None = None, batch_size: int = 5000) -> int:
    """Delete finished deliveries (and their attempts) older than EVENT_RETENTION_DAYS: their
    bodies name contacts, and the log is for debugging, not evidence. Pending ones stay."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.EVENT_RETENTION_DAYS)
    total = 0
    while True:
        ids = list(
            Delivery.objects.filter(created_at__lt=cutoff)
            .exclude(status=Delivery.Status.PENDING)
            .order_by("id")
            .values_list("id", flat=True)[:batch_size]
        )
        if not ids:
            return total
        Attempt.objects.filter(delivery_id__in=ids).delete()
        deleted, _ = Delivery.objects.filter(pk__in=ids).delete()
        total += deleted
        if len(ids) < batch_size:
            return total


# --- Erasure ------------------------------------------------------------------------------------


def deliveries_forget_contact(*, brand_id: int, contact_ref: int, pseudonym: str) -> int:
    """When a contact is erased (consent.erasure calls this in its transaction): the brand's
    deliveries about the contact, pending or finished, name `pseudonym` instead of the old
    external id in data.contact and lose email and phone; the receivers' answers to them
    (Attempt.response_excerpt, which may echo the body) are cleared. A pending delivery is sent
    with the rewritten body, under its webhook-id (signatures are made at send time). The
    number of deliveries rewritten.

    The outbox Events themselves are renamed by the erasure, so deliveries made later carry
    the pseudonym already. First the brand's endpoints count the erasure (Endpoint.erasures):
    a fan-out that read the events before the erasure then cannot save its deliveries after it
    (its compare-and-set waits for this transaction and fails), and one that saved them before
    is done by the time this rewrites them."""
    Endpoint.objects.filter(brand_id=brand_id).update(erasures=F("erasures") + 1)
    rows = list(
        Delivery.objects.filter(endpoint__brand_id=brand_id, contact_ref=contact_ref).only("id", "body")
    )
    changed = []
    for delivery in rows:
        try:
            payload = json.loads(delivery.body)
        except ValueError:
            continue
        data = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(data, dict):
            continue
        if "contact" in data:
            data["contact"] = pseudonym
        payload["data"] = _without_personal(data)
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
        if body != delivery.body:
            delivery.body = body
            changed.append(delivery)
    Delivery.objects.bulk_update(changed, ["body"], batch_size=500)
    Attempt.objects.filter(delivery__endpoint__brand_id=brand_id, delivery__contact_ref=contact_ref).exclude(
        response_excerpt=""
    ).update(response_excerpt="")
    return len(changed)
