"""The owners' connector pages: the list (vendor, name, status, last delivery) and a connector's
page (facts, inbound URL or polling, a connection test against the Klaviyo fake, disable, enable
and delete through the API's services, its delivery log with a redelivery, and the opt-outs its
vendor sent), with their exact rows and audit entries, what a refused request leaves alone, no
credentials in any page and no query count that grows with the rows shown."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import formats, timezone

from brands.models import Brand
from consent.models import Contact
from consent.services import contact_upsert
from sync import tasks
from sync.delivery.connectors.crypto import credentials_encrypt
from sync.delivery.connectors.inbound import signals_apply_pending
from sync.delivery.connectors.services import connector_create
from sync.models import Attempt, Connector, Delivery, Endpoint, InboundSignal
from tests.actors import TEST_ACTOR, audit_mark, audit_rows
from tests.fakes.klaviyo import FakeKlaviyo
from tests.fakes.klaviyo_webhooks import klaviyo_event, klaviyo_webhook

pytestmark = pytest.mark.django_db

KEY = "pk_test_0123456789abcdef"
SECRET = "whsecret-console-0123456789"
CONNECTORS = "/console/acme/connectors/"
OWNER = "owner@acme.test"
UNSUBSCRIBED_EMAIL = "event:klaviyo.unsubscribed_from_email_marketing"
MAPPING = {"lists": [{"list": "LstNews", "purpose": "email-marketing", "channels": ["email"]}]}


@pytest.fixture
def fake(settings: Any) -> Iterator[FakeKlaviyo]:
    settings.WEBHOOK_ALLOW_PRIVATE = True
    settings.PUBLIC_BASE_URL = "https://candor.example"
    fake = FakeKlaviyo()
    fake.base_url = fake.start()  # type: ignore[attr-defined]
    yield fake
    fake.stop()


def connect(brand: Brand, fake: FakeKlaviyo, name: str = "Main account") -> Connector:
    connector = connector_create(
        brand=brand,
        actor=TEST_ACTOR,
        vendor="klaviyo",
        name=name,
        credentials={"api_key": KEY, "webhook_secret": SECRET},
        mapping=MAPPING,
        api_base_url=fake.base_url,  # type: ignore[attr-defined]
    )
    return Connector.objects.select_related("endpoint").get(pk=connector.pk)


@pytest.fixture
def klaviyo(brand, purpose, fake) -> Connector:
    return connect(brand, fake)


@pytest.fixture
def owner(brand, make_staff, signed_in):
    return signed_in(make_staff(brand, "owner"))


@pytest.fixture
def published(monkeypatch):
    """The deliveries handed to the broker to send (nothing reaches a broker)."""
    sent: list[tuple[int, ...]] = []
    monkeypatch.setattr(tasks.delivery_send, "apply_async", lambda *a, **kw: sent.append(tuple(kw["args"])))
    return sent


def page_of(connector: Connector) -> str:
    return f"{CONNECTORS}{connector.public_id}/"


def act(client, connector: Connector, action: str, **fields):
    return client.post(page_of(connector), {"action": action, "connector": connector.public_id, **fields})


def make_delivery(endpoint: Endpoint, n: int, *, status: str = "failed", code: int | None = 500) -> Delivery:
    delivery = Delivery.objects.create(
        endpoint=endpoint,
        msg_id=f"msg_{n}",
        type="consent.withdrawn",
        body='{"type": "consent.withdrawn", "data": {"contact": "cust-secret-body"}}',
        status=status,
        attempt_count=1,
        next_attempt_at=timezone.now(),
    )
    Attempt.objects.create(
        delivery=delivery,
        number=1,
        started_at=timezone.now() - timedelta(minutes=1),
        duration_ms=120 + n,
        status_code=code,
        response_excerpt="vendor-said-something",
        outcome="failed" if status == "failed" else "succeeded",
    )
    return delivery


def make_signal(connector: Connector, n: int, contact: Contact | None, **fields: Any) -> InboundSignal:
    values: dict[str, Any] = {
        "kind": "unsubscribed",
        "channel": "email",
        "outcome": "recorded" if contact else "unknown_contact",
        "received_at": datetime(2026, 12, 1, 9, 0, tzinfo=UTC) + timedelta(minutes=n),
        **fields,
    }
    return InboundSignal.objects.create(
        connector=connector, event_id=f"evt-{n}", contact_ref=contact.pk if contact else None, **values
    )


def cells(html: str, first: str) -> list[str]:
    """The text of each cell of the table row that starts with `first`."""
    row = re.search(rf"<tr>\s*<td>{re.escape(first)}</td>(.*?)</tr>", html, re.S)
    assert row is not None, first
    return [
        re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td>(.*?)</td>", row.group(1), re.S)
    ]


# --- The list -----------------------------------------------------------------------------------


def test_the_list_shows_each_connector_with_its_last_delivery_and_how_to_configure(
    brand, other_brand, owner, klaviyo, fake, make_purpose
):
    second = connect(brand, fake, name="Second account")
    make_delivery(klaviyo.endpoint, 1, status="failed")
    last = make_delivery(klaviyo.endpoint, 2, status="succeeded", code=202)
    Endpoint.objects.filter(pk=second.endpoint_id).update(status="disabled")
    make_purpose(other_brand, "email-marketing")
    theirs = connect(other_brand, fake, name="Their account")

    page = owner.get(CONNECTORS).content.decode()
    names = re.findall(r'<td><a href="/console/acme/connectors/(con_[\w-]+)/">([^<]+)</a></td>', page)
    assert names == [(klaviyo.public_id, "Main account"), (second.public_id, "Second account")]
    row = re.search(r"Main account</a></td>(.*?)</tr>", page, re.S)
    assert row is not None
    shown = [c.strip() for c in re.findall(r"<td>(.*?)</td>", row.group(1), re.S)]
    assert shown[:3] == ["Klaviyo", "Active", "Succeeded"]
    assert shown[3] == formats.date_format(timezone.localtime(last.created_at), "DATETIME_FORMAT")
    second_row = re.search(r"Second account</a></td>(.*?)</tr>", page, re.S)
    assert second_row is not None
    assert [c.strip() for c in re.findall(r"<td>(.*?)</td>", second_row.group(1), re.S)] == [
        "Klaviyo",
        "Disabled",
        "None yet",
        "–",
    ]
    assert theirs.public_id not in page
    assert "Their account" not in page
    assert "/api/v1/connectors" in page
    assert '<a href="/api/docs/">' in page
    assert "<form" not in page.split('<main id="main"')[1]  # no create form: the API configures them
    for secret in (KEY, SECRET):
        assert secret not in page


def test_the_lists_queries_do_not_grow_with_connectors_or_deliveries(brand, owner, klaviyo, fake):
    make_delivery(klaviyo.endpoint, 1)
    owner.get(CONNECTORS)  # warm the per-process caches (navigation, translations)
    with CaptureQueriesContext(connection) as few:
        assert owner.get(CONNECTORS).status_code == 200
    for n in range(2, 6):
        more = connect(brand, fake, name=f"Account {n}")
        for m in range(3):
            make_delivery(more.endpoint, 10 * n + m)
    with CaptureQueriesContext(connection) as many:
        page = owner.get(CONNECTORS).content.decode()
    assert page.count('href="/console/acme/connectors/con_') == 5
    assert len(many.captured_queries) == len(few.captured_queries)


# --- One connector ------------------------------------------------------------------------------


def test_a_connectors_page_shows_its_facts_and_inbound_url_never_its_credentials(owner, klaviyo, fake):
    response = owner.get(page_of(klaviyo))
    assert response.status_code == 200
    page = response.content.decode()
    facts = dict(re.findall(r"<dt>([^<]+)</dt>\s*<dd>(.*?)</dd>", page, re.S))
    assert facts["Vendor"] == "Klaviyo"
    assert facts["Name"] == "Main account"
    assert facts["Identifier"] == f"<code>{klaviyo.public_id}</code>"
    assert facts["Host"] == fake.base_url  # type: ignore[attr-defined]
    assert facts["Status"].strip() == "Active"
    inbound = f"https://candor.example/hooks/klaviyo/{klaviyo.public_id}"
    assert f'<code id="inbound-url">{inbound}</code>' in page
    assert "Give this address to Klaviyo as a webhook" in page
    assert "No deliveries yet." in page
    assert "Klaviyo has told Candor of no opt-outs yet." in page
    for secret in (KEY, SECRET, klaviyo.credentials, klaviyo.endpoint.secret):
        assert secret not in page
    assert re.findall(r'name="action" value="(\w+)"', page) == ["language", "test", "disable", "delete"]


def test_a_polled_vendor_shows_when_it_was_last_asked_and_no_inbound_url(brand, owner):
    endpoint = Endpoint.objects.create(
        brand=brand, kind=Endpoint.Kind.CONNECTOR, url="https://acme.my.salesforce.com"
    )
    polled = Connector.objects.create(
        brand=brand,
        endpoint=endpoint,
        vendor="salesforce",
        name="CRM",
        credentials="not-a-token",
        polled_at=datetime(2026, 12, 3, 8, 30, tzinfo=UTC),
    )
    page = owner.get(page_of(polled)).content.decode()
    assert "inbound-url" not in page
    assert "/hooks/" not in page
    assert "Candor asks the vendor for them (polled); last asked Dec. 3, 2026, 8:30 a.m.." in page

    Connector.objects.filter(pk=polled.pk).update(polled_at=None)
    assert "polled); not asked yet." in owner.get(page_of(polled)).content.decode()


def test_mailchimps_inbound_url_names_where_its_secret_goes_never_the_secret(brand, owner, settings):
    settings.PUBLIC_BASE_URL = "https://candor.example"
    endpoint = Endpoint.objects.create(
        brand=brand, kind=Endpoint.Kind.CONNECTOR, url="https://us6.api.mailchimp.com/3.0"
    )
    sealed = credentials_encrypt(
        {"api_key": "0123456789abcdef0123456789abcdef-us6", "webhook_secret": "mc-s3cret-0123456789"}
    )
    unsigned = Connector.objects.create(
        brand=brand, endpoint=endpoint, vendor="mailchimp", name="Audience", credentials=sealed
    )
    page = owner.get(page_of(unsigned)).content.decode()
    inbound = f"https://candor.example/hooks/mailchimp/{unsigned.public_id}?secret=&lt;webhook_secret&gt;"
    assert f'<code id="inbound-url">{inbound}</code>' in page
    assert "mc-s3cret-0123456789" not in page


def test_testing_the_connection_shows_the_vendors_lists_and_writes_nothing(brand, owner, klaviyo, fake):
    mark = audit_mark()
    response = act(owner, klaviyo, "test")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Klaviyo accepted the credentials." in page
    listed = re.findall(r"<tr><td><code>(\w+)</code></td><td>([^<]+)</td></tr>", page)
    assert listed == [("LstNews", "Newsletter"), ("LstSms", "SMS club")]
    assert KEY not in page
    assert SECRET not in page
    assert audit_rows(brand, since_id=mark) == []

    fake.api_keys.clear()  # the key revoked in Klaviyo
    refused = act(owner, klaviyo, "test")
    assert refused.status_code == 200
    body = refused.content.decode()
    assert "Klaviyo refused the credentials or could not be reached:" in body
    assert "403" in body
    assert KEY not in body
    assert "LstNews" not in body
    assert audit_rows(brand, since_id=mark) == []
    klaviyo.endpoint.refresh_from_db()
    assert klaviyo.endpoint.status == "active"


def test_disabling_and_enabling(brand, owner, klaviyo):
    mark = audit_mark()
    response = act(owner, klaviyo, "disable")
    assert (response.status_code, response["Location"]) == (302, page_of(klaviyo))
    klaviyo.endpoint.refresh_from_db()
    assert (klaviyo.endpoint.status, klaviyo.endpoint.disabled_reason) == (
        "disabled",
        "Disabled in the console.",
    )
    assert act(owner, klaviyo, "disable").status_code == 302  # already disabled: nothing more
    page = owner.get(page_of(klaviyo)).content.decode()
    assert re.findall(r'name="action" value="(\w+)"', page) == ["language", "test", "enable", "delete"]
    assert "Disabled: <span>Disabled in the console.</span>" in re.sub(r"\s+", " ", page)
    # In German, the reason (as the API gives it, in English) is marked as English.
    owner.cookies["django_language"] = "de"
    german = re.sub(r"\s+", " ", owner.get(page_of(klaviyo)).content.decode())
    assert 'Deaktiviert: <span lang="en">Disabled in the console.</span>' in german
    assert "Verbindung testen" in german
    del owner.cookies["django_language"]

    assert act(owner, klaviyo, "enable").status_code == 302
    klaviyo.endpoint.refresh_from_db()
    assert (klaviyo.endpoint.status, klaviyo.endpoint.disabled_reason, klaviyo.endpoint.disabled_at) == (
        "active",
        "",
        None,
    )
    assert audit_rows(brand, since_id=mark) == [
        ("staff", OWNER, "connector.updated", "connector", klaviyo.public_id, {"status": "active"},
         {"status": "disabled"}, ""),
        ("staff", OWNER, "connector.updated", "connector", klaviyo.public_id, {"status": "disabled"},
         {"status": "active"}, ""),
    ]  # fmt: skip


def test_deleting_a_connector(brand, owner, klaviyo):
    make_delivery(klaviyo.endpoint, 1)
    mark = audit_mark()
    response = act(owner, klaviyo, "delete")
    assert (response.status_code, response["Location"]) == (302, CONNECTORS)
    assert not Connector.objects.exists()
    assert not Endpoint.objects.exists()
    assert not Delivery.objects.exists()
    assert audit_rows(brand, since_id=mark) == [
        ("staff", OWNER, "connector.deleted", "connector", klaviyo.public_id,
         {"vendor": "klaviyo", "name": "Main account", "status": "active"}, None, ""),
    ]  # fmt: skip
    assert owner.get(page_of(klaviyo)).status_code == 404


def test_an_action_the_vendor_cannot_take_is_shown_as_refused(brand, owner, monkeypatch):
    """A connector of a vendor whose adapter is not built: the service's 422, on the page."""
    from sync.delivery.connectors import registry

    monkeypatch.delitem(registry._ADAPTERS, "hubspot", raising=False)  # as before it was built
    endpoint = Endpoint.objects.create(
        brand=brand, kind=Endpoint.Kind.CONNECTOR, url="https://api.hubapi.com"
    )
    hubspot = Connector.objects.create(
        brand=brand, endpoint=endpoint, vendor="hubspot", name="CRM", credentials="x"
    )
    mark = audit_mark()
    response = act(owner, hubspot, "disable")
    assert response.status_code == 422
    assert "The hubspot connector is not available yet" in response.content.decode()
    endpoint.refresh_from_db()
    assert endpoint.status == "active"
    assert audit_rows(brand, since_id=mark) == []


def test_the_delivery_log_is_the_endpoints_table_in_keyset_pages(owner, klaviyo, brand, fake):
    made = [
        make_delivery(
            klaviyo.endpoint, n, status="succeeded" if n % 2 else "failed", code=202 if n % 2 else 429
        )
        for n in range(30)
    ]
    first = owner.get(page_of(klaviyo)).content.decode()
    shown = re.findall(r"<td><code>(dlv_[\w-]+)</code></td>", first)
    assert shown == [d.public_id for d in reversed(made)][:25]
    row = cells(first, f"<code>{made[29].public_id}</code>")
    assert row[0] == "consent.withdrawn"
    assert row[2:6] == ["Succeeded", "1", "202", "149 ms"]
    assert f'<input type="hidden" name="connector" value="{klaviyo.public_id}">' in first
    for secret_or_body in ("cust-secret-body", "vendor-said-something", KEY):
        assert secret_or_body not in first
    assert f'href="{page_of(klaviyo)}?before={made[5].public_id}#deliveries" hx-get=' in first

    second = owner.get(f"{page_of(klaviyo)}?before={made[5].public_id}").content.decode()
    assert re.findall(r"<td><code>(dlv_[\w-]+)</code></td>", second) == [
        d.public_id for d in reversed(made[:5])
    ]
    assert "Older deliveries" not in second

    # Another connector's delivery is no page marker here.
    other = connect(brand, fake, name="Second")
    theirs = make_delivery(other.endpoint, 99)
    assert owner.get(f"{page_of(klaviyo)}?before={theirs.public_id}").status_code == 404


def test_redelivering_one_delivery(
    brand, owner, klaviyo, fake, published, django_capture_on_commit_callbacks
):
    failed = make_delivery(klaviyo.endpoint, 1)
    other = connect(brand, fake, name="Second")
    theirs = make_delivery(other.endpoint, 2)
    mark = audit_mark()

    assert act(owner, klaviyo, "redeliver", delivery=theirs.public_id).status_code == 404
    with django_capture_on_commit_callbacks(execute=True):
        response = act(owner, klaviyo, "redeliver", delivery=failed.public_id)
    assert (response.status_code, response["Location"]) == (302, page_of(klaviyo))
    failed.refresh_from_db()
    theirs.refresh_from_db()
    assert (failed.status, failed.round_start, failed.attempt_count) == ("pending", 1, 1)
    assert theirs.status == "failed"
    assert published == [(failed.pk,)]
    assert audit_rows(brand, since_id=mark) == [
        ("staff", OWNER, "endpoint.redelivered", "endpoint", klaviyo.endpoint.public_id, None,
         {"delivery": failed.public_id, "redelivered": 1}, ""),
    ]  # fmt: skip

    Delivery.objects.filter(pk=failed.pk).update(leased_until=timezone.now() + timedelta(minutes=1))
    busy = act(owner, klaviyo, "redeliver", delivery=failed.public_id)
    assert busy.status_code == 409
    assert "being attempted right now" in busy.content.decode()
    assert len(audit_rows(brand, since_id=mark)) == 1


def test_the_vendors_opt_outs_newest_first_in_pages_with_contact_links_never_addresses(
    brand, owner, klaviyo, contact
):
    other = contact_upsert(brand=brand, external_id="cust-2", email="grace@example.com")[0]
    made = [make_signal(klaviyo, n, contact if n % 3 else None) for n in range(27)]
    make_signal(klaviyo, 27, other, kind="complained", outcome="unchanged")
    make_signal(klaviyo, 28, other, kind="bounced", channel="sms", outcome="recorded")

    page = owner.get(page_of(klaviyo)).content.decode()
    section = page.split('id="signals"')[1]
    rows = re.findall(
        r"<tr>\s*<td>([^<]+)</td>\s*<td>([^<]+)</td>\s*<td>([^<]+)</td>\s*<td>([^<]+)</td>\s*<td>(.*?)</td>",
        section,
        re.S,
    )
    assert len(rows) == 25
    assert rows[0][1:] == (
        "Hard bounce",
        "SMS",
        "Recorded",
        f'<a href="/console/acme/contacts/{other.pk}/">cust-2</a>',
    )
    assert rows[1][1:] == (
        "Spam complaint",
        "Email",
        "Already so in Candor",
        f'<a href="/console/acme/contacts/{other.pk}/">cust-2</a>',
    )
    assert rows[2][1:] == (
        "Unsubscribed",
        "Email",
        "Recorded",
        f'<a href="/console/acme/contacts/{contact.pk}/">cust-1</a>',
    )
    assert rows[4][1:] == ("Unsubscribed", "Email", "No such contact in Candor", "–")  # n = 24
    assert rows[0][0] == "Dec. 1, 2026, 9:28 a.m."
    for address in ("ada@example.com", "Ada@Example.com", "grace@example.com"):
        assert address not in page
    older = made[4].pk
    assert f'href="{page_of(klaviyo)}?signals_before={older}#signals" hx-get=' in page

    second = owner.get(f"{page_of(klaviyo)}?signals_before={older}").content.decode()
    times = re.findall(r"<td>(Dec\. 1, 2026, 9:?\d* a\.m\.)</td>", second.split('id="signals"')[1])
    assert times == [
        "Dec. 1, 2026, 9:03 a.m.",
        "Dec. 1, 2026, 9:02 a.m.",
        "Dec. 1, 2026, 9:01 a.m.",
        "Dec. 1, 2026, 9 a.m.",
    ]
    assert "Older opt-outs" not in second
    assert owner.get(f"{page_of(klaviyo)}?signals_before=abc").status_code == 400


def test_the_connector_pages_queries_do_not_grow_with_deliveries_or_signals(
    brand, owner, klaviyo, contacts, django_assert_max_num_queries
):
    make_delivery(klaviyo.endpoint, 1)
    [first] = contacts(1)
    make_signal(klaviyo, 1, first)
    owner.get(page_of(klaviyo))
    with CaptureQueriesContext(connection) as few:
        owner.get(page_of(klaviyo))
    people = contacts(30)
    for n in range(2, 40):
        make_delivery(klaviyo.endpoint, n)
        make_signal(klaviyo, n, people[n % 30])
    with django_assert_max_num_queries(len(few.captured_queries)):
        page = owner.get(page_of(klaviyo)).content.decode()
    assert len(re.findall(r'href="/console/acme/contacts/\d+/"', page)) == 25


def test_each_action_names_its_connector(brand, owner, klaviyo, fake):
    second = connect(brand, fake, name="Second")
    mark = audit_mark()
    assert (
        owner.post(page_of(klaviyo), {"action": "delete", "connector": second.public_id}).status_code == 400
    )
    assert owner.post(page_of(klaviyo), {"action": "delete"}).status_code == 400
    assert Connector.objects.count() == 2
    assert audit_rows(brand, since_id=mark) == []


def test_another_brands_connector_is_not_found(brand, other_brand, owner, fake, make_purpose):
    make_purpose(other_brand, "email-marketing")
    theirs = connect(other_brand, fake, name="Theirs")
    mark = audit_mark()
    assert owner.get(page_of(theirs)).status_code == 404
    for action in ("delete", "disable", "test"):
        assert act(owner, theirs, action).status_code == 404
    theirs.endpoint.refresh_from_db()
    assert theirs.endpoint.status == "active"
    assert Connector.objects.filter(pk=theirs.pk).exists()
    assert audit_rows(other_brand, since_id=mark) == []


@pytest.mark.parametrize("role", ["editor", "support", "viewer"])
def test_only_owners_see_connectors(brand, make_staff, signed_in, klaviyo, role):
    client = signed_in(make_staff(brand, role))
    assert client.get(CONNECTORS).status_code == 403
    assert client.get(page_of(klaviyo)).status_code == 403
    assert 'href="/console/acme/connectors/"' not in client.get("/console/acme/").content.decode()


def test_owners_have_connectors_in_their_navigation(owner):
    page = owner.get("/console/acme/").content.decode()
    assert '<a href="/console/acme/connectors/">Connectors</a>' in page


def test_an_opt_out_sent_by_klaviyo_shows_on_the_connectors_page(owner, klaviyo, contact):
    """Through the real inbound view: Klaviyo's signed call, then the row the console shows."""
    events = [
        klaviyo_event(topic=UNSUBSCRIBED_EMAIL, email="ada@example.com", event_id="evt-ada"),
        klaviyo_event(topic=UNSUBSCRIBED_EMAIL, email="nobody@example.com", event_id="evt-nobody"),
    ]
    headers, body = klaviyo_webhook(secret=SECRET, events=events)
    response = Client().post(
        f"/hooks/klaviyo/{klaviyo.public_id}",
        body,
        content_type="application/json",
        headers={k: v for k, v in headers.items() if k != "Content-Type"},
    )
    assert response.status_code == 200, response.content

    def shown() -> tuple[str, list[list[str]]]:
        page = owner.get(page_of(klaviyo)).content.decode()
        section = page.split('id="signals"')[1]
        rows = [
            [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td>(.*?)</td>", row, re.S)][1:]
            for row in re.findall(r"<tr>(.*?)</tr>", section, re.S)[1:]
        ]
        return page, rows

    # Accepted, not applied yet: the stored payload names the address; the page does not.
    page, rows = shown()
    assert rows == [["Unsubscribed", "Email", "Accepted, not applied yet", "–"]] * 2
    assert InboundSignal.objects.filter(payload__isnull=False).count() == 2
    for address in ("ada@example.com", "nobody@example.com"):
        assert address not in page.lower()

    assert signals_apply_pending() == 2  # what the worker does within seconds
    page, rows = shown()
    section = page.split('id="signals"')[1]
    assert rows == [
        ["Unsubscribed", "Email", "No such contact in Candor", "–"],
        ["Unsubscribed", "Email", "Recorded", "cust-1"],
    ]
    assert f'<a href="/console/acme/contacts/{contact.pk}/">cust-1</a>' in section
    for address in ("ada@example.com", "nobody@example.com"):
        assert address not in page.lower()


def test_the_overview_counts_connectors_apart_from_the_webhooks(brand, owner, klaviyo, fake):
    second = connect(brand, fake, name="Second")
    Endpoint.objects.filter(pk=second.endpoint_id).update(status="disabled")
    page = owner.get("/console/acme/").content.decode()
    assert '<p id="connectors-count">Connectors: 1 active, 1 disabled.</p>' in page
    assert "No webhook endpoints yet." in page  # a connector is not a webhook endpoint
    assert fake.base_url not in page  # type: ignore[attr-defined]


def test_the_overview_says_nothing_of_connectors_when_there_are_none(owner):
    assert "connectors-count" not in owner.get("/console/acme/").content.decode()
