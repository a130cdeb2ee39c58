"""Fan-out: an endpoint reads its brand's changes feed after its cursor and makes one Delivery
per new event, then sends a batch of them in the same task."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from brands.models import Brand
from config.db import insert_from_arrays, shape
from sync.delivery.batches import batch_send
from sync.delivery.bodies import delivery_of
from sync.delivery.broker import publish
from sync.delivery.claims import batch_claim, batch_size
from sync.delivery.dispatch import deliveries_dispatch, free_slots
from sync.delivery.statements import select_generic
from sync.models import Delivery, Endpoint, EventType
from sync.outbox import feed

# Sent to every endpoint, whatever its event_types.
ALWAYS_SENT = (EventType.CONTACT_ERASED.value,)
FANOUT_PAGE = 500
FANOUT_PAGES = 10


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
    after = feed.FeedPosition(endpoint.cursor_txid, endpoint.cursor_id)
    made = 0
    for _ in range(FANOUT_PAGES):
        page = feed.events_feed(brand=brand, after=after, limit=FANOUT_PAGE, types=fanout_types(endpoint))
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
            after = feed.FeedPosition(endpoint.cursor_txid, endpoint.cursor_id)
            continue
        made += len(rows)
        after = page.next_position
        if not page.has_more:
            break
    else:
        publish("endpoint_fanout", endpoint_id)  # a long backlog: go on in a fresh task
    if made:
        _endpoint_batch_send(endpoint_id)
    return made


def fanout_types(endpoint: Endpoint) -> list[str]:
    """The event types the endpoint receives: every type when it names none; otherwise those it
    names and always contact.erased, since a brand's downstream must learn of every erasure to
    erase its own copy, whatever it chose to hear about."""
    if not endpoint.event_types:
        return []
    return sorted({*endpoint.event_types, *ALWAYS_SENT})


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
    [rows] = select_generic([(sql, [endpoint_id])])
    return endpoint_shape.build(rows[0]) if rows else None


def _fanout_insert(
    *,
    endpoint_id: int,
    after: feed.FeedPosition,
    to: feed.FeedPosition,
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
    [[(moved, _made)]] = select_generic([(sql, params)])
    return bool(moved)


def _endpoint_batch_send(endpoint_id: int) -> None:
    """Send a batch of the endpoint's oldest ready deliveries now, in this task, if the endpoint
    has a claim to spare; when the batch is full there may be more, so up to the claims still
    free go to the broker as well (other workers take a batch each)."""
    now = timezone.now()
    claim = batch_claim(endpoint_id=endpoint_id, now=now)
    if claim is None:
        return  # busy (each claim in flight hands the next ready one over) or nothing ready
    if len(claim.batch) == batch_size():
        deliveries_dispatch(endpoint_id=endpoint_id, limit=free_slots(endpoint_id, now), now=now)
    batch_send(claim)
