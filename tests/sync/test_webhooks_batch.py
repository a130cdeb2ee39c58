"""Batches: one delivery message claims its delivery and up to WEBHOOK_BATCH_SIZE - 1 more of the
endpoint's ready deliveries under one lease, sends them one after another and records them
together. What is sent, in which order, what is recorded, what goes back when a batch stops,
what the in-flight cap counts, and what a dead worker's batch leaves for the next one."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from sync import tasks
from sync.delivery import batches, claims, endpoints, sending, sweeper
from sync.delivery import fanout as fanout_module
from sync.models import Attempt, Delivery, Endpoint
from sync.outbox.feed import FeedPosition
from tests.actors import TEST_ACTOR
from tests.sync.webhook_support import (
    deliveries,
    fanout,
    make_endpoint,
    send,
    sent_ids,
    write_event,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("published")]


@pytest.fixture(autouse=True)
def batches_never_run_out_of_time(settings):
    """A batch stops starting attempts after WEBHOOK_BATCH_SECONDS (1 s by default), which a slow
    or busy machine can reach within a handful of local POSTs; here each batch has a minute, so
    what a test sees does not depend on the machine's speed. The test of the limit itself sets
    it to 0."""
    settings.WEBHOOK_BATCH_SECONDS = 60


def contacts_received(receiver) -> list[tuple[str, int]]:
    return [(r.payload["data"]["contact"], r.payload["data"]["sequence"]) for r in receiver.received]


def attempts_of(delivery: Delivery) -> list[tuple[int, int | None, str, str]]:
    rows = Attempt.objects.filter(delivery=delivery).order_by("number")
    return [(a.number, a.status_code, a.outcome, a.response_excerpt) for a in rows]


def test_one_message_sends_the_endpoints_ready_deliveries_its_own_first_then_the_oldest(brand, receiver):
    endpoint = make_endpoint(brand, receiver.url())
    receiver.secrets.append(endpoint.secret)
    for contact in (1, 2, 3, 4, 5):
        write_event(brand, contact, 1)
    fanout(endpoint)
    rows = deliveries(endpoint)
    before = timezone.now()

    attempt = send(rows[2])

    after = timezone.now()
    assert (attempt.delivery_id, attempt.number, attempt.outcome) == (rows[2].pk, 1, "succeeded")
    assert contacts_received(receiver) == [
        ("cust-3", 1),
        ("cust-1", 1),
        ("cust-2", 1),
        ("cust-4", 1),
        ("cust-5", 1),
    ]
    order = [rows[2], rows[0], rows[1], rows[3], rows[4]]
    assert [r.headers["Webhook-Id"] for r in receiver.received] == [d.msg_id for d in order]
    assert [r.body for r in receiver.received] == [d.body for d in order]  # the bytes stored
    for delivery in deliveries(endpoint):
        assert (delivery.status, delivery.attempt_count, delivery.leased_until) == ("succeeded", 1, None)
        assert attempts_of(delivery) == [(1, 200, "succeeded", "ok")]
        [recorded] = Attempt.objects.filter(delivery=delivery)
        # When its answer came, not when the batch was recorded.
        assert recorded.started_at <= delivery.succeeded_at <= after
        assert delivery.succeeded_at >= before

    # The other messages find their delivery sent: no request, no attempt.
    for delivery in rows:
        assert send(delivery) is None
    assert len(receiver.received) == 5
    assert Attempt.objects.filter(delivery__endpoint=endpoint).count() == 5


def test_a_message_whose_delivery_a_batch_sent_costs_one_query(brand, receiver, django_assert_num_queries):
    endpoint = make_endpoint(brand, receiver.url())
    receiver.secrets.append(endpoint.secret)
    write_event(brand, 1, 1)
    write_event(brand, 2, 1)
    fanout(endpoint)
    first, second = deliveries(endpoint)
    send(first)

    with django_assert_num_queries(1):
        assert tasks.delivery_send(second.pk) is None
    assert len(receiver.received) == 2


@override_settings(WEBHOOK_BATCH_SIZE=3)
def test_a_batch_is_bounded_and_hands_the_next_ready_delivery_over(
    brand, receiver, published, django_capture_on_commit_callbacks
):
    endpoint = make_endpoint(brand, receiver.url())
    receiver.secrets.append(endpoint.secret)
    for contact in (1, 2, 3, 4, 5):
        write_event(brand, contact, 1)
    fanout(endpoint)
    rows = deliveries(endpoint)
    published.clear()

    with django_capture_on_commit_callbacks(execute=True):
        send(rows[0])

    assert contacts_received(receiver) == [("cust-1", 1), ("cust-2", 1), ("cust-3", 1)]
    assert [(d.status, d.leased_until) for d in deliveries(endpoint)] == [("succeeded", None)] * 3 + [
        ("pending", None)
    ] * 2
    # The oldest left is handed over, although fan-out handed it over a moment ago: its message
    # may have found the endpoint busy and been dropped.
    assert sent_ids(published) == [rows[3].pk]
    with django_capture_on_commit_callbacks(execute=True):
        send(rows[3])
    assert contacts_received(receiver)[3:] == [("cust-4", 1), ("cust-5", 1)]
    assert all(d.status == "succeeded" for d in deliveries(endpoint))


def test_a_contacts_later_event_is_not_in_the_batch_of_its_earlier_one(
    brand, receiver, published, django_capture_on_commit_callbacks
):
    endpoint = make_endpoint(brand, receiver.url())
    receiver.secrets.append(endpoint.secret)
    write_event(brand, 1, 1)
    write_event(brand, 1, 2)
    write_event(brand, 2, 1)
    fanout(endpoint)
    first, later, other = deliveries(endpoint)
    published.clear()

    with django_capture_on_commit_callbacks(execute=True):
        send(first)

    assert contacts_received(receiver) == [("cust-1", 1), ("cust-2", 1)]
    other.refresh_from_db()
    assert other.status == "succeeded"
    later.refresh_from_db()
    assert (later.status, later.leased_until, later.attempt_count) == ("pending", None, 0)
    assert sent_ids(published) == [later.pk]  # ready now that the earlier one is recorded
    assert send(later).outcome == "succeeded"
    assert contacts_received(receiver) == [("cust-1", 1), ("cust-2", 1), ("cust-1", 2)]


def test_a_failed_attempt_ends_the_batch_and_what_it_did_not_send_goes_back(
    brand, receiver, published, django_capture_on_commit_callbacks
):
    endpoint = make_endpoint(brand, receiver.url())
    receiver.secrets.append(endpoint.secret)
    receiver.answers = [(200, {}, "ok"), (503, {}, "busy"), (200, {}, "ok")]
    for contact in (1, 2, 3, 4):
        write_event(brand, contact, 1)
    fanout(endpoint)
    rows = deliveries(endpoint)
    published.clear()
    before = timezone.now()

    with django_capture_on_commit_callbacks(execute=True):
        send(rows[0])
    after = timezone.now()

    assert contacts_received(receiver) == [("cust-1", 1), ("cust-2", 1)]  # no more after the failure
    done, failed, back, back_too = deliveries(endpoint)
    assert attempts_of(done) == [(1, 200, "succeeded", "ok")]
    assert attempts_of(failed) == [(1, 503, "failed", "busy")]
    assert attempts_of(back) == attempts_of(back_too) == []
    assert (done.status, done.attempt_count, done.leased_until) == ("succeeded", 1, None)
    assert (failed.status, failed.attempt_count, failed.leased_until) == ("pending", 1, None)
    # Due 5 s ±15 % after the failure was recorded, which was between before and after.
    assert (
        before + timedelta(seconds=5 * 0.85) <= failed.next_attempt_at <= after + timedelta(seconds=5 * 1.15)
    )
    assert (back.status, back.attempt_count, back.leased_until) == ("pending", 0, None)
    assert (back_too.status, back_too.attempt_count, back_too.leased_until, back_too.enqueued_at) == (
        "pending",
        0,
        None,
        None,  # given back: the next dispatch or sweep may hand it over at once
    )
    # The retry waits for its countdown; the oldest delivery given back is handed over now.
    retries = [(args, countdown) for name, args, countdown in published if countdown is not None]
    assert [args for args, _ in retries] == [(failed.pk,)]
    assert [args[0] for name, args, countdown in published if countdown is None] == [back.pk]
    assert back.enqueued_at is not None
    endpoint.refresh_from_db()
    assert endpoint.failing_since is not None


def test_a_batch_starts_no_attempt_after_its_time(
    brand, receiver, published, django_capture_on_commit_callbacks, settings
):
    settings.WEBHOOK_BATCH_SECONDS = 0  # the time is up as soon as the first attempt is made
    endpoint = make_endpoint(brand, receiver.url())
    receiver.secrets.append(endpoint.secret)
    for contact in (1, 2, 3):
        write_event(brand, contact, 1)
    fanout(endpoint)
    rows = deliveries(endpoint)
    published.clear()

    with django_capture_on_commit_callbacks(execute=True):
        send(rows[0])

    assert contacts_received(receiver) == [("cust-1", 1)]  # the first attempt always goes
    assert [(d.status, d.leased_until) for d in deliveries(endpoint)] == [
        ("succeeded", None),
        ("pending", None),
        ("pending", None),
    ]
    assert sent_ids(published) == [rows[1].pk]


@override_settings(WEBHOOK_MAX_IN_FLIGHT=2)
def test_the_in_flight_cap_counts_claims_not_the_deliveries_they_hold(brand, receiver):
    endpoint = make_endpoint(brand, receiver.url())
    receiver.secrets.append(endpoint.secret)
    for contact in (1, 2, 3, 4, 5, 6):
        write_event(brand, contact, 1)
    fanout(endpoint)
    rows = deliveries(endpoint)
    # One live claim of two deliveries (one worker, one lease): a second claim may start.
    lease = timezone.now() + timedelta(seconds=60)
    Delivery.objects.filter(pk__in=[rows[0].pk, rows[1].pk]).update(leased_until=lease)

    assert send(rows[2]).outcome == "succeeded"

    assert contacts_received(receiver) == [("cust-3", 1), ("cust-4", 1), ("cust-5", 1), ("cust-6", 1)]
    statuses = [(d.status, d.leased_until) for d in deliveries(endpoint)]
    assert statuses == [("pending", lease), ("pending", lease)] + [("succeeded", None)] * 4
    # A second live claim fills the cap: nothing more starts.
    write_event(brand, 7, 1)
    fanout(endpoint)
    newest = deliveries(endpoint)[-1]
    Delivery.objects.filter(pk=rows[2].pk).update(
        status="pending", leased_until=lease + timedelta(seconds=1), next_attempt_at=timezone.now()
    )
    assert send(newest) is None
    assert len(receiver.received) == 4


def test_a_dead_workers_batch_is_sent_again_once_its_lease_runs_out(
    brand, receiver, published, django_capture_on_commit_callbacks
):
    endpoint = make_endpoint(brand, receiver.url())
    receiver.secrets.append(endpoint.secret)
    for contact in (1, 2, 3):
        write_event(brand, contact, 1)
    fanout(endpoint)
    rows = deliveries(endpoint)
    start = timezone.now()

    with time_machine.travel(start, tick=True) as clock:
        # A worker claims the batch and dies before recording anything.
        claim = claims.batch_claim(delivery_id=rows[0].pk, now=timezone.now())
        assert [d.pk for d in claim.batch] == [d.pk for d in rows]
        assert {d.leased_until for d in deliveries(endpoint)} == {claim.lease}
        for delivery in rows:
            assert send(delivery) is None  # leased: nobody else sends them meanwhile
        assert receiver.received == []

        clock.shift(claim.lease - timezone.now() + timedelta(seconds=1))
        Delivery.objects.update(enqueued_at=timezone.now() - timedelta(minutes=5))
        published.clear()
        with django_capture_on_commit_callbacks(execute=True):
            sweeper.deliveries_sweep()
        handed = sent_ids(published)
        assert sorted(handed) == [d.pk for d in rows]
        assert send(Delivery.objects.get(pk=handed[0])).outcome == "succeeded"

    assert sorted(contacts_received(receiver)) == [("cust-1", 1), ("cust-2", 1), ("cust-3", 1)]
    for delivery in deliveries(endpoint):
        assert (delivery.status, delivery.leased_until) == ("succeeded", None)
        assert attempts_of(delivery) == [(1, 200, "succeeded", "ok")]


def test_no_transaction_is_open_while_a_batch_posts(brand, receiver, monkeypatch):
    import psycopg

    endpoint = make_endpoint(brand, receiver.url())
    receiver.secrets.append(endpoint.secret)
    for contact in (1, 2, 3):
        write_event(brand, contact, 1)
    fanout(endpoint)
    seen = []
    post = sending.post

    def checked(**kwargs):
        seen.append((connection.in_atomic_block, connection.connection.info.transaction_status))
        return post(**kwargs)

    monkeypatch.setattr(sending, "post", checked)

    send(deliveries(endpoint)[0])

    assert seen == [(False, psycopg.pq.TransactionStatus.IDLE)] * 3


def test_a_test_message_and_events_share_a_batch(brand, receiver):
    endpoint = make_endpoint(brand, receiver.url())
    receiver.secrets.append(endpoint.secret)
    write_event(brand, 1, 1)
    fanout(endpoint)
    test = endpoints.endpoint_test_send(endpoint=endpoint, actor=TEST_ACTOR)

    send(test)

    types = [json.loads(r.body)["type"] for r in receiver.received]
    assert types == ["webhook.test", "consent.withdrawn"]
    assert all(d.status == "succeeded" for d in deliveries(endpoint))


@override_settings(WEBHOOK_BATCH_SIZE=1)
def test_a_test_message_left_over_is_handed_over_after_a_batch(
    brand, receiver, published, django_capture_on_commit_callbacks
):
    endpoint = make_endpoint(brand, receiver.url())
    receiver.secrets.append(endpoint.secret)
    write_event(brand, 1, 1)
    fanout(endpoint)
    [event] = deliveries(endpoint)
    test = endpoints.endpoint_test_send(endpoint=endpoint, actor=TEST_ACTOR)
    published.clear()

    with django_capture_on_commit_callbacks(execute=True):
        send(event)

    assert sent_ids(published) == [test.pk]  # no contact, still handed over
    send(test)
    assert [json.loads(r.body)["type"] for r in receiver.received] == ["consent.withdrawn", "webhook.test"]


# --- The fan-out task sends what it made -------------------------------------------------------


def test_a_fanout_sends_what_it_made_in_the_same_task(brand, receiver, published):
    endpoint = make_endpoint(brand, receiver.url())
    receiver.secrets.append(endpoint.secret)
    for contact in (1, 2, 3):
        write_event(brand, contact, 1)
    published.clear()

    assert fanout(endpoint, send=True) == 3

    assert contacts_received(receiver) == [("cust-1", 1), ("cust-2", 1), ("cust-3", 1)]
    for delivery in deliveries(endpoint):
        assert (delivery.status, delivery.leased_until) == ("succeeded", None)
        assert attempts_of(delivery) == [(1, 200, "succeeded", "ok")]
    assert sent_ids(published) == []  # nothing left for a message to do
    assert fanout(endpoint, send=True) == 0
    assert len(receiver.received) == 3


@override_settings(WEBHOOK_BATCH_SIZE=2, WEBHOOK_MAX_IN_FLIGHT=3)
def test_a_fanout_with_more_than_a_batch_hands_the_rest_to_other_workers(
    brand, receiver, published, django_capture_on_commit_callbacks
):
    endpoint = make_endpoint(brand, receiver.url())
    receiver.secrets.append(endpoint.secret)
    for contact in (1, 2, 3, 4, 5):
        write_event(brand, contact, 1)
    published.clear()

    with django_capture_on_commit_callbacks(execute=True):
        assert fanout(endpoint, send=True) == 5

    rows = deliveries(endpoint)
    assert contacts_received(receiver) == [("cust-1", 1), ("cust-2", 1)]  # its own batch
    # The two claims still free, one batch each, went to the broker before it sent its own.
    assert set(sent_ids(published)) == {rows[2].pk, rows[3].pk}
    # A worker runs the messages in order, and those they hand over.
    handled = 0
    while handled < len(sent_ids(published)):
        with django_capture_on_commit_callbacks(execute=True):
            send(Delivery.objects.get(pk=sent_ids(published)[handled]))
        handled += 1
    assert contacts_received(receiver) == [(f"cust-{n}", 1) for n in (1, 2, 3, 4, 5)]
    assert all(attempts_of(d) == [(1, 200, "succeeded", "ok")] for d in deliveries(endpoint))


@override_settings(WEBHOOK_MAX_IN_FLIGHT=1)
def test_a_fanout_of_a_busy_endpoint_leaves_its_deliveries_to_the_claim_in_flight(
    brand, receiver, published, django_capture_on_commit_callbacks
):
    endpoint = make_endpoint(brand, receiver.url())
    receiver.secrets.append(endpoint.secret)
    write_event(brand, 1, 1)
    fanout(endpoint)
    [first] = deliveries(endpoint)
    claim = claims.batch_claim(delivery_id=first.pk, now=timezone.now())  # a worker, mid-batch
    write_event(brand, 2, 1)
    published.clear()

    assert fanout(endpoint, send=True) == 1

    assert receiver.received == []  # the one claim allowed is in flight
    assert sent_ids(published) == []
    [_, second] = deliveries(endpoint)
    assert (second.status, second.leased_until) == ("pending", None)
    with django_capture_on_commit_callbacks(execute=True):
        batches.batch_send(claim)  # the claim in flight ends and hands the new one over
    assert sent_ids(published) == [second.pk]
    send(second)
    assert contacts_received(receiver) == [("cust-1", 1), ("cust-2", 1)]


def test_a_fanout_that_finds_nothing_new_costs_one_query(brand, receiver, django_assert_num_queries):
    endpoint = make_endpoint(brand, receiver.url())
    receiver.secrets.append(endpoint.secret)
    write_event(brand, 1, 1)
    assert fanout(endpoint, send=True) == 1

    with django_assert_num_queries(1):
        assert tasks.endpoint_fanout(endpoint.pk) == 0
    endpoints.endpoint_update(actor=TEST_ACTOR, endpoint=endpoint, status="disabled")
    write_event(brand, 1, 2)
    with django_assert_num_queries(1):
        assert tasks.endpoint_fanout(endpoint.pk) == 0  # disabled: nothing made, nothing sent
    assert len(deliveries(endpoint)) == 1


def test_a_fanout_whose_cursor_moved_or_that_an_erasure_overtook_inserts_nothing(brand, receiver):
    endpoint = make_endpoint(brand, receiver.url())
    write_event(brand, 1, 1)
    fanout(endpoint)
    [made] = deliveries(endpoint)
    endpoint.refresh_from_db()
    stale = FeedPosition(endpoint.cursor_txid, endpoint.cursor_id - 1)
    row = Delivery(
        endpoint_id=endpoint.pk,
        event_id=None,
        msg_id="msg_late",
        type="consent.withdrawn",
        contact_ref=9,
        sequence=1,
        body="{}",
        next_attempt_at=timezone.now(),
        created_at=timezone.now(),
    )

    moved = fanout_module._fanout_insert(
        endpoint_id=endpoint.pk, after=stale, to=FeedPosition(0, 0), erasures=0, rows=[row]
    )
    # The right cursor, but a contact was erased since the events were read.
    current = FeedPosition(endpoint.cursor_txid, endpoint.cursor_id)
    after_an_erasure = fanout_module._fanout_insert(
        endpoint_id=endpoint.pk, after=current, to=FeedPosition(0, 0), erasures=1, rows=[row]
    )

    assert moved is False
    assert after_an_erasure is False
    assert deliveries(endpoint) == [made]
    cursor = Endpoint.objects.values_list("cursor_txid", "cursor_id").get(pk=endpoint.pk)
    assert cursor == (endpoint.cursor_txid, endpoint.cursor_id)


def test_an_error_mid_batch_still_records_what_went_out_and_gives_back_the_rest(brand, receiver, monkeypatch):
    endpoint = make_endpoint(brand, receiver.url())
    receiver.secrets.append(endpoint.secret)
    for contact in (1, 2, 3):
        write_event(brand, contact, 1)
    fanout(endpoint)
    rows = deliveries(endpoint)
    post = sending.post

    def failing(**kwargs):
        if kwargs["delivery"].pk == rows[1].pk:
            raise RuntimeError("a bug, not the receiver")
        return post(**kwargs)

    monkeypatch.setattr(sending, "post", failing)

    with pytest.raises(RuntimeError):
        send(rows[0])

    first, second, third = deliveries(endpoint)
    assert attempts_of(first) == [(1, 200, "succeeded", "ok")]
    assert (first.status, first.leased_until) == ("succeeded", None)
    assert attempts_of(second) == attempts_of(third) == []
    assert [(d.status, d.leased_until) for d in (second, third)] == [("pending", None)] * 2
    assert second.enqueued_at is not None  # handed over again, as after any batch
    assert len(receiver.received) == 1
