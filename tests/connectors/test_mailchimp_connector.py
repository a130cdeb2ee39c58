"""The Mailchimp connector against a faithful local fake: the fake's refusals, configuration and
its checks against the account, push (exact member state, opt-out winning, batch size), and the
reconciler's adapter methods against drift injected into the fake."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from django.utils import timezone

from brands.models import Brand, Scope
from consent.models import Purpose
from consent.services import contact_upsert
from preferences.models import Topic
from preferences.services import SubscriptionChange, preferences_update
from sync.delivery import batches
from sync.delivery.connectors.crypto import credentials_decrypt
from sync.delivery.connectors.mailchimp import MailchimpAdapter
from sync.delivery.connectors.mailchimp_api import subscriber_hash
from sync.delivery.connectors.vendors import Item, Target
from sync.delivery.fanout import endpoint_fanout
from sync.models import Attempt, Connector, Delivery
from sync.outbox.contact_state import ContactState
from tests.actors import TEST_ACTOR
from tests.conftest import current_version
from tests.connectors.support import drain, grant, withdraw
from tests.fakes.mailchimp import KEY, FakeMailchimp
from tests.sync.webhook_support import published
from tests.sync.worker_support import wait_until

__all__ = ["published"]

LIST = "a1b2c3d4e5"
OTHER_LIST = "f6e5d4c3b2"
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fake(settings: Any) -> Iterator[FakeMailchimp]:
    settings.WEBHOOK_ALLOW_PRIVATE = True
    settings.WEBHOOK_RETRY_DELAYS = [1, 1, 1, 1, 1, 1, 1, 1]
    fake = FakeMailchimp()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def admin_api(brand: Brand, make_client: Any) -> Any:
    return make_client(brand, [Scope.ADMIN])


@pytest.fixture
def topics(brand: Brand, purpose: Purpose) -> list[Topic]:
    from preferences.topics import topic_create

    return [
        topic_create(actor=TEST_ACTOR, brand=brand, slug=slug, name=slug, purpose=purpose, channels=["email"])
        for slug in ("newsletter", "offers")
    ]


MAPPING = {
    "lists": [
        {"list": LIST, "purpose": "email-marketing", "marketing_permission": "perm01"},
        {"list": LIST, "topic": "newsletter", "interest": "int111"},
        {"list": LIST, "topic": "offers", "interest": "int222"},
    ]
}


def body(fake: FakeMailchimp, **overrides: Any) -> dict[str, Any]:
    return {
        "vendor": "mailchimp",
        "name": "Main audience",
        "credentials": {"api_key": KEY, "webhook_secret": "s3cret-0123456789abcdef"},
        "mapping": {"lists": [{"list": LIST, "purpose": "email-marketing"}]},
        "api_base_url": fake.base_url,
        **overrides,
    }


def connect(admin_api: Any, fake: FakeMailchimp, **overrides: Any) -> Connector:
    reply = admin_api.post("/api/v1/connectors", body(fake, **overrides), format="json")
    assert reply.status_code == 201, reply.content
    return Connector.objects.select_related("endpoint").get(public_id=reply.json()["id"])


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"anyone:{key}".encode()).decode()}


# --- The fake refuses what Mailchimp refuses ---------------------------------------------------


def test_the_fake_refuses_a_missing_bad_or_other_data_centres_key(fake):
    url = f"{fake.base_url}/3.0/lists"
    missing = httpx.get(url)
    assert missing.status_code == 401
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert missing.json()["title"] == "API Key Missing"
    assert set(missing.json()) == {"type", "title", "status", "detail", "instance"}
    wrong = httpx.get(url, headers=basic("ffffffffffffffffffffffffffffffff-us21"))
    assert (wrong.status_code, wrong.json()["title"]) == (401, "API Key Invalid")
    fake.api_keys.add("0123456789abcdef0123456789abcdef-us6")
    other_dc = httpx.get(url, headers=basic("0123456789abcdef0123456789abcdef-us6"))
    assert other_dc.status_code == 401
    assert "wrong datacenter" in other_dc.json()["detail"]
    assert httpx.get(url, headers=basic(KEY)).status_code == 200


def test_the_fake_refuses_a_bad_body_and_too_many_members(fake):
    url = f"{fake.base_url}/3.0/lists/{LIST}"
    assert httpx.post(url, content=b"{nope", headers=basic(KEY)).json()["title"] == "JSON Parse Exception"
    bad = httpx.post(
        url, json={"members": [{"email_address": "a@example.com", "status": "maybe"}]}, headers=basic(KEY)
    )
    assert bad.status_code == 400
    assert bad.json()["errors"] == [
        {"field": "members[0].status", "message": "Value is not one of the enum values."}
    ]
    no_status = httpx.post(url, json={"members": [{"email_address": "a@example.com"}]}, headers=basic(KEY))
    assert no_status.json()["errors"][0]["field"] == "members[0].status"
    many = [{"email_address": f"p{i}@example.com", "status": "subscribed"} for i in range(501)]
    too_many = httpx.post(url, json={"members": many}, headers=basic(KEY))
    assert too_many.status_code == 400
    assert too_many.json()["errors"][0]["field"] == "members"
    assert (
        httpx.post(f"{fake.base_url}/3.0/lists/nolist", json={"members": []}, headers=basic(KEY)).status_code
        == 404
    )
    assert fake.members == {}
    # Per-member refusals are a 200 naming the member; the others are applied.
    mixed = httpx.post(
        url,
        json={
            "members": [
                {"email_address": "not-an-address", "status": "subscribed"},
                {"email_address": "b@example.com", "status": "subscribed", "interests": {"nope": True}},
                {"email_address": "c@example.com", "status": "subscribed"},
            ]
        },
        headers=basic(KEY),
    ).json()
    assert [e["email_address"] for e in mixed["errors"]] == ["not-an-address", "b@example.com"]
    assert "looks fake or invalid" in mixed["errors"][0]["error"]
    assert fake.statuses(LIST) == {"c@example.com": "subscribed"}
    existing = httpx.post(
        url,
        json={"members": [{"email_address": "c@example.com", "status": "unsubscribed"}]},
        headers=basic(KEY),
    ).json()
    assert existing["errors"][0]["error_code"] == "ERROR_CONTACT_EXISTS"  # update_existing false
    assert fake.statuses(LIST) == {"c@example.com": "subscribed"}


def test_the_fake_will_not_resubscribe_a_person_who_left_but_allows_pending(fake):
    fake.person_unsubscribes(LIST, "ada@example.com")
    answer = httpx.post(
        f"{fake.base_url}/3.0/lists/{LIST}",
        json={
            "members": [{"email_address": "ada@example.com", "status": "subscribed"}],
            "update_existing": True,
        },
        headers=basic(KEY),
    ).json()
    assert "compliance state" in answer["errors"][0]["error"]
    assert fake.member(LIST, "ada@example.com").status == "unsubscribed"
    pending = {
        "members": [{"email_address": "ada@example.com", "status": "pending"}],
        "update_existing": True,
    }
    assert (
        httpx.post(f"{fake.base_url}/3.0/lists/{LIST}", json=pending, headers=basic(KEY)).json()["errors"]
        == []
    )
    assert fake.member(LIST, "ada@example.com").status == "pending"


def test_the_fake_allows_ten_connections_per_key_then_429(fake):
    fake.gate = threading.Event()  # admitted calls stay open until the gate opens
    answers: list[int] = []

    def call() -> None:
        answers.append(httpx.get(f"{fake.base_url}/3.0/lists", headers=basic(KEY), timeout=30).status_code)

    threads = [threading.Thread(target=call) for _ in range(12)]
    for thread in threads:
        thread.start()
    wait_until(lambda: fake.refused == 2, what="two calls beyond ten are refused", timeout=20, sweep=False)
    fake.gate.set()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [200] * 10 + [429] * 2
    fake.gate = None
    fake.throttle(1)
    storm = httpx.post(f"{fake.base_url}/3.0/lists/{LIST}", json={"members": []}, headers=basic(KEY))
    assert storm.status_code == 429
    assert storm.json()["title"] == "Too Many Requests"
    assert "retry-after" not in storm.headers


# --- Configuration --------------------------------------------------------------------------------


def test_create_checks_the_mapping_against_the_account_and_keeps_the_key_sealed(
    admin_api, topics, fake, caplog
):
    connector = connect(admin_api, fake, mapping=MAPPING)
    assert credentials_decrypt(connector.credentials)["api_key"] == KEY
    assert connector.endpoint.url == fake.base_url
    reply = admin_api.post(f"/api/v1/connectors/{connector.public_id}/test").json()
    assert reply["ok"] is True
    ids = [row["id"] for row in reply["lists"]]
    assert ids[:2] == [LIST, OTHER_LIST]
    assert f"{LIST}:interest:int111" in ids
    assert f"{LIST}:permission:perm02" not in ids  # permissions are read only when mapped (from a member)
    assert KEY not in json.dumps(reply)
    assert KEY not in caplog.text


@pytest.mark.parametrize(
    ("entry", "unknown"),
    [
        ({"list": "zzzzzzzzzz", "purpose": "email-marketing"}, "zzzzzzzzzz"),
        ({"list": LIST, "topic": "newsletter", "interest": "int999"}, f"{LIST}:interest:int999"),
        ({"list": OTHER_LIST, "topic": "newsletter", "interest": "int111"}, f"{OTHER_LIST}:interest:int111"),
        ({"list": OTHER_LIST, "purpose": "email-marketing", "marketing_permission": "perm01"}, "perm01"),
    ],
)
def test_ids_the_account_does_not_have_are_a_422_naming_them(admin_api, topics, fake, entry, unknown):
    response = admin_api.post("/api/v1/connectors", body(fake, mapping={"lists": [entry]}), format="json")
    assert response.status_code == 422, response.content
    assert unknown in response.json()["errors"]["mapping"][0]
    assert not Connector.objects.exists()


def test_a_permission_id_is_checked_against_a_member_of_the_audience(admin_api, topics, fake):
    fake.put(LIST, "someone@example.com", "subscribed")
    entry = {"list": LIST, "purpose": "email-marketing", "marketing_permission": "perm99"}
    response = admin_api.post("/api/v1/connectors", body(fake, mapping={"lists": [entry]}), format="json")
    assert response.status_code == 422
    assert f"{LIST}:permission:perm99" in response.json()["errors"]["mapping"][0]
    entry["marketing_permission"] = "perm02"
    assert (
        admin_api.post(
            "/api/v1/connectors", body(fake, mapping={"lists": [entry]}), format="json"
        ).status_code
        == 201
    )


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"credentials": {"api_key": "ffffffffffffffffffffffffffffffff-us21"}}, "credentials"),  # 401
        ({"credentials": {"api_key": "0123456789abcdef0123456789abcdef"}}, "credentials"),  # no dc
        ({"credentials": {"api_key": KEY, "webhook_secret": "short"}}, "credentials"),
        ({"credentials": {"api_key": KEY, "token": "x"}}, "credentials"),
        ({"mapping": {"lists": []}}, "mapping.lists"),
        ({"mapping": {"lists": [{"list": LIST, "purpose": "nope"}]}}, "mapping.lists.0"),
        ({"mapping": {"lists": [{"list": LIST, "interest": "int111"}]}}, "mapping.lists.0"),
        (
            {"mapping": {"lists": [{"list": LIST, "purpose": "email-marketing", "channels": ["sms"]}]}},
            "mapping.lists.0",
        ),
        (
            {"mapping": {"lists": [{"list": LIST, "purpose": "email-marketing", "group": "x"}]}},
            "mapping.lists.0",
        ),
        ({"mapping": {"audiences": []}}, "mapping"),
    ],
)
def test_invalid_configuration_is_a_precise_422(admin_api, topics, fake, overrides, field):
    response = admin_api.post("/api/v1/connectors", body(fake, **overrides), format="json")
    assert response.status_code == 422, response.content
    assert field in response.json()["errors"]
    assert not Connector.objects.exists()


def test_the_host_comes_from_the_keys_data_centre():
    adapter = MailchimpAdapter()
    target = Target(public_id="", base_url=adapter.default_base_url, credentials={"api_key": KEY}, mapping={})
    assert adapter.root(target) == "https://us21.api.mailchimp.com/3.0"
    target.base_url = "http://127.0.0.1:9999"
    assert adapter.root(target) == "http://127.0.0.1:9999/3.0"


# --- Push -----------------------------------------------------------------------------------------


def test_consent_writes_reach_the_member_exactly(admin_api, brand, purpose, topics, contact, fake, published):
    connector = connect(admin_api, fake, mapping=MAPPING)
    preferences_update(
        brand=brand,
        external_id="cust-1",
        method="api",
        recorded_by="test",
        subscriptions=[
            SubscriptionChange(
                topic="newsletter",
                channel="email",
                status="subscribed",
                notice_version=current_version(purpose).public_id,
            ),
            SubscriptionChange(topic="offers", channel="email", status="unsubscribed"),
        ],
    )
    grant(brand, purpose)
    endpoint_fanout(endpoint_id=connector.endpoint_id)
    drain(connector.endpoint)
    member = fake.member(LIST, "ada@example.com")
    assert member is not None
    assert (member.status, member.interests, member.permissions) == (
        "subscribed",
        {"int111": True, "int222": False},
        {"perm01": True, "perm02": False},
    )
    withdraw(brand, purpose)
    endpoint_fanout(endpoint_id=connector.endpoint_id)
    drain(connector.endpoint)
    member = fake.member(LIST, "ada@example.com")
    assert (member.status, member.interests, member.permissions) == (
        "unsubscribed",
        {"int111": False, "int222": False},
        {"perm01": False, "perm02": False},
    )
    assert set(Delivery.objects.filter(endpoint=connector.endpoint).values_list("status", flat=True)) == {
        "succeeded"
    }
    last = fake.requests[-1]["body"]
    assert last == {
        "members": [
            {
                "email_address": "ada@example.com",
                "status_if_new": "unsubscribed",
                "status": "unsubscribed",
                "interests": {"int111": False, "int222": False},
                "marketing_permissions": [{"marketing_permission_id": "perm01", "enabled": False}],
            }
        ],
        "update_existing": True,
    }
    log = admin_api.get(f"/api/v1/connectors/{connector.public_id}/deliveries").json()["deliveries"]
    assert KEY not in json.dumps(log)


@pytest.mark.parametrize(
    ("leave", "status"), [("person_unsubscribes", "unsubscribed"), ("bounces", "cleaned")]
)
def test_an_older_yes_does_not_resubscribe_a_person_who_left_in_mailchimp(
    admin_api, brand, purpose, contact, fake, published, leave, status
):
    connector = connect(admin_api, fake)
    grant(brand, purpose)
    endpoint_fanout(endpoint_id=connector.endpoint_id)
    assert fake.statuses(LIST) == {"ada@example.com": "subscribed"}
    # Ada leaves in Mailchimp; Candor has not heard yet, and a change of hers is pushed.
    getattr(fake, leave)(LIST, "ada@example.com")
    contact_upsert(brand=brand, external_id="cust-1", email="ada@example.com", phone="+4915112345678")
    grant(brand, purpose)
    endpoint_fanout(endpoint_id=connector.endpoint_id)
    drain(connector.endpoint)
    assert fake.statuses(LIST) == {"ada@example.com": status}
    assert set(Delivery.objects.filter(endpoint=connector.endpoint).values_list("status", flat=True)) == {
        "succeeded"
    }
    last = Attempt.objects.filter(delivery__endpoint=connector.endpoint).order_by("-id").first()
    assert "compliance state" in last.response_excerpt


def test_a_withdrawal_wins_over_an_older_subscribe_not_sent_yet(
    admin_api, brand, purpose, contact, fake, published
):
    connector = connect(admin_api, fake)
    grant(brand, purpose)
    withdraw(brand, purpose)
    endpoint_fanout(endpoint_id=connector.endpoint_id)
    drain(connector.endpoint)
    sent = [m["status"] for r in fake.requests for m in r["body"]["members"]]
    assert sent == ["unsubscribed", "unsubscribed"]  # never "subscribed"
    assert fake.statuses(LIST) == {"ada@example.com": "unsubscribed"}


def test_a_newer_yes_resubscribes_a_member_candor_itself_unsubscribed(
    admin_api, brand, purpose, contact, fake, published
):
    connector = connect(admin_api, fake)
    for change in (grant, withdraw, grant):
        change(brand, purpose)
        endpoint_fanout(endpoint_id=connector.endpoint_id)
        drain(connector.endpoint)
    sent = [m["status"] for r in fake.requests for m in r["body"]["members"]]
    assert sent == ["subscribed", "unsubscribed", "subscribed"]
    assert fake.statuses(LIST) == {
        "ada@example.com": "subscribed"
    }  # an API unsubscribe is no compliance state


def state(n: int, **kwargs: Any) -> ContactState:
    return ContactState(
        contact_ref=n,
        external_id=f"c{n}",
        email=f"p{n}@example.com",
        phone=None,
        consents=kwargs.pop("consents", {"email-marketing": "granted"}),
        **kwargs,
    )


def test_mailchimp_down_for_a_while_loses_nothing_and_sends_no_one_twice(
    admin_api, brand, purpose, fake, published
):
    connector = connect(admin_api, fake)
    people = {f"c{i}": f"p{i}@example.com" for i in range(5)}
    for external_id, email in people.items():
        contact_upsert(brand=brand, external_id=external_id, email=email)
        grant(brand, purpose, external_id=external_id)
    fake.down = True
    endpoint_fanout(endpoint_id=connector.endpoint_id)
    for _ in range(3):  # retries come due while it is down (simulated time: drain makes them due)
        pending = Delivery.objects.filter(endpoint=connector.endpoint, status="pending")
        assert pending.count() == 5
        drain_once(connector)
    attempts = Attempt.objects.filter(delivery__endpoint=connector.endpoint)
    assert {a.status_code for a in attempts} == {503}
    assert fake.requests == []
    fake.down = False
    drain(connector.endpoint)
    assert set(Delivery.objects.filter(endpoint=connector.endpoint).values_list("status", flat=True)) == {
        "succeeded"
    }
    assert fake.statuses(LIST) == dict.fromkeys(people.values(), "subscribed")
    sent = sorted(m["email_address"] for r in fake.requests for m in r["body"]["members"])
    assert sent == sorted(people.values())


def drain_once(connector: Connector) -> None:
    """One round of the worker once every retry is due."""
    pending = list(Delivery.objects.filter(endpoint=connector.endpoint, status="pending"))
    Delivery.objects.filter(pk__in=[d.pk for d in pending]).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
    for delivery in pending:
        batches.delivery_send(delivery_id=delivery.pk)


def test_a_batch_is_cut_at_500_members_a_call(fake):
    adapter = MailchimpAdapter()
    target = Target(
        public_id="con_x",
        base_url=fake.base_url,
        credentials={"api_key": KEY},
        mapping={"lists": [{"list": LIST, "purpose": "email-marketing"}]},
    )
    items = [Item(delivery_id=n, type="consent.granted", contact_ref=n, state=state(n)) for n in range(501)]
    results = adapter.push(target, items, client=httpx.Client())
    assert all(r.succeeded for r in results)
    assert [len(r["body"]["members"]) for r in fake.requests] == [500, 1]
    assert len(fake.statuses(LIST)) == 501
    assert adapter.max_batch == 500


def test_a_429_fails_the_batch_with_a_delay_and_a_retry_pushes_each_once(fake):
    adapter = MailchimpAdapter()
    mapping = {
        "lists": [
            {"list": LIST, "purpose": "email-marketing"},
            {"list": OTHER_LIST, "purpose": "email-marketing"},
        ]
    }
    target = Target(public_id="con_x", base_url=fake.base_url, credentials={"api_key": KEY}, mapping=mapping)
    items = [Item(delivery_id=n, type="consent.granted", contact_ref=n, state=state(n)) for n in range(3)]
    fake.throttle(1)
    results = adapter.push(target, items, client=httpx.Client())
    assert [(r.succeeded, r.status_code, r.retry_after, r.permanent) for r in results] == [
        (False, 429, 2.0, False)
    ] * 3
    assert fake.requests == []
    results = adapter.push(target, items, client=httpx.Client())
    assert all(r.succeeded for r in results)
    assert [len(r["body"]["members"]) for r in fake.requests] == [3, 3]


def test_a_member_mailchimp_refuses_fails_for_good_and_the_others_succeed(fake):
    adapter = MailchimpAdapter()
    target = Target(
        public_id="con_x",
        base_url=fake.base_url,
        credentials={"api_key": KEY},
        mapping={"lists": [{"list": LIST, "purpose": "email-marketing"}]},
    )
    bad = ContactState(
        contact_ref=9,
        external_id="c9",
        email="not-an-address",
        phone=None,
        consents={"email-marketing": "granted"},
    )
    items = [
        Item(delivery_id=1, type="consent.granted", contact_ref=1, state=state(1)),
        Item(delivery_id=2, type="consent.granted", contact_ref=9, state=bad),
        Item(delivery_id=3, type="contact.erased", contact_ref=5, state=None),
    ]
    results = adapter.push(target, items, client=httpx.Client())
    assert [(r.succeeded, r.permanent) for r in results] == [(True, False), (False, True), (True, False)]
    assert "looks fake" in results[1].excerpt


def test_the_whole_channel_list_only_ever_says_no(fake):
    adapter = MailchimpAdapter()
    mapping = {"lists": [{"list": OTHER_LIST}]}
    target = Target(public_id="con_x", base_url=fake.base_url, credentials={"api_key": KEY}, mapping=mapping)
    yes = state(1)
    no = state(2, unsubscribed_all={"email": True})
    results = adapter.push(
        target,
        [
            Item(delivery_id=1, type="x", contact_ref=1, state=yes),
            Item(delivery_id=2, type="x", contact_ref=2, state=no),
        ],
        client=httpx.Client(),
    )
    assert all(r.succeeded for r in results)
    assert fake.statuses(OTHER_LIST) == {"p2@example.com": "unsubscribed"}


# --- Reconcile ------------------------------------------------------------------------------------

RECONCILE_MAPPING = {
    "lists": [
        {"list": LIST, "purpose": "email-marketing", "marketing_permission": "perm01"},
        {"list": LIST, "topic": "newsletter", "interest": "int111"},
    ]
}


def test_expected_follows_the_push_rule():
    adapter = MailchimpAdapter()
    yes = state(1, subscriptions={("newsletter", "email"): "subscribed"})
    assert adapter.expected(RECONCILE_MAPPING, yes) == {
        f"list:{LIST}": "subscribed",
        f"list:{LIST}:interest:int111": "subscribed",
        f"list:{LIST}:permission:perm01": "subscribed",
    }
    newsletter_off = state(1, subscriptions={("newsletter", "email"): "unsubscribed"})
    assert adapter.expected(RECONCILE_MAPPING, newsletter_off) == {
        f"list:{LIST}": "subscribed",
        f"list:{LIST}:interest:int111": "unsubscribed",
        f"list:{LIST}:permission:perm01": "subscribed",
    }
    suppressed = state(1, suppressed=True, subscriptions={("newsletter", "email"): "subscribed"})
    assert set(adapter.expected(RECONCILE_MAPPING, suppressed).values()) == {"unsubscribed"}
    unknown = state(1, consents={}, subscriptions={("newsletter", "email"): "not_set"})
    assert set(adapter.expected(RECONCILE_MAPPING, unknown).values()) == {None}


def seeded(fake: FakeMailchimp) -> tuple[MailchimpAdapter, Target, list[ContactState]]:
    """Three contacts pushed as Candor holds them: all yes on everything."""
    adapter = MailchimpAdapter()
    target = Target(
        public_id="con_x", base_url=fake.base_url, credentials={"api_key": KEY}, mapping=RECONCILE_MAPPING
    )
    states = [state(n, subscriptions={("newsletter", "email"): "subscribed"}) for n in range(3)]
    items = [Item(delivery_id=s.contact_ref, type="x", contact_ref=s.contact_ref, state=s) for s in states]
    assert all(r.succeeded for r in adapter.push(target, items, client=httpx.Client()))
    return adapter, target, states


def test_vendor_read_finds_the_drift_injected_into_the_fake(fake):
    adapter, target, states = seeded(fake)
    client = httpx.Client()
    assert all(
        adapter.vendor_read(target, states, client=client)[s.contact_ref]
        == adapter.expected(target.mapping, s)
        for s in states
    )
    fake.person_unsubscribes(LIST, "p0@example.com")  # unsubscribed in Mailchimp
    fake.put(LIST, "p1@example.com", "subscribed", interests={"int111": False})  # an import switched it off
    with fake._lock:
        fake.members.pop((LIST, subscriber_hash("p2@example.com")))  # deleted
    nobody = ContactState(contact_ref=7, external_id="c7", email=None, phone="+4915112345678")
    read = adapter.vendor_read(target, [*states, nobody], client=client)
    assert read[0] == dict.fromkeys(adapter.expected(target.mapping, states[0]), "unsubscribed")
    assert read[1][f"list:{LIST}:interest:int111"] == "unsubscribed"
    assert read[1][f"list:{LIST}"] == "subscribed"
    assert set(read[2].values()) == {"unknown"}
    assert set(read[7].values()) == {"unknown"}


def test_vendor_read_pages_the_list_when_that_takes_fewer_calls(fake):
    adapter, target, states = seeded(fake)
    calls: list[str] = []
    client = httpx.Client(event_hooks={"request": [lambda request: calls.append(request.url.path)]})
    read = adapter.vendor_read(target, states, client=client)
    assert calls == [f"/3.0/lists/{LIST}", f"/3.0/lists/{LIST}/members"]  # 3 members: one page < 3 GETs
    assert read[0][f"list:{LIST}"] == "subscribed"
    calls.clear()
    adapter.vendor_read(target, states[:1], client=client)
    assert calls == [f"/3.0/lists/{LIST}", f"/3.0/lists/{LIST}/members/{subscriber_hash('p0@example.com')}"]


def test_slot_signal_names_what_the_slot_carries():
    adapter = MailchimpAdapter()
    someone = state(1)
    signal = adapter.slot_signal(RECONCILE_MAPPING, f"list:{LIST}", someone, event_id="rec-1")
    assert (
        signal.kind,
        signal.channel,
        signal.email,
        signal.topics,
        signal.purposes,
        signal.whole_channel,
    ) == (
        "unsubscribed",
        "email",
        "p1@example.com",
        ("newsletter",),
        ("email-marketing",),
        False,
    )
    interest = adapter.slot_signal(
        RECONCILE_MAPPING, f"list:{LIST}:interest:int111", someone, event_id="rec-2"
    )
    assert (interest.topics, interest.purposes) == (("newsletter",), ())
    whole = adapter.slot_signal(
        {"lists": [{"list": OTHER_LIST}]}, f"list:{OTHER_LIST}", someone, event_id="rec-3"
    )
    assert whole.whole_channel is True


def test_slots_turn_off_changes_exactly_those_slots(fake):
    adapter, target, states = seeded(fake)
    results = adapter.slots_turn_off(
        target,
        [
            (states[0], f"list:{LIST}:interest:int111"),
            (states[1], f"list:{LIST}"),
            (states[0], f"list:{LIST}:permission:perm01"),
        ],
        client=httpx.Client(),
    )
    assert [r.succeeded for r in results] == [True, True, True]
    first, second, third = (fake.member(LIST, f"p{n}@example.com") for n in range(3))
    assert (first.status, first.interests, first.permissions) == (
        "subscribed",
        {"int111": False},
        {"perm01": False, "perm02": False},
    )
    assert (second.status, second.interests, second.permissions) == (
        "unsubscribed",
        {"int111": False},
        {"perm01": False, "perm02": False},
    )
    assert (third.status, third.interests, third.permissions) == (
        "subscribed",
        {"int111": True},
        {"perm01": True, "perm02": False},
    )
    assert len(fake.requests) == 2  # the seed, then one call for the list
