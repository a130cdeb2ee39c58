"""Webhook fan-out and delivery against a real local receiver: body, headers and signatures,
retries, 410, redirects, timeouts, disabling after days of failures, ordering, the in-flight cap,
secret rotation and personal data."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from email.utils import format_datetime

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import override_settings
from django.utils import timezone
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from werkzeug import Response

from brands.models import Membership
from sync.delivery import endpoints, retries, sweeper
from sync.models import Attempt, Delivery, Endpoint, Event, EventType
from sync.outbox.serializers import timestamp
from tests.actors import TEST_ACTOR
from tests.sync.webhook_support import (
    deliveries,
    fanout,
    make_endpoint,
    send,
    sent_ids,
    settle,
    write_event,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("published")]


def test_an_event_arrives_signed_with_the_exact_body_and_headers(brand, receiver):
    endpoint = make_endpoint(brand, receiver.url())
    receiver.secrets.append(endpoint.secret)
    event = write_event(brand, 7, 1, email="ada@example.com")

    assert fanout(endpoint) == 1
    [delivery] = deliveries(endpoint)
    attempt = send(delivery)

    assert attempt.outcome == "succeeded"
    [got] = receiver.received
    expected = {
        "type": "consent.withdrawn",
        "timestamp": timestamp(Event.objects.get(pk=event.pk).created_at),
        "data": {"contact": "cust-7", "sequence": 1, "purpose": "email-marketing"},
    }
    assert got.payload == expected
    assert json.loads(got.body) == expected
    assert got.body == delivery.body  # the bytes stored are the bytes sent
    assert got.headers["Webhook-Id"] == f"msg_{event.public_id.hex}"
    assert abs(int(got.headers["Webhook-Timestamp"]) - timezone.now().timestamp()) < 5
    assert got.headers["Webhook-Signature"].startswith("v1,")
    assert " " not in got.headers["Webhook-Signature"]  # one secret, one signature
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["User-Agent"].startswith("Candor-Webhooks/")
    assert len(got.body.encode()) < 20 * 1024
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempt_count, delivery.leased_until) == ("succeeded", 1, None)
    assert delivery.succeeded_at is not None


def test_a_new_endpoint_gets_no_history_and_fanout_twice_makes_nothing_twice(brand, receiver):
    write_event(brand, 1, 1)
    settle()  # in the feed before the endpoint starts (another session's open transaction can hold it back)
    endpoint = make_endpoint(brand, receiver.url())

    assert fanout(endpoint) == 0
    write_event(brand, 1, 2)
    assert fanout(endpoint) == 1
    assert fanout(endpoint) == 0
    assert [d.sequence for d in deliveries(endpoint)] == [2]


def test_the_event_filter_and_other_brands(brand, other_brand, receiver):
    endpoint = make_endpoint(brand, receiver.url(), event_types=["contact.unsubscribed"])
    write_event(brand, 1, 1, EventType.CONSENT_GRANTED)
    write_event(brand, 1, 2, EventType.CONTACT_UNSUBSCRIBED)
    write_event(other_brand, 2, 1, EventType.CONTACT_UNSUBSCRIBED)

    fanout(endpoint)

    assert [(d.type, d.contact_ref) for d in deliveries(endpoint)] == [("contact.unsubscribed", 1)]


def test_500_twice_then_200_is_three_attempts_under_one_webhook_id(brand, receiver):
    endpoint = make_endpoint(brand, receiver.url())
    receiver.secrets.append(endpoint.secret)
    receiver.answers = [(500, {}, "boom"), (500, {}, "boom again"), (200, {}, "thanks")]
    write_event(brand, 1, 1)
    fanout(endpoint)
    [delivery] = deliveries(endpoint)
    start = timezone.now()

    with time_machine.travel(start, tick=True) as clock:
        assert send(delivery).outcome == "failed"
        assert send(delivery) is None  # not due yet: nothing is sent
        clock.shift(timedelta(seconds=6))
        assert send(delivery).outcome == "failed"
        clock.shift(timedelta(minutes=6))
        assert send(delivery).outcome == "succeeded"

        assert len(receiver.received) == 3
        assert len({r.headers["Webhook-Id"] for r in receiver.received}) == 1
        assert len({r.body for r in receiver.received}) == 1
    attempts = list(Attempt.objects.filter(delivery=delivery).order_by("number"))
    assert [(a.number, a.status_code, a.outcome, a.response_excerpt) for a in attempts] == [
        (1, 500, "failed", "boom"),
        (2, 500, "failed", "boom again"),
        (3, 200, "succeeded", "thanks"),
    ]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempt_count) == ("succeeded", 3)
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None  # cleared by the success


def test_a_failed_attempt_schedules_a_retry_after_about_five_seconds(brand, receiver, published):
    endpoint = make_endpoint(brand, receiver.url())
    receiver.secrets.append(endpoint.secret)
    receiver.answers = [(503, {}, "")]
    write_event(brand, 1, 1)
    fanout(endpoint)
    [delivery] = deliveries(endpoint)

    before = timezone.now()
    send(delivery)
    after = timezone.now()

    delivery.refresh_from_db()
    # Due 5 s ±15 % after the attempt was recorded, which was between before and after.
    assert before + timedelta(seconds=5 * 0.85) <= delivery.next_attempt_at
    assert delivery.next_attempt_at <= after + timedelta(seconds=5 * 1.15)
    # A short wait goes to the broker with a countdown.
    [(name, args, countdown)] = [call for call in published if call[2] is not None]
    assert (name, args) == ("delivery_send", (delivery.pk,))
    assert 5 * 0.85 <= countdown <= 5 * 1.15
    endpoint.refresh_from_db()
    assert endpoint.failing_since is not None


def test_the_retry_schedule_with_jitter_and_its_end():
    expected = [5, 300, 1800, 7200, 18000, 36000, 36000]
    for attempt, base in enumerate(expected, start=1):
        delays = {retries.retry_delay(attempt=attempt) for _ in range(50)}
        assert all(base * 0.85 <= d <= base * 1.15 for d in delays), (attempt, delays)
        assert len(delays) > 1  # jittered
    assert retries.retry_delay(attempt=8) is None  # eight attempts in all


@pytest.mark.parametrize(
    ("header", "at_least"),
    [("120", 120), ("86400000", 24 * 3600), ("HTTP-DATE", 595), ("soon", None)],
)
def test_retry_after_is_honoured_when_longer(brand, receiver, header, at_least):
    endpoint = make_endpoint(brand, receiver.url())
    receiver.secrets.append(endpoint.secret)
    if header == "HTTP-DATE":
        header = format_datetime(timezone.now() + timedelta(minutes=10), usegmt=True)
    receiver.answers = [(429, {"Retry-After": header}, "slow down")]
    write_event(brand, 1, 1)
    fanout(endpoint)
    [delivery] = deliveries(endpoint)

    before = timezone.now()
    send(delivery)

    delivery.refresh_from_db()
    delay = (delivery.next_attempt_at - before).total_seconds()
    if at_least is None:  # unreadable: the schedule applies
        assert delay < 10
    else:
        assert at_least <= delay <= at_least + 10  # capped at a day


def test_the_last_attempt_fails_the_delivery(brand, receiver):
    endpoint = make_endpoint(brand, receiver.url())
    receiver.secrets.append(endpoint.secret)
    receiver.answers = [(500, {}, "")]
    write_event(brand, 1, 1)
    fanout(endpoint)
    [delivery] = deliveries(endpoint)
    Delivery.objects.filter(pk=delivery.pk).update(attempt_count=7)  # seven already failed

    send(delivery)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempt_count) == ("failed", 8)


def test_410_disables_the_endpoint_and_tells_the_brand(brand, receiver):
    owner = get_user_model().objects.create_user("owner", email="owner@acme.test")
    Membership.objects.create(user=owner, brand=brand, role=Membership.Role.OWNER)
    endpoint = make_endpoint(brand, receiver.url())
    receiver.secrets.append(endpoint.secret)
    receiver.answers = [(410, {}, "gone")]
    write_event(brand, 1, 1)
    fanout(endpoint)
    [delivery] = deliveries(endpoint)

    assert send(delivery).outcome == "gone"

    endpoint.refresh_from_db()
    assert endpoint.status == "disabled"
    assert "410" in endpoint.disabled_reason
    assert Event.objects.filter(type="endpoint.disabled", contact_ref=-brand.pk).count() == 1


def test_a_redirect_is_a_failure_and_is_not_followed(brand, receiver):
    endpoint = make_endpoint(brand, receiver.url())
    receiver.secrets.append(endpoint.secret)
    receiver.answers = [(302, {"Location": "http://169.254.169.254/latest/meta-data/"}, "")]
    write_event(brand, 1, 1)
    fanout(endpoint)
    [delivery] = deliveries(endpoint)

    attempt = send(delivery)

    assert (attempt.outcome, attempt.status_code) == ("failed", 302)
    assert "Redirect" in attempt.error
    assert len(receiver.received) == 1


@override_settings(WEBHOOK_TIMEOUT_SECONDS=1)
def test_a_timeout_is_a_failure(brand, receiver):
    # The receiver answers only once the attempt is over, so the answer can never beat the
    # timeout, however slow the machine (a fixed sleep in the receiver raced it).
    attempt_over = threading.Event()

    def late(request):
        attempt_over.wait(60)
        return Response("late", status=200)

    endpoint = make_endpoint(brand, receiver.url())
    receiver.secrets.append(endpoint.secret)
    receiver.answers = [late]
    write_event(brand, 1, 1)
    fanout(endpoint)
    [delivery] = deliveries(endpoint)

    try:
        attempt = send(delivery)
    finally:
        attempt_over.set()

    assert attempt.outcome == "failed"  # had it waited for the answer, it would have succeeded
    assert attempt.status_code is None
    assert "No answer within 1 s" in attempt.error
    assert attempt.duration_ms >= 900  # it waited for the timeout


def test_after_five_days_of_failures_the_endpoint_is_disabled_owners_emailed_and_an_event_written(
    brand, receiver, django_capture_on_commit_callbacks
):
    owner = get_user_model().objects.create_user("owner", email="owner@acme.test")
    viewer = get_user_model().objects.create_user("viewer", email="viewer@acme.test")
    Membership.objects.create(user=owner, brand=brand, role=Membership.Role.OWNER)
    Membership.objects.create(user=viewer, brand=brand, role=Membership.Role.VIEWER)
    endpoint = make_endpoint(brand, receiver.url() + "?token=s3cret")
    listener = make_endpoint(brand, receiver.url(), event_types=["endpoint.disabled"])
    receiver.secrets += [endpoint.secret, listener.secret]
    receiver.answers = [(500, {}, "")]
    write_event(brand, 1, 1)
    fanout(endpoint)
    [delivery] = deliveries(endpoint)

    # Four days and some of failing: not yet.
    Endpoint.objects.filter(pk=endpoint.pk).update(failing_since=timezone.now() - timedelta(days=4, hours=23))
    send(delivery)
    endpoint.refresh_from_db()
    assert endpoint.status == "active"
    assert mail.outbox == []

    five_days_ago = timezone.now() - timedelta(days=5, minutes=1)
    Endpoint.objects.filter(pk=endpoint.pk).update(failing_since=five_days_ago)
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        send(delivery)

    endpoint.refresh_from_db()
    assert endpoint.status == "disabled"
    assert endpoint.disabled_reason == "Every delivery attempt failed for 5 days."
    [message] = mail.outbox
    assert message.to == ["owner@acme.test"]
    assert endpoint.public_id in message.body
    assert "s3cret" not in message.body  # the URL's query may hold a token
    [event] = Event.objects.filter(type="endpoint.disabled")
    assert (event.brand_id, event.contact_ref, event.subject) == (brand.pk, -brand.pk, "")
    assert event.data["endpoint"] == endpoint.public_id
    assert event.data["sequence"] == event.sequence
    # Another endpoint of the brand hears of it through the feed; the disabled one does not.
    receiver.received.clear()
    receiver.answers = [(200, {}, "ok")]
    assert fanout(listener) == 1
    assert fanout(endpoint) == 0
    [notice] = deliveries(listener)
    send(notice)
    assert receiver.received[0].payload["type"] == "endpoint.disabled"
    # A disabled endpoint sends nothing.
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    assert send(delivery) is None


def test_a_later_event_for_the_same_contact_waits_for_the_earlier_one(
    brand, receiver, published, django_capture_on_commit_callbacks
):
    endpoint = make_endpoint(brand, receiver.url())
    receiver.secrets.append(endpoint.secret)
    receiver.answers = [(500, {}, ""), (200, {}, "")]
    write_event(brand, 1, 1)
    write_event(brand, 1, 2)
    write_event(brand, 2, 1)
    fanout(endpoint)
    first, second, other = deliveries(endpoint)
    assert (first.contact_ref, first.sequence, second.sequence, other.contact_ref) == (1, 1, 2, 2)

    assert send(first).outcome == "failed"  # contact 1's first event is now waiting for a retry
    assert send(second) is None  # so its second is not sent
    assert send(other).outcome == "succeeded"  # another contact's is
    assert [json.loads(r.body)["data"]["contact"] for r in receiver.received] == ["cust-1", "cust-2"]

    Delivery.objects.filter(pk=first.pk).update(next_attempt_at=timezone.now())
    published.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert send(first).outcome == "succeeded"
    # Its success hands contact 1's next event to the broker.
    assert sent_ids(published) == [second.pk]
    assert send(second).outcome == "succeeded"
    sequences = [(r.payload["data"]["contact"], r.payload["data"]["sequence"]) for r in receiver.received]
    assert sequences == [("cust-1", 1), ("cust-2", 1), ("cust-1", 1), ("cust-1", 2)]


@override_settings(WEBHOOK_MAX_IN_FLIGHT=2, WEBHOOK_BATCH_SECONDS=60)  # one batch takes the backlog
def test_a_slow_endpoint_cannot_hold_more_than_its_share(brand, receiver):
    slow = make_endpoint(brand, receiver.url())
    fast = make_endpoint(brand, receiver.url())
    receiver.secrets += [slow.secret, fast.secret]
    for contact in (1, 2, 3):
        write_event(brand, contact, 1)
    fanout(slow)
    fanout(fast)
    # Two workers are each in the middle of a claim of the slow endpoint (waiting on its answers):
    # two leases.
    busy = deliveries(slow)[:2]
    now = timezone.now()
    for n, delivery in enumerate(busy):
        Delivery.objects.filter(pk=delivery.pk).update(leased_until=now + timedelta(seconds=60 + n))

    assert send(deliveries(slow)[2]) is None  # over the cap: not sent, no worker held
    assert receiver.received == []
    assert send(deliveries(fast)[0]).outcome == "succeeded"  # the other endpoint is not held up
    assert [d.status for d in deliveries(fast)] == ["succeeded"] * 3  # one message, its whole backlog
    assert len(receiver.received) == 3

    # A worker that died mid-delivery: its lease runs out and the delivery is sent again, with the
    # endpoint's other ready one; the live claim's delivery is left alone.
    Delivery.objects.filter(pk=busy[0].pk).update(leased_until=timezone.now() - timedelta(seconds=1))
    assert send(deliveries(slow)[0]).outcome == "succeeded"
    assert [d.status for d in deliveries(slow)] == ["succeeded", "pending", "succeeded"]
    assert len(receiver.received) == 5


def test_rotation_signs_with_both_secrets_for_24_hours(brand, receiver):
    endpoint = make_endpoint(brand, receiver.url())
    old = endpoint.secret
    endpoints.endpoint_secret_rotate(actor=TEST_ACTOR, endpoint=endpoint)
    new = Endpoint.objects.get(pk=endpoint.pk).secret
    assert new != old
    assert new.startswith("whsec_")
    receiver.secrets += [new, old]
    start = timezone.now()

    with time_machine.travel(start, tick=True) as clock:
        write_event(brand, 1, 1)
        fanout(endpoint)
        send(deliveries(endpoint)[0])
        item = receiver.received[-1]
        assert len(item.headers["Webhook-Signature"].split(" ")) == 2
        receiver.verify_all(new, old)  # each secret alone verifies

        clock.shift(timedelta(hours=24, minutes=1))
        write_event(brand, 1, 2)
        fanout(endpoint)
        send(deliveries(endpoint)[1])
        item = receiver.received[-1]
        assert len(item.headers["Webhook-Signature"].split(" ")) == 1
        Webhook(new).verify(item.body, item.headers)
        with pytest.raises(WebhookVerificationError):
            Webhook(old).verify(item.body, item.headers)


@pytest.mark.parametrize("personal", [False, True])
def test_email_and_phone_are_sent_only_to_endpoints_that_asked(brand, receiver, personal):
    endpoint = make_endpoint(brand, receiver.url(), include_personal_data=personal)
    receiver.secrets.append(endpoint.secret)
    write_event(brand, 1, 1, email="ada@example.com", profile={"phone": "+4930123456", "city": "Berlin"})
    fanout(endpoint)

    send(deliveries(endpoint)[0])

    data = receiver.received[0].payload["data"]
    assert ("email" in data, "phone" in data["profile"]) == (personal, personal)
    assert data["profile"]["city"] == "Berlin"


def test_the_sweeper_catches_up_on_lost_nudges_and_dead_workers(
    brand, receiver, published, django_capture_on_commit_callbacks
):
    endpoint = make_endpoint(brand, receiver.url())
    receiver.secrets.append(endpoint.secret)
    write_event(brand, 1, 1)
    published.clear()

    sweeper.deliveries_sweep()
    assert published == [("endpoint_fanout", (endpoint.pk,), None)]  # the cursor is behind

    fanout(endpoint)
    [delivery] = deliveries(endpoint)
    # The worker that had it died holding the lease; the broker's message is gone.
    Delivery.objects.filter(pk=delivery.pk).update(
        leased_until=timezone.now() - timedelta(seconds=1), enqueued_at=timezone.now() - timedelta(minutes=5)
    )
    published.clear()
    with django_capture_on_commit_callbacks(execute=True):
        sweeper.deliveries_sweep()
    assert published == [("delivery_send", (delivery.pk,), None)]
    # Handed over once: the next sweep does not hand it again straight away.
    published.clear()
    with django_capture_on_commit_callbacks(execute=True):
        sweeper.deliveries_sweep()
    assert published == []
    assert send(delivery).outcome == "succeeded"


def test_a_test_message_goes_to_that_endpoint_only(brand, receiver):
    endpoint = make_endpoint(brand, receiver.url(), event_types=["consent.granted"])
    other = make_endpoint(brand, receiver.url())
    receiver.secrets.append(endpoint.secret)

    delivery = endpoints.endpoint_test_send(endpoint=endpoint, actor=TEST_ACTOR)
    send(delivery)

    [got] = receiver.received
    assert got.payload["type"] == "webhook.test"
    assert got.payload["data"]["endpoint"] == endpoint.public_id
    assert got.headers["Webhook-Id"] == delivery.msg_id
    assert deliveries(other) == []
    assert not Event.objects.exists()  # not in the feed
