"""Mailchimp batch operations against the fake: the fake's /batches as Mailchimp documents it
(validation, pending -> preprocessing -> started -> finalizing -> finished, a real .tar.gz of
results over HTTP), the adapter's bulk push (exact member state, a refused operation failing
only its contact, 429s while polling, a batch that never finishes deleted and retried), and
backfills through it (thousands of contacts, a worker killed between submit and results, a
withdrawal made while the batch waited in Mailchimp's queue, a 429 on submit)."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from django.db import connection
from django.utils import timezone

from brands.models import Brand, Scope
from preferences.services import SubscriptionChange, preferences_update
from sync.delivery.connectors import backfill as backfill_module
from sync.delivery.connectors import mailchimp_batches
from sync.delivery.connectors.backfill import backfill_chunk, backfill_start, backfills_resume
from sync.delivery.connectors.mailchimp import MailchimpAdapter
from sync.delivery.connectors.mailchimp_api import THROTTLED_DELAY, subscriber_hash
from sync.delivery.connectors.vendors import Item, Target
from sync.models import BackfillRun, Connector, VendorContact
from sync.outbox.contact_state import ContactState
from tests.actors import TEST_ACTOR
from tests.connectors.bulk import TOPIC, contacts_subscribed, news_topic
from tests.connectors.test_mailchimp_connector import LIST, OTHER_LIST, basic, state
from tests.fakes.mailchimp import KEY, FakeMailchimp
from tests.sync.webhook_support import published

__all__ = ["published"]

pytestmark = pytest.mark.django_db(transaction=True)
PURPOSE_MAPPING = {"lists": [{"list": LIST, "purpose": "email-marketing"}]}


@pytest.fixture
def fake(settings: Any) -> Iterator[FakeMailchimp]:
    settings.WEBHOOK_ALLOW_PRIVATE = True
    fake = FakeMailchimp()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def naps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The adapter's pauses between status reads, recorded; each really waits a little (the fake
    runs its batches meanwhile)."""
    import time

    taken: list[float] = []

    def pause(seconds: float) -> None:
        taken.append(seconds)
        time.sleep(0.01)

    monkeypatch.setattr(mailchimp_batches, "_pause", pause)
    return taken


@pytest.fixture
def handed(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple[Any, ...]]]:
    calls: list[tuple[str, tuple[Any, ...]]] = []

    def record(name: str, *args: Any, countdown: float | None = None) -> bool:
        calls.append((name, args))
        return True

    monkeypatch.setattr(backfill_module, "publish", record)
    return calls


def target(fake: FakeMailchimp, mapping: dict[str, Any] | None = None, public_id: str = "con_x") -> Target:
    return Target(
        public_id=public_id,
        base_url=fake.base_url,
        credentials={"api_key": KEY},
        mapping=mapping or PURPOSE_MAPPING,
    )


def items(count: int, start: int = 0, **kwargs: Any) -> list[Item]:
    return [
        Item(delivery_id=n, type="backfill", contact_ref=n, state=state(n, **kwargs))
        for n in range(start, start + count)
    ]


def always(*_: Any) -> bool:
    return True


def archive_rows(content: bytes) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(content)), mode="r:") as archive:
        for member in archive.getmembers():
            handle = archive.extractfile(member)
            assert handle is not None
            rows += json.load(handle)
    return rows


# --- The fake's /batches ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "operations"),
        ({"operations": {"method": "PUT"}}, "operations"),
        ({"operations": [{"method": "FETCH", "path": "/lists"}]}, "operations[0].method"),
        ({"operations": [{"method": "GET"}]}, "operations[0].path"),
        ({"operations": [{"method": "GET", "path": "https://example.com/lists"}]}, "operations[0].path"),
        ({"operations": [{"method": "PUT", "path": "/lists", "body": {"a": 1}}]}, "operations[0].body"),
        (
            {"operations": [{"method": "GET", "path": "/lists", "operation_id": 7}]},
            "operations[0].operation_id",
        ),
    ],
)
def test_the_fake_refuses_a_batch_mailchimp_would_not_take(fake, body, field):
    response = httpx.post(f"{fake.base_url}/3.0/batches", json=body, headers=basic(KEY))
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["title"] == "Invalid Resource"
    assert field in [error["field"] for error in response.json()["errors"]]
    assert fake.batches == {}
    assert httpx.post(f"{fake.base_url}/3.0/batches", json={"operations": []}).status_code == 401


def test_the_fake_runs_a_batch_and_serves_its_results_as_a_tar_gz(fake):
    hold = fake.hold = threading.Event()
    ada, bob = subscriber_hash("ada@example.com"), subscriber_hash("bob@example.com")
    operations = [
        {
            "method": "PUT",
            "path": f"/lists/{LIST}/members/{ada}",
            "operation_id": "ada",
            "body": json.dumps({"email_address": "ada@example.com", "status_if_new": "subscribed"}),
        },
        {
            "method": "PUT",
            "path": f"/lists/{LIST}/members/{bob}",
            "operation_id": "bob",
            "body": json.dumps(
                {
                    "email_address": "bob@example.com",
                    "status_if_new": "subscribed",
                    "interests": {"nope": True},
                }
            ),
        },
    ]
    submitted = httpx.post(
        f"{fake.base_url}/3.0/batches", json={"operations": operations}, headers=basic(KEY)
    )
    assert submitted.status_code == 200
    batch = submitted.json()
    assert (batch["status"], batch["total_operations"], batch["response_body_url"]) == ("pending", 2, "")
    status_url = f"{fake.base_url}/3.0/batches/{batch['id']}"
    assert httpx.get(status_url, headers=basic(KEY)).json()["status"] == "pending"
    assert fake.members == {}  # nothing runs while it is queued
    hold.set()
    fake.wait_batches_finished()
    done = httpx.get(status_url, headers=basic(KEY)).json()
    assert (done["status"], done["finished_operations"], done["errored_operations"]) == ("finished", 2, 1)
    assert fake.batches[batch["id"]].history == [
        "pending",
        "preprocessing",
        "started",
        "finalizing",
        "finished",
    ]
    url = done["response_body_url"]
    assert httpx.get(url.split("?")[0]).status_code == 403  # the signature is the only key
    assert httpx.get(url.replace("signature=", "signature=0")).status_code == 403
    archive = httpx.get(url)  # no API key: pre-signed storage
    assert archive.status_code == 200
    rows = {row["operation_id"]: row for row in archive_rows(archive.content)}
    assert rows["ada"]["status_code"] == 200
    assert json.loads(rows["ada"]["response"])["status"] == "subscribed"
    assert rows["bob"]["status_code"] == 400
    assert json.loads(rows["bob"]["response"])["detail"] == "Invalid interest ID: 'nope'."
    assert fake.statuses(LIST) == {"ada@example.com": "subscribed"}
    assert httpx.get(f"{fake.base_url}/3.0/batches/nope", headers=basic(KEY)).status_code == 404


def test_the_fake_runs_batches_one_at_a_time_in_order(fake):
    fake.hold = threading.Event()
    ada = subscriber_hash("ada@example.com")
    for status in ("subscribed", "unsubscribed"):
        body = json.dumps({"email_address": "ada@example.com", "status_if_new": status, "status": status})
        operations = [{"method": "PUT", "path": f"/lists/{LIST}/members/{ada}", "body": body}]
        httpx.post(f"{fake.base_url}/3.0/batches", json={"operations": operations}, headers=basic(KEY))
    fake.hold.set()
    fake.wait_batches_finished()
    assert fake.statuses(LIST) == {"ada@example.com": "unsubscribed"}  # the later one last


def test_a_permanently_deleted_member_is_gone_and_cannot_be_imported_again(fake):
    ada = subscriber_hash("ada@example.com")
    fake.put(LIST, "ada@example.com", "subscribed")
    delete = f"{fake.base_url}/3.0/lists/{LIST}/members/{ada}/actions/delete-permanent"
    assert httpx.post(delete, headers=basic(KEY)).status_code == 204
    assert fake.member(LIST, "ada@example.com") is None
    assert httpx.post(delete, headers=basic(KEY)).status_code == 404
    again = httpx.put(
        f"{fake.base_url}/3.0/lists/{LIST}/members/{ada}",
        json={"email_address": "ada@example.com", "status_if_new": "pending"},
        headers=basic(KEY),
    )
    assert again.status_code == 400
    assert again.json()["title"] == "Forgotten Email Not Subscribed"
    assert "permanently deleted and cannot be re-imported" in again.json()["detail"]
    batch = httpx.post(
        f"{fake.base_url}/3.0/lists/{LIST}",
        json={
            "members": [{"email_address": "ada@example.com", "status": "subscribed"}],
            "update_existing": True,
        },
        headers=basic(KEY),
    )
    assert "permanently deleted" in batch.json()["errors"][0]["error"]
    assert fake.member(LIST, "ada@example.com") is None


def test_the_fakes_put_member_checks_the_address_against_the_hash(fake):
    wrong = httpx.put(
        f"{fake.base_url}/3.0/lists/{LIST}/members/{subscriber_hash('bob@example.com')}",
        json={"email_address": "ada@example.com", "status_if_new": "subscribed"},
        headers=basic(KEY),
    )
    assert wrong.status_code == 400
    assert wrong.json()["errors"] == [
        {"field": "email_address", "message": "The address does not match the subscriber hash."}
    ]
    missing = httpx.put(
        f"{fake.base_url}/3.0/lists/{LIST}/members/{subscriber_hash('ada@example.com')}",
        json={"email_address": "ada@example.com"},
        headers=basic(KEY),
    )
    assert missing.status_code == 400
    assert [e["field"] for e in missing.json()["errors"]] == ["status_if_new"]
    assert fake.members == {}


# --- The adapter's bulk push ------------------------------------------------------------------------


def test_a_large_batch_goes_through_batch_operations_with_the_member_body_of_the_sync_call(fake, naps):
    mapping = {
        "lists": [
            {"list": LIST, "purpose": "email-marketing", "marketing_permission": "perm01"},
            {"list": OTHER_LIST, "purpose": "email-marketing"},
        ]
    }
    batch = items(600) + items(1, start=600, consents={"email-marketing": "withdrawn"})
    results = MailchimpAdapter().push_bulk(
        target(fake, mapping), batch, client=httpx.Client(), heartbeat=always
    )

    assert all(r.succeeded for r in results)
    assert fake.requests == []  # no synchronous batch members call
    [fake_batch] = fake.batches.values()
    assert len(fake_batch.operations) == 2 * 601
    first = fake_batch.operations[0]
    assert (first["method"], first["path"], first["operation_id"]) == (
        "PUT",
        f"/lists/{LIST}/members/{subscriber_hash('p0@example.com')}",
        f"{LIST}:{subscriber_hash('p0@example.com')}",
    )
    assert json.loads(first["body"]) == {
        "email_address": "p0@example.com",
        "status_if_new": "subscribed",
        "status": "subscribed",
        "marketing_permissions": [{"marketing_permission_id": "perm01", "enabled": True}],
    }
    expected = {f"p{n}@example.com": "subscribed" for n in range(600)} | {"p600@example.com": "unsubscribed"}
    assert fake.statuses(LIST) == expected
    assert fake.statuses(OTHER_LIST) == expected
    assert fake.member(LIST, "p600@example.com").permissions == {"perm01": False, "perm02": False}
    assert Counter(how for how, _, _ in fake.writes) == {"put": 2 * 601}  # each member once
    assert set(Counter((lid, h) for _, lid, h in fake.writes).values()) == {1}
    assert naps[0] == mailchimp_batches.POLL_FIRST


def test_a_batch_of_500_or_fewer_keeps_the_synchronous_call(fake, naps):
    results = MailchimpAdapter().push_bulk(target(fake), items(500), client=httpx.Client(), heartbeat=always)
    assert all(r.succeeded for r in results)
    assert fake.batches == {}
    assert [len(r["body"]["members"]) for r in fake.requests] == [500]
    assert naps == []


def test_a_refused_operation_fails_its_contact_only_and_a_compliance_no_is_kept(fake, naps):
    fake.person_unsubscribes(LIST, "p3@example.com")
    bad = ContactState(
        contact_ref=9000,
        external_id="bad",
        email="not-an-address",
        phone=None,
        consents={"email-marketing": "granted"},
    )
    batch = [*items(600), Item(delivery_id=9000, type="backfill", contact_ref=9000, state=bad)]
    results = MailchimpAdapter().push_bulk(target(fake), batch, client=httpx.Client(), heartbeat=always)

    by_id = {item.delivery_id: result for item, result in zip(batch, results, strict=True)}
    assert (by_id[9000].succeeded, by_id[9000].permanent, by_id[9000].status_code) == (False, True, 400)
    assert "looks fake or invalid" in by_id[9000].excerpt
    assert by_id[3].succeeded
    assert "compliance state" in by_id[3].excerpt
    assert all(by_id[n].succeeded for n in range(600))
    assert fake.statuses(LIST) == {f"p{n}@example.com": "subscribed" for n in range(600) if n != 3} | {
        "p3@example.com": "unsubscribed"
    }
    assert fake.member(LIST, "p3@example.com").compliance  # never resubscribed, nor sent pending
    [fake_batch] = fake.batches.values()
    assert fake_batch.errored_operations == 2


def test_a_429_while_polling_is_waited_out_and_the_batch_still_read(fake, naps, monkeypatch):
    monkeypatch.setattr(mailchimp_batches, "WAIT_MAX", 10.0**6)
    fake.hold = threading.Event()
    fake.throttle_polls(2)

    def release_after_the_throttled_reads() -> None:
        while fake._throttle_polls:
            threading.Event().wait(0.005)
        fake.hold.set()

    threading.Thread(target=release_after_the_throttled_reads, daemon=True).start()
    results = MailchimpAdapter().push_bulk(target(fake), items(501), client=httpx.Client(), heartbeat=always)

    assert all(r.succeeded for r in results)
    assert naps[:3] == [mailchimp_batches.POLL_FIRST, THROTTLED_DELAY, THROTTLED_DELAY]
    assert len(fake.statuses(LIST)) == 501
    assert len(fake.batches) == 1  # waited for, not submitted again


def test_a_batch_that_does_not_finish_in_time_is_deleted_and_retried(fake, naps, monkeypatch):
    monkeypatch.setattr(mailchimp_batches, "WAIT_MAX", 3.0)
    fake.hold = threading.Event()  # Mailchimp's queue does not move
    results = MailchimpAdapter().push_bulk(target(fake), items(501), client=httpx.Client(), heartbeat=always)

    assert {(r.succeeded, r.permanent, r.retry_after) for r in results} == {
        (False, False, mailchimp_batches.POLL_MAX)
    }
    assert fake.batches == {}  # deleted: it will not run later over a newer push
    fake.hold.set()
    # A later batch runs after it (in order): by then the deleted one has been passed over.
    later = json.dumps({"email_address": "later@example.com", "status_if_new": "subscribed"})
    path = f"/lists/{LIST}/members/{subscriber_hash('later@example.com')}"
    operations = [{"method": "PUT", "path": path, "body": later}]
    httpx.post(f"{fake.base_url}/3.0/batches", json={"operations": operations}, headers=basic(KEY))
    fake.wait_batches_finished()
    assert fake.statuses(LIST) == {"later@example.com": "subscribed"}


def test_a_lost_lease_stops_the_wait(fake, naps):
    fake.hold = threading.Event()
    results = MailchimpAdapter().push_bulk(
        target(fake), items(501), client=httpx.Client(), heartbeat=lambda: False
    )
    assert {(r.succeeded, r.permanent) for r in results} == {(False, False)}
    assert "lease" in results[0].error


# --- Backfills through batch operations -------------------------------------------------------------


@pytest.fixture
def connector(make_client: Any, brand: Brand, fake: FakeMailchimp, published: Any) -> Connector:
    from tests.connectors.test_mailchimp_connector import body

    news_topic(brand=brand)
    api = make_client(brand, [Scope.ADMIN])
    reply = api.post(
        "/api/v1/connectors", body(fake, mapping={"lists": [{"list": LIST, "topic": TOPIC}]}), format="json"
    )
    assert reply.status_code == 201, reply.content
    return Connector.objects.select_related("endpoint").get(public_id=reply.json()["id"])


def test_a_backfill_of_thousands_goes_through_batch_operations(
    connector, brand, fake, handed, naps, monkeypatch
):
    monkeypatch.setattr(MailchimpAdapter, "bulk_batch", 1000)
    people = contacts_subscribed(brand=brand, count=3600)

    assert backfill_chunk(run_id=backfill_start(connector=connector, actor=TEST_ACTOR).pk) == "finished"

    run = BackfillRun.objects.get()
    assert (run.status, run.total, run.done, run.failed) == ("succeeded", 3600, 3600, 0)
    assert fake.statuses(LIST) == {f"p{n}@example.com": "subscribed" for n in range(3600)}
    assert [len(b.operations) for b in fake.batches.values()] == [1000, 1000, 1000, 600]
    assert fake.requests == []
    assert set(Counter(fake.writes).values()) == {1}  # each member written once
    kept = dict(VendorContact.objects.filter(connector=connector).values_list("vendor_id", "contact_ref"))
    assert kept == {f"{LIST}:{subscriber_hash(p.email)}": p.pk for p in people}


def test_a_withdrawal_while_the_batch_waits_in_mailchimp_is_pushed_again_after_it(
    connector, brand, fake, handed, naps, monkeypatch
):
    monkeypatch.setattr(MailchimpAdapter, "bulk_batch", 1000)
    monkeypatch.setattr(mailchimp_batches, "WAIT_MAX", 10.0**6)
    contacts_subscribed(brand=brand, count=600)
    fake.hold = threading.Event()
    withdrawn = threading.Event()

    def withdraw_then_release() -> None:
        # The batch is queued with p7 subscribed; p7 leaves (a live delivery would push it now).
        while not fake.batches:
            threading.Event().wait(0.005)
        try:
            preferences_update(
                brand=brand,
                external_id="bulk-7",
                method="api",
                recorded_by="test",
                subscriptions=[SubscriptionChange(topic=TOPIC, channel="email", status="unsubscribed")],
            )
            withdrawn.set()
        finally:
            connection.close()
            fake.hold.set()

    threading.Thread(target=withdraw_then_release, daemon=True).start()
    assert backfill_chunk(run_id=backfill_start(connector=connector, actor=TEST_ACTOR).pk) == "finished"

    assert withdrawn.is_set()
    assert fake.statuses(LIST)["p7@example.com"] == "unsubscribed"
    assert [[m["email_address"] for m in r["body"]["members"]] for r in fake.requests] == [["p7@example.com"]]
    assert fake.requests[0]["body"]["members"][0]["status"] == "unsubscribed"
    run = BackfillRun.objects.get()
    assert (run.status, run.done, run.failed) == ("succeeded", 600, 0)


def test_a_worker_killed_between_submit_and_results_loses_and_duplicates_nothing(
    connector, brand, fake, handed, naps, settings, monkeypatch
):
    monkeypatch.setattr(MailchimpAdapter, "bulk_batch", 1000)
    contacts_subscribed(brand=brand, count=1600)
    run = backfill_start(connector=connector, actor=TEST_ACTOR)
    fake.hold = threading.Event()  # Mailchimp's queue is slow: the worker dies waiting
    real = mailchimp_batches._await

    def dies_waiting(*args: Any, **kwargs: Any) -> str:
        raise SystemExit("killed")

    monkeypatch.setattr(mailchimp_batches, "_await", dies_waiting)
    with pytest.raises(SystemExit):
        backfill_chunk(run_id=run.pk)
    run.refresh_from_db()
    assert (run.cursor, run.done, run.status) == (0, 0, "running")  # nothing counted
    assert [b.status for b in fake.batches.values()] == ["pending"]  # its batch stays queued
    # Meanwhile one of them withdraws: the resumed run must leave the newer "no".
    preferences_update(
        brand=brand,
        external_id="bulk-5",
        method="api",
        recorded_by="test",
        subscriptions=[SubscriptionChange(topic=TOPIC, channel="email", status="unsubscribed")],
    )
    monkeypatch.setattr(mailchimp_batches, "_await", real)
    BackfillRun.objects.filter(pk=run.pk).update(
        leased_until=timezone.now() - timedelta(seconds=1),
        updated_at=timezone.now() - timedelta(seconds=settings.CONNECTOR_RUN_LEASE_SECONDS + 1),
    )
    assert backfills_resume() == 1
    fake.hold.set()  # the orphan runs first, then the resumed run's own

    assert backfill_chunk(run_id=run.pk) == "finished"

    run.refresh_from_db()
    assert (run.status, run.done, run.failed) == ("succeeded", 1600, 0)
    expected = {f"p{n}@example.com": "subscribed" for n in range(1600)} | {"p5@example.com": "unsubscribed"}
    assert fake.statuses(LIST) == expected  # every one, once: a member is its address's hash
    assert [len(b.operations) for b in fake.batches.values()] == [1000, 1000, 600]
    writes = Counter(fake.writes)
    assert {n for n in writes.values()} == {1, 2}  # the orphaned batch's members twice, at most
    assert sum(1 for n in writes.values() if n == 2) == 1000


def test_a_429_on_submit_is_waited_out_and_the_batch_pushed_synchronously(
    connector, brand, fake, handed, naps, monkeypatch
):
    import time
    from types import SimpleNamespace

    monkeypatch.setattr(MailchimpAdapter, "bulk_batch", 1000)
    waits: list[float] = []
    monkeypatch.setattr(
        backfill_module, "time", SimpleNamespace(sleep=waits.append, monotonic=time.monotonic)
    )
    contacts_subscribed(brand=brand, count=600)
    fake.throttle(1)  # the POST /batches

    assert backfill_chunk(run_id=backfill_start(connector=connector, actor=TEST_ACTOR).pk) == "finished"

    assert waits == [THROTTLED_DELAY]  # Mailchimp sends no Retry-After
    assert fake.batches == {}  # the refused request made none
    assert [len(r["body"]["members"]) for r in fake.requests] == [500, 100]  # the retry, synchronous
    assert fake.statuses(LIST) == {f"p{n}@example.com": "subscribed" for n in range(600)}
    assert set(Counter((lid, h) for _, lid, h in fake.writes).values()) == {1}
    run = BackfillRun.objects.get()
    assert (run.status, run.done, run.failed) == ("succeeded", 600, 0)
