"""The changes feed (GET /api/v1/events) and the retention of its events."""

from __future__ import annotations

import base64
import queue
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from brands.models import Brand, Scope
from config.api import encode_cursor
from config.db import insert_parts, insert_row
from consent.models import ConsentEvent, ConsentEvidence, ConsentState
from consent.verification import ledger_verify
from sync.models import Event, EventType
from sync.outbox.events import event_build, event_record, events_prune
from sync.outbox.serializers import EventOut
from tests.actors import TEST_ACTOR

# The feed holds back events of transactions still open, and a test's own transaction would be
# one: every test commits.
pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/v1/events"
START = encode_cursor(0, 0)


def record(
    brand: Brand,
    contact_ref: int,
    sequence: int,
    type: EventType = EventType.CONSENT_GRANTED,
    **data: Any,
) -> Event:
    """One outbox event in its own committed transaction, as a domain service writes it."""
    with transaction.atomic():
        return event_record(
            brand=brand,
            type=type,
            contact_ref=contact_ref,
            subject=f"cust-{contact_ref}",
            sequence=sequence,
            data=data,
            occurred_at=timezone.now(),
        )


def public_ids(events: list[Event]) -> list[str]:
    return [str(event.public_id) for event in events]


@pytest.fixture
def feed(brand: Brand, make_client: Callable[..., APIClient]) -> APIClient:
    return make_client(brand, [Scope.EVENTS_READ])


def settle() -> None:
    """On PostgreSQL, wait until the feed's horizon has passed every event written so far.

    The horizon is server-wide: a write transaction left open in any database of the server (a
    concurrent test run's, say) holds it back for as long as it stays open.
    """
    deadline = time.monotonic() + 30
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint > coalesce(max(txid), 0) "
                "FROM sync_event"
            )
            if cursor.fetchone()[0]:
                return
        assert time.monotonic() < deadline, "an open transaction on the server holds the horizon back"
        time.sleep(0.02)


def page(client: APIClient, *, wait: bool = True, **params: Any) -> dict[str, Any]:
    """One page; by default once every event already written is ready (see settle)."""
    if wait:
        settle()
    response = client.get(URL, params)
    assert response.status_code == 200, response.content
    return response.json()


def read_all(
    client: APIClient, after: str | None = None, *, wait: bool = True, **params: Any
) -> tuple[list[dict[str, Any]], str]:
    """Page until has_more is false: every event, and the cursor to poll from next."""
    events: list[dict[str, Any]] = []
    while True:
        body = page(client, wait=wait, **({"after": after} if after else {}), **params)
        events += body["events"]
        after = body["next_cursor"]
        if not body["has_more"]:
            return events, after


# --- Shape ----------------------------------------------------------------------------


def test_an_event_is_the_webhook_body_with_its_id(api, feed, contact, notice_version):
    reply = api.post(
        f"/api/v1/contacts/{contact.external_id}/consents",
        {"purpose": "email-marketing", "decision": "granted", "notice_version": notice_version.public_id},
        format="json",
    )
    assert reply.status_code == 201

    settle()
    response = feed.get(URL)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"events", "next_cursor", "has_more"}
    assert body["has_more"] is False
    event = Event.objects.get()
    assert body["events"] == [
        {
            "id": str(event.public_id),
            "type": "consent.granted",
            "timestamp": event.created_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "data": event.data,
        }
    ]
    data = body["events"][0]["data"]
    assert (data["contact"], data["sequence"], data["state"]) == ("cust-1", 1, "granted")
    assert data["event_id"] == reply.json()["event_id"]
    assert "email" not in data
    assert "ada@example.com" not in str(data).lower()
    # The hand-built body is what the schema documents.
    documented = EventOut(
        {"id": event.public_id, "type": event.type, "timestamp": event.created_at, "data": event.data}
    ).data
    assert body["events"][0] == dict(documented)


def test_an_empty_feed_still_hands_out_a_cursor_to_poll_from(feed, brand):
    body = page(feed)
    assert body == {"events": [], "next_cursor": START, "has_more": False}

    first = record(brand, 1, 1)
    assert [e["id"] for e in page(feed, after=body["next_cursor"])["events"]] == [str(first.public_id)]


def test_an_event_reads_back_as_written_whatever_its_data_and_timestamp(feed, brand):
    # On PostgreSQL the database writes each event's JSON (sync.outbox.serializers.EVENT_JSON_SQL); it
    # must say what event_payload says, for any data and either form of timestamp.
    tricky = {
        "text": 'quote " backslash \\ slash / tab \t newline \n',
        "unicode": "Zoë, 東京, 🎉",
        "separators": "a\u2028b\u2029c",
        "nested": {"list": [1, 2.5, -0.001, None, True, False], "empty": {}, "none": []},
        "big": 2**53 + 1,
    }
    whole = record(brand, 1, 1, **tricky)
    fraction = record(brand, 1, 2, EventType.PREFERENCES_UPDATED, note="x")
    Event.objects.filter(pk=whole.pk).update(created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    Event.objects.filter(pk=fraction.pk).update(created_at=datetime(2026, 1, 2, 3, 4, 5, 60, tzinfo=UTC))

    settle()
    response = feed.get(URL)

    assert response.status_code == 200
    events = response.json()["events"]
    assert [list(event) for event in events] == [["id", "type", "timestamp", "data"]] * 2
    assert events == [
        {
            "id": str(whole.public_id),
            "type": "consent.granted",
            "timestamp": "2026-01-02T03:04:05Z",
            "data": {"contact": "cust-1", "sequence": 1, **tricky},
        },
        {
            "id": str(fraction.public_id),
            "type": "preferences.updated",
            "timestamp": "2026-01-02T03:04:05.000060Z",
            "data": {"contact": "cust-1", "sequence": 2, "note": "x"},
        },
    ]
    # As DRF's JSONRenderer writes them: the line separators escaped, other text as UTF-8.
    assert "\u2028".encode() not in response.content
    assert b"\\u2028" in response.content
    assert "東京".encode() in response.content


def test_the_database_fills_txid_and_the_lean_insert_leaves_it_alone(brand):
    into, params = insert_parts(
        event_build(
            brand=brand,
            type=EventType.HOLD_STARTED,
            contact_ref=9,
            subject="c",
            sequence=1,
            data={},
            occurred_at=timezone.now(),
        )
    )
    assert "txid" not in into
    assert len(params) == into.count("%s")

    with transaction.atomic():
        event = event_build(
            brand=brand,
            type=EventType.HOLD_STARTED,
            contact_ref=9,
            subject="c",
            sequence=1,
            data={},
            occurred_at=timezone.now(),
        )
        event.txid = 12345  # ignored: the column is the database's
        insert_row(event)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_current_xact_id()::text::bigint")
            expected = cursor.fetchone()[0]
    assert Event.objects.get(pk=event.pk).txid == expected


# --- Paging ---------------------------------------------------------------------------


def test_paging_from_the_start_sees_every_event_once_in_order(feed, brand):
    written = [record(brand, contact_ref=100 + n % 3, sequence=n // 3 + 1) for n in range(25)]

    pages = []
    after = None
    while True:
        body = page(feed, limit=7, **({"after": after} if after else {}))
        pages.append(body)
        after = body["next_cursor"]
        if not body["has_more"]:
            break

    assert [len(p["events"]) for p in pages] == [7, 7, 7, 4]
    assert [p["has_more"] for p in pages] == [True, True, True, False]
    seen = [e["id"] for p in pages for e in p["events"]]
    assert seen == public_ids(written)

    # Caught up: polling again returns nothing and keeps the place.
    assert page(feed, after=after) == {"events": [], "next_cursor": after, "has_more": False}

    later = [record(brand, contact_ref=100, sequence=10), record(brand, contact_ref=101, sequence=10)]
    events, _ = read_all(feed, after=after)
    assert [e["id"] for e in events] == public_ids(later)


def test_a_page_that_ends_exactly_at_the_last_event_says_there_is_no_more(feed, brand):
    written = [record(brand, 1, n) for n in range(1, 5)]
    body = page(feed, limit=4)
    assert [e["id"] for e in body["events"]] == public_ids(written)
    assert body["has_more"] is False


def test_limit_defaults_to_100_and_goes_up_to_1000(feed, brand):
    Event.objects.bulk_create(
        [
            event_build(
                brand=brand,
                type=EventType.CONSENT_GRANTED,
                contact_ref=1,
                subject="c",
                sequence=n,
                data={},
                occurred_at=timezone.now(),
            )
            for n in range(1, 1003)
        ]
    )
    assert len(page(feed)["events"]) == 100
    body = page(feed, limit=1000)
    assert (len(body["events"]), body["has_more"]) == (1000, True)


# --- Type filter ----------------------------------------------------------------------

MIXED = [
    EventType.CONSENT_GRANTED,
    EventType.CONSENT_WITHDRAWN,
    EventType.PREFERENCES_UPDATED,
    EventType.CONTACT_UNSUBSCRIBED,
    EventType.CONSENT_GRANTED,
    EventType.CONSENT_WITHDRAWN,
    EventType.HOLD_STARTED,
    EventType.CONTACT_UNSUBSCRIBED,
    EventType.CONSENT_GRANTED,
    EventType.HOLD_ENDED,
]


@pytest.mark.parametrize(
    "params",
    [
        {"type": "consent.withdrawn,contact.unsubscribed"},
        {"type": ["consent.withdrawn", "contact.unsubscribed"]},
        {"type": " contact.unsubscribed , consent.withdrawn,"},
    ],
    ids=["comma-separated", "repeated", "spaces-and-trailing-comma"],
)
def test_type_filter_returns_only_those_types_each_once(feed, brand, params):
    written = [record(brand, 1, n, type) for n, type in enumerate(MIXED, start=1)]
    wanted = [e for e in written if e.type in {"consent.withdrawn", "contact.unsubscribed"}]

    events, after = read_all(feed, limit=1, **params)

    assert [e["id"] for e in events] == public_ids(wanted)
    assert {e["type"] for e in events} == {"consent.withdrawn", "contact.unsubscribed"}
    # The cursor moved past the events the filter skipped at the end, too.
    assert page(feed, after=after)["events"] == []


def test_a_filter_that_matches_nothing_still_moves_the_cursor(feed, brand):
    for n in range(1, 6):
        record(brand, 1, n, EventType.CONSENT_GRANTED)
    body = page(feed, type="quiz.completed")
    assert body["events"] == []
    assert body["has_more"] is False
    assert page(feed, after=body["next_cursor"])["events"] == []
    newer = record(brand, 1, 6, EventType.QUIZ_COMPLETED)
    assert [e["id"] for e in page(feed, after=body["next_cursor"], type="quiz.completed")["events"]] == [
        str(newer.public_id)
    ]


# --- Bad requests ---------------------------------------------------------------------


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"after": "not a cursor!"}, "after"),
        ({"after": "%%%"}, "after"),
        ({"after": encode_cursor(5)}, "after"),  # another list's cursor
        ({"after": b64("c2:1.-2")}, "after"),
        ({"after": b64("c2:1.2.3")}, "after"),
        ({"after": b64("c2: 1.2")}, "after"),
        ({"after": b64("c2:1.")}, "after"),
        ({"after": encode_cursor(2**63, 1)}, "after"),  # beyond bigint: no 500
        ({"after": b64("c2:1.2") + "€"}, "after"),
        ({"after": base64.urlsafe_b64encode(b"c2:\xff.1").decode()}, "after"),  # not UTF-8
        ({"after": START, "cursor": encode_cursor(1, 1)}, "after"),
        ({"cursor": encode_cursor(1)}, "cursor"),
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"type": "consent.nope"}, "type"),
        ({"type": "consent.granted,bogus"}, "type"),
    ],
)
def test_bad_parameters_are_problems(feed, brand, params, field):
    record(brand, 1, 1)
    response = feed.get(URL, params)
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 422
    assert {"type", "title", "detail"} <= set(body)
    assert list(body["errors"]) == [field]


def test_cursor_is_accepted_under_the_generic_list_name_too(feed, brand):
    first, second = record(brand, 1, 1), record(brand, 1, 2)
    after_first = page(feed, limit=1)["next_cursor"]
    for params in ({"cursor": after_first}, {"cursor": after_first, "after": after_first}):
        assert [e["id"] for e in page(feed, **params)["events"]] == [str(second.public_id)]
    assert first.pk < second.pk


# --- Tenancy and scopes ---------------------------------------------------------------


def test_another_brands_events_never_appear(feed, brand, other_brand, make_client):
    ours, theirs = [], []
    for n in range(1, 6):
        ours.append(record(brand, 1, n))
        theirs.append(record(other_brand, 2, n))
    outsider = make_client(other_brand, [Scope.EVENTS_READ])

    our_feed, our_cursor = read_all(feed, limit=2)
    their_feed, _ = read_all(outsider, limit=2)

    assert [e["id"] for e in our_feed] == public_ids(ours)
    assert [e["id"] for e in their_feed] == public_ids(theirs)
    # A cursor is a place, not a key: with ours, the outsider still reads only its own.
    assert {e["id"] for e in page(outsider, after=our_cursor)["events"]} <= set(public_ids(theirs))
    assert page(outsider, type="consent.granted")["events"] == their_feed
    assert page(feed, type="consent.granted", limit=1000)["events"] == our_feed


@pytest.mark.parametrize(
    ("scopes", "status"),
    [
        ([Scope.EVENTS_READ], 200),
        ([Scope.ADMIN], 200),
        ([Scope.CONSENT_READ, Scope.CONSENT_WRITE], 403),
        ([Scope.PREFERENCES_READ], 403),
    ],
)
def test_reading_the_feed_needs_events_read(brand, make_client, scopes, status):
    record(brand, 1, 1)
    response = make_client(brand, scopes).get(URL)
    assert response.status_code == status
    if status != 200:
        assert response["Content-Type"] == "application/problem+json"
        assert "events:read" in response.json()["detail"]


def test_no_key_is_401(brand):
    response = APIClient().get(URL)
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"


# --- Speed ----------------------------------------------------------------------------


def test_a_page_takes_one_query_whatever_its_size_or_filter(feed, brand):
    def queries(**params: Any) -> int:
        settle()
        with CaptureQueriesContext(connection) as ctx:
            page(feed, wait=False, **params)
        return len(ctx.captured_queries)

    page(feed)  # warm: the key is looked up, cached and its last_used_at refreshed
    empty = queries()
    for n in range(1, 41):
        record(brand, n % 4, n, EventType.CONSENT_WITHDRAWN if n % 5 else EventType.HOLD_STARTED)
    assert [
        queries(limit=1),
        queries(limit=40),
        queries(limit=10, type="hold.started,consent.withdrawn"),
        queries(after=page(feed, limit=20)["next_cursor"]),
    ] == [empty] * 4
    assert empty == 1


# --- Retention ------------------------------------------------------------------------


def age(events: list[Event], days: float, now: datetime) -> None:
    Event.objects.filter(pk__in=[e.pk for e in events]).update(created_at=now - timedelta(days=days))


def test_prune_deletes_feed_events_past_retention_and_leaves_the_ledger(
    api, feed, brand, contact, notice_version, settings
):
    settings.EVENT_RETENTION_DAYS = 30
    url = f"/api/v1/contacts/{contact.external_id}/consents"
    for decision in ("granted", "withdrawn", "granted", "withdrawn", "granted"):
        body = {"purpose": "email-marketing", "decision": decision}
        if decision == "granted":
            body["notice_version"] = notice_version.public_id
        assert api.post(url, body, format="json").status_code == 201
    now = timezone.now()
    written = list(Event.objects.order_by("id"))
    assert len(written) == 5
    age(written[:3], 31, now)
    age(written[3:4], 29.9, now)
    ledger_before = list(ConsentEvent.objects.order_by("sequence").values_list("id", "hash"))
    state_before = list(ConsentState.objects.values_list("id", "event_id", "decision"))

    assert events_prune(now=now, batch_size=2) == 3

    assert list(Event.objects.order_by("id")) == written[3:]
    assert list(ConsentEvent.objects.order_by("sequence").values_list("id", "hash")) == ledger_before
    assert ConsentEvidence.objects.count() == 5
    assert list(ConsentState.objects.values_list("id", "event_id", "decision")) == state_before
    assert ledger_verify().ok
    assert [e["id"] for e in read_all(feed)[0]] == public_ids(written[3:])
    assert events_prune(now=now, batch_size=2) == 0  # nothing left to do


@pytest.mark.parametrize(("days", "pruned"), [(30, 2), (45, 1), (90, 0)])
def test_prune_follows_the_retention_setting(brand, settings, days, pruned):
    settings.EVENT_RETENTION_DAYS = days
    now = timezone.now()
    events = [record(brand, 1, n) for n in range(1, 5)]
    age(events[:1], 60, now)
    age(events[1:2], 40, now)
    age(events[2:3], 20, now)
    assert events_prune(now=now) == pruned
    assert Event.objects.count() == 4 - pruned


def test_prune_defaults_to_now_in_batches_across_brands(brand, other_brand, settings):
    settings.EVENT_RETENTION_DAYS = 30
    old = [record(b, ref, n) for b, ref in ((brand, 1), (other_brand, 2)) for n in range(1, 8)]
    fresh = record(brand, 1, 8)
    age(old, 31, timezone.now())
    assert events_prune(batch_size=3) == 14
    assert list(Event.objects.all()) == [fresh]


def test_retention_setting_is_in_env_example_with_its_default():
    from pathlib import Path

    from django.conf import settings

    example = (Path(settings.BASE_DIR) / ".env.example").read_text()
    assert "\nEVENT_RETENTION_DAYS=30\n" in example


# --- Commit order on PostgreSQL -------------------------------------------------------


class Held:
    """A transaction in a thread of its own (its own connection): runs `first`, waits until
    finish(), runs `then`, and commits (or rolls back)."""

    def __init__(
        self, first: Callable[[], Any], *, then: Callable[[], Any] | None = None, commit: bool = True
    ) -> None:
        self.started: queue.Queue[Any] = queue.Queue()
        self.release = threading.Event()
        self.then, self.commit = then, commit
        self.after: Any = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(first,))
        self.thread.start()
        self.value = self.started.get(timeout=30)
        if self.error is not None:
            raise self.error

    def _run(self, first: Callable[[], Any]) -> None:
        try:
            with transaction.atomic():
                self.started.put(first())
                assert self.release.wait(timeout=30)
                if self.then is not None:
                    self.after = self.then()
                if not self.commit:
                    transaction.set_rollback(True)
        except BaseException as exc:
            self.error = exc
            self.started.put(None)
        finally:
            connections.close_all()

    def finish(self) -> None:
        self.release.set()
        self.thread.join(timeout=30)
        assert not self.thread.is_alive()
        if self.error is not None:
            raise self.error


def write_event(brand: Brand, contact_ref: int, sequence: int) -> Event:
    return event_record(
        brand=brand,
        type=EventType.CONSENT_WITHDRAWN,
        contact_ref=contact_ref,
        subject=f"cust-{contact_ref}",
        sequence=sequence,
        data={},
        occurred_at=timezone.now(),
    )


def current_txid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_xact_id()::text::bigint")
        return cursor.fetchone()[0]


def poll_until(client: APIClient, after: str, count: int) -> tuple[list[dict[str, Any]], str]:
    """Poll as a consumer does until `count` events came (an open transaction anywhere on the
    server holds the horizon back); every event of every poll is returned."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + 30
    while len(seen) < count and time.monotonic() < deadline:
        events, after = read_all(client, after=after, wait=False)
        seen += events
        if len(seen) < count:
            time.sleep(0.05)
    return seen, after


@pytest.mark.parametrize("outcome", ["commit", "rollback"])
def test_an_event_that_commits_late_is_neither_skipped_nor_repeated(feed, brand, outcome):
    earlier = record(brand, 1, 1)
    # A takes an id first and holds its transaction open; B takes a later id and commits.
    a = Held(lambda: write_event(brand, 2, 1), commit=outcome == "commit")
    try:
        b = record(brand, 3, 1)
        assert b.pk > a.value.pk
        # An id-ordered reader would now hand out B and move its cursor past A's id for good.
        assert list(Event.objects.order_by("id").values_list("pk", flat=True)) == [earlier.pk, b.pk]

        first, cursor = poll_until(feed, START, 1)

        # The feed holds B back while A's fate is unknown.
        assert [e["id"] for e in first] == [str(earlier.public_id)]
        assert read_all(feed, after=cursor, wait=False)[0] == []
    finally:
        a.finish()

    expected = [a.value, b] if outcome == "commit" else [b]
    rest, cursor = poll_until(feed, cursor, len(expected))

    assert [e["id"] for e in rest] == public_ids(expected)  # A's transaction took its id first
    assert read_all(feed, after=cursor)[0] == []  # once settled, nothing more
    everything = [e["id"] for e in first + rest]
    assert len(everything) == len(set(everything))
    assert sorted(everything) == sorted(str(e.public_id) for e in Event.objects.all())


def test_a_contacts_events_come_in_sequence_order_when_their_transactions_overlap(feed, brand):
    # Writer 1 takes its transaction id early (as storing an Idempotency-Key does) and gets to
    # the contact only after writer 2 (a later transaction id) recorded sequence 1 and committed.
    late = Held(current_txid, then=lambda: write_event(brand, 7, 2))
    try:
        first = record(brand, 7, 1)
    finally:
        late.finish()
    second = late.after
    first_txid = Event.objects.get(pk=first.pk).txid
    assert late.value < first_txid  # by its own id, writer 1's event would come first...
    assert Event.objects.get(pk=second.pk).txid == first_txid  # ...so the trigger raised it

    events, _ = poll_until(feed, START, 2)

    assert [e["id"] for e in events] == public_ids([first, second])
    assert [e["data"]["sequence"] for e in events] == [1, 2]


def test_a_consumer_polling_during_parallel_writes_sees_every_event_once(brand, make_purpose, settings):
    from brands.services import api_key_create
    from consent.services import contact_upsert
    from tests.conftest import current_version
    from tests.consent.test_concurrency import client_for, run_in_parallel

    settings.API_RATE_LIMIT = "100000/min"
    version = current_version(make_purpose(brand, "email-marketing"))
    contacts = [contact_upsert(brand=brand, external_id=f"par-{n}")[0].external_id for n in range(4)]
    writer_key = api_key_create(actor=TEST_ACTOR, brand=brand, scopes=["consent:write"]).raw_key
    reader_key = api_key_create(actor=TEST_ACTOR, brand=brand, scopes=["events:read"]).raw_key
    writers = 48
    finished = threading.Semaphore(0)

    def write(index: int) -> int:
        decision = "granted" if (index // len(contacts)) % 2 == 0 else "withdrawn"
        body: dict[str, Any] = {"purpose": "email-marketing", "decision": decision}
        if decision == "granted":
            body["notice_version"] = version.public_id
        try:
            return (
                client_for(writer_key)
                .post(
                    f"/api/v1/contacts/{contacts[index % len(contacts)]}/consents",
                    body,
                    format="json",
                    HTTP_IDEMPOTENCY_KEY=f"write-{index}",  # an early transaction id, as in production
                )
                .status_code
            )
        finally:
            finished.release()

    def read() -> list[dict[str, Any]]:
        reader = client_for(reader_key)
        seen: list[dict[str, Any]] = []
        after = START
        done = 0
        while done < writers:
            events, after = read_all(reader, after=after, limit=5, wait=False)
            seen += events
            while done < writers and finished.acquire(timeout=0.001):
                done += 1
        total = Event.objects.filter(brand=brand).count()
        rest, after = poll_until(reader, after, total - len(seen))
        return seen + rest

    results = run_in_parallel(writers + 1, lambda index: read() if index == writers else write(index))

    assert results[:writers] == [201] * writers
    seen = results[writers]
    ids = [e["id"] for e in seen]
    assert len(ids) == len(set(ids))
    assert set(ids) == {str(e.public_id) for e in Event.objects.filter(brand=brand)}
    for external_id in contacts:
        sequences = [e["data"]["sequence"] for e in seen if e["data"]["contact"] == external_id]
        assert sequences == list(range(1, len(sequences) + 1))
