"""The drift reconciler against the Klaviyo fake: each kind of drift injected into the fake is
found and repaired by the rule (a vendor "no" recorded in the ledger, a vendor "yes" without
consent turned off, an unknown contact pushed), with the exact report, the ledger row, the event
and nothing echoed; and a vendor in step costs reads only. Klaviyo's reconcile methods are
tested directly against the fake too."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from brands.models import AuditEntry, Brand, Scope
from consent.models import ConsentEvent, Contact, Purpose
from consent.services import contact_upsert
from sync.delivery.connectors import backfill as backfill_module
from sync.delivery.connectors import reconcile as reconcile_module
from sync.delivery.connectors.klaviyo import KlaviyoAdapter
from sync.delivery.connectors.reconcile import reconcile_run, reconcile_start
from sync.delivery.connectors.target import connector_target
from sync.delivery.sending import http_client
from sync.models import Connector, ConnectorEcho, Event, EventType, ReconcileRun
from sync.outbox.contact_state import contacts_state
from tests.actors import TEST_ACTOR
from tests.connectors.support import drain, grant, withdraw
from tests.connectors.test_klaviyo_connector import KEY
from tests.fakes.klaviyo import FakeKlaviyo
from tests.sync.webhook_support import published

__all__ = ["published"]

pytestmark = pytest.mark.django_db(transaction=True)
LIST = "LstNews"
SLOT = "list:LstNews:email"
CHANNEL = "channel:email"


@pytest.fixture
def fake(settings: Any) -> Iterator[FakeKlaviyo]:
    settings.WEBHOOK_ALLOW_PRIVATE = True
    fake = FakeKlaviyo()
    fake.base_url = fake.start()  # type: ignore[attr-defined]
    yield fake
    fake.stop()


@pytest.fixture
def runs_published(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple[Any, ...]]]:
    """The runs handed to the broker (nothing reaches one: the tests run them here)."""
    calls: list[tuple[str, tuple[Any, ...]]] = []

    def record(name: str, *args: Any, countdown: float | None = None) -> bool:
        calls.append((name, args))
        return True

    monkeypatch.setattr(reconcile_module, "publish", record)
    monkeypatch.setattr(backfill_module, "publish", record)
    return calls


@pytest.fixture
def connector(
    make_client: Any, brand: Brand, purpose: Purpose, fake: FakeKlaviyo, published: Any
) -> Connector:
    api = make_client(brand, [Scope.ADMIN])
    reply = api.post(
        "/api/v1/connectors",
        {
            "vendor": "klaviyo",
            "name": "Main account",
            "credentials": {"api_key": KEY},
            "mapping": {"lists": [{"list": LIST, "purpose": "email-marketing"}]},
            "api_base_url": fake.base_url,  # type: ignore[attr-defined]
        },
        format="json",
    )
    assert reply.status_code == 201, reply.content
    return Connector.objects.select_related("endpoint", "brand").get(public_id=reply.json()["id"])


PEOPLE = {name: f"{name}@example.com" for name in ("ada", "bob", "cat", "dan", "eve")}


@pytest.fixture
def people(brand: Brand, purpose: Purpose, published: Any) -> dict[str, Contact]:
    """ada, bob and dan granted email marketing; eve granted then withdrew; cat never said."""
    found = {}
    for name, email in PEOPLE.items():
        found[name], _ = contact_upsert(brand=brand, external_id=f"cust-{name}", email=email)
    for name in ("ada", "bob", "dan", "eve"):
        grant(brand, purpose, f"cust-{name}")
    withdraw(brand, purpose, "cust-eve")
    return found


def drifted(fake: FakeKlaviyo) -> None:
    """Klaviyo as Candor's pushes left it, then drift: bob unsubscribed inside Klaviyo, cat and eve
    imported as subscribed, dan's profile deleted."""
    fake.drift_subscribe(LIST, PEOPLE["ada"])
    fake.drift_subscribe(LIST, PEOPLE["bob"])
    fake.drift_unsubscribe(PEOPLE["bob"], "email", list_id=LIST)
    fake.drift_subscribe(LIST, PEOPLE["cat"])
    fake.drift_subscribe(LIST, PEOPLE["eve"])


def run_now(connector: Connector) -> ReconcileRun:
    run = reconcile_start(connector=connector, trigger="api", actor=TEST_ACTOR)
    assert reconcile_run(run_id=run.pk) == "succeeded"
    run.refresh_from_db()
    return run


# --- the adapter's reconcile methods, against the fake ----------------------------------------


def test_expected_and_vendor_read_show_the_injected_drift(connector, people, fake, brand):
    drifted(fake)
    adapter, target = connector_target(connector=connector)
    states = contacts_state(brand_id=brand.pk, contact_refs=[c.pk for c in people.values()])
    expected = {name: adapter.expected(connector.mapping, states[c.pk]) for name, c in people.items()}
    assert expected == {
        "ada": {SLOT: "subscribed", CHANNEL: "subscribed"},
        "bob": {SLOT: "subscribed", CHANNEL: "subscribed"},
        "cat": {SLOT: None, CHANNEL: None},
        "dan": {SLOT: "subscribed", CHANNEL: "subscribed"},
        "eve": {SLOT: "unsubscribed", CHANNEL: None},  # a "no" to the list, not the channel
    }
    held = adapter.vendor_read(target, list(states.values()), client=http_client())
    assert {name: held[c.pk] for name, c in people.items()} == {
        "ada": {SLOT: "subscribed"},
        "bob": {SLOT: "unsubscribed"},  # the list suppression
        "cat": {SLOT: "subscribed"},
        "dan": {SLOT: "unknown"},  # no profile
        "eve": {SLOT: "subscribed"},
    }
    # Two reads for the whole batch (profiles with subscriptions; the list's members), no writes.
    assert fake.calls[-2:] == [("GET", "/api/profiles"), ("GET", f"/api/lists/{LIST}/profiles")]
    assert fake.requests == []


def test_slots_turn_off_unsubscribes_exactly_those_slots(connector, people, fake, brand):
    drifted(fake)
    adapter, target = connector_target(connector=connector)
    states = contacts_state(brand_id=brand.pk, contact_refs=[c.pk for c in people.values()])
    offs = [(states[people["cat"].pk], SLOT), (states[people["eve"].pk], SLOT)]
    results = adapter.slots_turn_off(target, offs, client=http_client())
    assert [r.succeeded for r in results] == [True, True]
    assert fake.subscribed(LIST) == {PEOPLE["ada"]}
    assert fake.list_suppressions[PEOPLE["cat"]].keys() == {LIST}
    assert fake.list_suppressions[PEOPLE["eve"]].keys() == {LIST}
    assert fake.consent[(PEOPLE["ada"], "email")] == "SUBSCRIBED"  # untouched
    [job] = fake.requests
    assert job["path"] == "/api/profile-subscription-bulk-delete-jobs"
    assert [row["attributes"]["email"] for row in job["body"]["data"]["attributes"]["profiles"]["data"]] == [
        PEOPLE["cat"],
        PEOPLE["eve"],
    ]


def test_slot_signal_names_the_lists_purpose(connector, people, brand):
    adapter = KlaviyoAdapter()
    state = contacts_state(brand_id=brand.pk, contact_refs=[people["bob"].pk])[people["bob"].pk]
    signal = adapter.slot_signal(connector.mapping, SLOT, state, event_id="reconcile:x")
    assert (signal.event_id, signal.kind, signal.channel, signal.email, signal.purposes, signal.topics) == (
        "reconcile:x",
        "unsubscribed",
        "email",
        PEOPLE["bob"],
        ("email-marketing",),
        (),
    )


def test_the_fake_refuses_a_filter_klaviyo_refuses(fake):
    import httpx

    headers = {"Authorization": f"Klaviyo-API-Key {KEY}", "revision": "2026-07-15"}
    base = fake.base_url  # type: ignore[attr-defined]
    for params, parameter in (
        ({"filter": "any(first_name,['a'])"}, "filter"),
        ({"filter": "contains(email,'a')"}, "filter"),
        ({"page[size]": "101"}, None),
    ):
        reply = httpx.get(f"{base}/api/profiles", params=params, headers=headers)
        assert reply.status_code == 400, params
        [error] = reply.json()["errors"]
        assert error["code"] == "invalid"
        if parameter:
            assert error["source"] == {"parameter": parameter}
    assert httpx.get(f"{base}/api/lists/Nope/profiles", headers=headers).status_code == 404
    assert httpx.get(f"{base}/api/profiles", headers={"revision": "2026-07-15"}).status_code == 401


# --- the reconciler -----------------------------------------------------------------------------


def test_each_kind_of_drift_is_found_and_repaired_by_the_rule(
    connector, people, fake, brand, purpose, runs_published
):
    drifted(fake)
    events_before = ConsentEvent.objects.count()

    run = run_now(connector)

    assert run.status == "succeeded"
    assert (run.contacts, run.slots) == (5, 5)
    assert run.drift == {
        "vendor_subscribed_without_consent": 2,
        "vendor_unsubscribed_candor_subscribed": 1,
        "unknown_in_vendor": 1,
    }
    assert run.repaired == run.drift
    assert run.samples == {
        "vendor_subscribed_without_consent": ["cust-cat", "cust-eve"],
        "vendor_unsubscribed_candor_subscribed": ["cust-bob"],
        "unknown_in_vendor": ["cust-dan"],
    }
    # The vendor now: ada and dan (pushed) subscribed; cat and eve turned off; bob stays out.
    assert fake.subscribed(LIST) == {PEOPLE["ada"], PEOPLE["dan"]}
    assert set(fake.list_suppressions) == {PEOPLE["bob"], PEOPLE["cat"], PEOPLE["eve"]}
    # Candor now: bob's "no" in Klaviyo is a withdrawal with the vendor as its source.
    [row] = ConsentEvent.objects.order_by("sequence")[events_before:]
    assert (row.contact_id, row.purpose_id, row.decision, row.method, row.recorded_by) == (
        people["bob"].pk,
        purpose.pk,
        "withdrawn",
        "connector",
        f"connector:{connector.public_id}",
    )
    message = row.evidence.message
    assert message["vendor"] == "klaviyo"
    assert message["event_id"] == f"reconcile:{run.public_id}:{people['bob'].pk}:{SLOT}"
    # The event, with its exact body.
    [event] = Event.objects.filter(type=EventType.CONNECTOR_DRIFT_REPAIRED)
    assert event.contact_ref == Event.brand_ref(brand.pk)
    assert event.data == {
        "sequence": event.sequence,
        "connector": connector.public_id,
        "vendor": "klaviyo",
        "run": run.public_id,
        "contacts": 5,
        "drift": {
            "vendor_subscribed_without_consent": 2,
            "vendor_unsubscribed_candor_subscribed": 1,
            "unknown_in_vendor": 1,
        },
        "repaired": {
            "vendor_subscribed_without_consent": 2,
            "vendor_unsubscribed_candor_subscribed": 1,
            "unknown_in_vendor": 1,
        },
    }
    # No echo: bob's withdrawal came from this vendor and is not pushed back to it.
    writes = len(fake.requests)
    drain(connector.endpoint)
    assert ConnectorEcho.objects.filter(connector=connector).exists()
    assert fake.requests[writes:] == []


def test_a_global_unsubscribe_in_klaviyo_is_recorded_for_the_whole_channel(
    connector, people, fake, brand, purpose, runs_published
):
    from preferences.selectors import preferences_get

    fake.drift_subscribe(LIST, PEOPLE["ada"])
    fake.drift_unsubscribe(PEOPLE["ada"])  # everything off in Klaviyo's preference page
    events_before = ConsentEvent.objects.count()

    run = run_now(connector)

    assert run.drift["vendor_unsubscribed_candor_subscribed"] == 1
    assert run.samples["vendor_unsubscribed_candor_subscribed"] == ["cust-ada"]
    [row] = ConsentEvent.objects.order_by("sequence")[events_before:]
    assert (row.contact_id, row.purpose_id, row.decision, row.method) == (
        people["ada"].pk,
        purpose.pk,
        "withdrawn",
        "connector",
    )
    assert row.evidence.message["event_id"] == f"reconcile:{run.public_id}:{people['ada'].pk}:{CHANNEL}"
    assert preferences_get(brand=brand, contact=people["ada"]).unsubscribed_all["email"] is True


def test_nothing_is_done_when_there_is_no_drift(connector, people, fake, runs_published):
    drifted(fake)
    run_now(connector)
    calls, events = len(fake.calls), Event.objects.count()

    again = run_now(connector)

    assert again.drift == {}
    assert again.repaired == {}
    assert Event.objects.count() == events  # no connector.drift_repaired
    assert all(method == "GET" for method, _path in fake.calls[calls:])  # reads only
    assert len(fake.calls[calls:]) == 2


def test_a_throttled_read_is_waited_out(connector, people, fake, runs_published, monkeypatch):
    drifted(fake)
    naps: list[float] = []
    monkeypatch.setattr(reconcile_module.time, "sleep", naps.append)
    fake.steady_per_minute = len(fake._calls) + 1  # the next read is the window's last

    def widen(seconds: float) -> None:
        naps.append(seconds)
        fake.steady_per_minute = 10_000  # the window moved on

    monkeypatch.setattr(reconcile_module.time, "sleep", widen)
    run = run_now(connector)
    assert naps == [1.0]  # Klaviyo's Retry-After
    assert run.repaired == run.drift
    assert sum(run.drift.values()) == 4


def test_a_second_run_while_one_runs_is_a_409_problem(connector, make_client, brand, runs_published):
    api = make_client(brand, [Scope.ADMIN])
    first = api.post(f"/api/v1/connectors/{connector.public_id}/reconcile")
    assert first.status_code == 202, first.content
    assert first.json()["status"] == "running"
    second = api.post(f"/api/v1/connectors/{connector.public_id}/reconcile")
    assert second.status_code == 409
    assert second.json()["type"] == "urn:candor:problem:connector-run-running"
    assert runs_published == [("connector_reconcile_run", (ReconcileRun.objects.get().pk,))]
    [entry] = AuditEntry.objects.filter(action="connector.reconcile_started")
    assert (entry.target_id, entry.after) == (
        connector.public_id,
        {"run": first.json()["id"], "trigger": "api"},
    )


def test_the_report_through_the_api(connector, people, fake, make_client, brand, runs_published):
    api = make_client(brand, [Scope.ADMIN])
    assert api.get(f"/api/v1/connectors/{connector.public_id}/reconcile").status_code == 404
    drifted(fake)
    run = run_now(connector)
    reply = api.get(f"/api/v1/connectors/{connector.public_id}/reconcile")
    assert reply.status_code == 200
    body = reply.json()
    assert (body["id"], body["status"], body["contacts"], body["drift"], body["repaired"]) == (
        run.public_id,
        "succeeded",
        5,
        run.drift,
        run.repaired,
    )
    assert "@" not in reply.content.decode()  # external ids, never addresses


def test_the_schedule_starts_one_run_per_active_connector_and_none_twice(connector, runs_published, settings):
    from sync.delivery.connectors.reconcile import connectors_reconcile

    assert "connectors-reconcile" in settings.CELERY_BEAT_SCHEDULE
    assert connectors_reconcile() == 1
    assert connectors_reconcile() == 0  # one is running
    run = ReconcileRun.objects.get()
    assert (run.trigger, run.status) == ("schedule", "running")
    assert not AuditEntry.objects.filter(action="connector.reconcile_started").exists()
    assert runs_published == [("connector_reconcile_run", (run.pk,))]


def test_a_disabled_connector_is_not_reconciled_on_schedule(connector, runs_published, brand):
    from sync.delivery.connectors.reconcile import connectors_reconcile
    from sync.models import Endpoint

    Endpoint.objects.filter(pk=connector.endpoint_id).update(status="disabled")
    assert connectors_reconcile() == 0


def test_a_run_whose_worker_died_is_resumed(connector, people, fake, runs_published, settings):
    from datetime import timedelta

    from django.utils import timezone

    from sync.delivery.connectors.reconcile import reconciles_resume

    drifted(fake)
    run = reconcile_start(connector=connector, trigger="api", actor=TEST_ACTOR)
    assert reconciles_resume() == 0  # just started: its message is on its way
    past = timezone.now() - timedelta(seconds=settings.CONNECTOR_RUN_LEASE_SECONDS + 1)
    ReconcileRun.objects.filter(pk=run.pk).update(updated_at=past, leased_until=past)
    runs_published.clear()
    assert reconciles_resume() == 1
    assert runs_published == [("connector_reconcile_run", (run.pk,))]
    assert reconcile_run(run_id=run.pk) == "succeeded"


def test_the_command_prints_the_report(connector, people, fake, runs_published):
    from io import StringIO

    from django.core.management import call_command

    drifted(fake)
    out = StringIO()
    call_command("connector_reconcile", connector.public_id, stdout=out)
    run = ReconcileRun.objects.get()
    assert out.getvalue().startswith(f"{run.public_id} succeeded: ")
    assert '"unknown_in_vendor": 1' in out.getvalue()
    assert run.trigger == "command"
