"""The owners' integration pages: API keys (create with scopes, shown once; revoke) and webhook
endpoints (create, edit, rotate, disable and enable, delete, test, the delivery log and a
redelivery), each through the services the API uses, with their exact rows and audit entries,
and what a refused request leaves alone."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from brands.models import ApiKey, hash_api_key
from brands.services import api_key_create
from sync import tasks
from sync.delivery.endpoints import endpoint_create
from sync.models import Attempt, Delivery, Endpoint
from tests.actors import TEST_ACTOR, audit_mark, audit_rows

pytestmark = pytest.mark.django_db

KEYS = "/console/acme/api-keys/"
ENDPOINTS = "/console/acme/endpoints/"
OWNER = "owner@acme.test"


@pytest.fixture
def owner(brand, make_staff, signed_in):
    return signed_in(make_staff(brand, "owner"))


@pytest.fixture
def published(monkeypatch):
    """The deliveries handed to the broker to send (nothing reaches a broker)."""
    sent: list[tuple[int, ...]] = []
    monkeypatch.setattr(tasks.delivery_send, "apply_async", lambda *a, **kw: sent.append(tuple(kw["args"])))
    return sent


@pytest.fixture
def hook(brand):
    return endpoint_create(
        brand=brand,
        actor=TEST_ACTOR,
        url="https://hooks.acme.example/in?token=s3cr3t-query",
        description="CRM",
    )


def page_of(hook: Endpoint) -> str:
    return f"{ENDPOINTS}{hook.public_id}/"


def act(client, hook: Endpoint, action: str, **fields):
    return client.post(page_of(hook), {"action": action, "endpoint": hook.public_id, **fields})


# --- API keys -----------------------------------------------------------------------------------


def test_creating_a_key_shows_it_once_and_never_again(brand, owner, caplog):
    mark = audit_mark()
    with caplog.at_level(logging.DEBUG):
        response = owner.post(
            KEYS, {"action": "create", "name": "CRM sync", "scopes": ["events:read", "consent:read"]}
        )
    assert response.status_code == 201
    body = response.content.decode()
    [raw] = re.findall(r'<code id="new-key">(cnd_[0-9a-f]{8}_[\w-]+)</code>', body)
    key = ApiKey.objects.get()
    assert (key.brand, key.name, key.scopes, key.revoked_at) == (
        brand,
        "CRM sync",
        ["consent:read", "events:read"],
        None,
    )
    assert key.key_hash == hash_api_key(raw)
    assert raw.startswith(key.prefix + "_")
    assert audit_rows(brand, since_id=mark) == [
        ("staff", OWNER, "api_key.created", "api_key", key.prefix, None,
         {"name": "CRM sync", "scopes": ["consent:read", "events:read"]}, ""),
    ]  # fmt: skip
    assert raw not in caplog.text

    # The key works, and the next page load shows its prefix only.
    assert owner.get("/api/v1/events", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 200
    again = owner.get(KEYS).content.decode()
    assert key.prefix in again
    assert raw not in again
    assert raw[len(key.prefix) :] not in again
    assert key.key_hash not in again


def test_the_list_shows_name_prefix_scopes_created_last_used_and_revoked(brand, other_brand, owner):
    used = api_key_create(brand=brand, actor=TEST_ACTOR, name="Shop", scopes=["consent:write"]).api_key
    ApiKey.objects.filter(pk=used.pk).update(last_used_at=timezone.now())
    gone = api_key_create(brand=brand, actor=TEST_ACTOR, name="Old ESP", scopes=["admin"]).api_key
    ApiKey.objects.filter(pk=gone.pk).update(revoked_at=timezone.now())
    theirs = api_key_create(brand=other_brand, actor=TEST_ACTOR, name="Theirs", scopes=["admin"]).api_key
    body = owner.get(KEYS).content.decode()
    rows = re.findall(r"<tr>\s*<td>(.*?)</td>\s*<td><code>(.*?)…</code></td>\s*<td>(.*?)</td>", body)
    assert rows == [("Old ESP", gone.prefix, "admin"), ("Shop", used.prefix, "consent:write")]
    assert body.count("Never") == 1  # the revoked key was never used
    assert "Revoked on" in body
    assert body.count('name="action" value="revoke"') == 1  # only the live key can be revoked
    assert "Theirs" not in body
    assert theirs.prefix not in body


def test_a_key_needs_a_name_and_known_scopes(brand, owner):
    mark = audit_mark()
    for fields in ({"name": "", "scopes": []}, {"name": "X", "scopes": ["root"]}, {"name": "X"}):
        response = owner.post(KEYS, {"action": "create", **fields})
        assert response.status_code == 400, fields
        assert 'id="error-summary"' in response.content.decode()
    assert ApiKey.objects.count() == 0
    assert audit_rows(brand, since_id=mark) == []


def test_revoking_a_key_once(brand, other_brand, owner):
    key = api_key_create(brand=brand, actor=TEST_ACTOR, name="Shop", scopes=["consent:read"]).api_key
    theirs = api_key_create(brand=other_brand, actor=TEST_ACTOR, name="T", scopes=["admin"]).api_key
    mark = audit_mark()

    assert owner.post(KEYS, {"action": "revoke", "key": theirs.prefix}).status_code == 404
    assert ApiKey.objects.get(pk=theirs.pk).revoked_at is None

    response = owner.post(KEYS, {"action": "revoke", "key": key.prefix})
    assert (response.status_code, response["Location"]) == (302, KEYS)
    revoked_at = ApiKey.objects.get(pk=key.pk).revoked_at
    assert revoked_at is not None
    assert owner.post(KEYS, {"action": "revoke", "key": key.prefix}).status_code == 302  # again: nothing new
    assert ApiKey.objects.get(pk=key.pk).revoked_at == revoked_at
    assert audit_rows(brand, since_id=mark) == [
        ("staff", OWNER, "api_key.revoked", "api_key", key.prefix, {"revoked_at": None},
         {"revoked_at": revoked_at.isoformat()}, ""),
    ]  # fmt: skip
    assert audit_rows(other_brand, since_id=mark) == []


@pytest.mark.parametrize("role", ["editor", "support", "viewer"])
def test_only_owners_see_and_make_keys(brand, make_staff, signed_in, role):
    client = signed_in(make_staff(brand, role))
    assert client.get(KEYS).status_code == 403
    assert client.post(KEYS, {"action": "create", "name": "X", "scopes": ["admin"]}).status_code == 403
    assert ApiKey.objects.count() == 0
    assert 'href="/console/acme/api-keys/"' not in client.get("/console/acme/").content.decode()


# --- Webhook endpoints --------------------------------------------------------------------------


def test_registering_an_endpoint_shows_its_secret_once(brand, owner, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    mark = audit_mark()
    response = owner.post(
        ENDPOINTS,
        {
            "action": "create",
            "url": "https://hooks.acme.example/in?token=abc",
            "description": "CRM",
            "event_types": ["consent.withdrawn", "consent.granted"],
            "include_personal_data": "on",
        },
    )
    assert response.status_code == 201
    endpoint = Endpoint.objects.get()
    body = response.content.decode()
    assert f'<code id="new-secret">{endpoint.secret}</code>' in body
    assert "token=abc" not in body
    assert (
        endpoint.brand,
        endpoint.url,
        endpoint.description,
        endpoint.event_types,
        endpoint.include_personal_data,
        endpoint.pseudonymous_contacts,
        endpoint.status,
    ) == (
        brand,
        "https://hooks.acme.example/in?token=abc",
        "CRM",
        ["consent.granted", "consent.withdrawn"],
        True,
        False,
        "active",
    )
    assert audit_rows(brand, since_id=mark) == [
        ("staff", OWNER, "endpoint.created", "endpoint", endpoint.public_id, None,
         {"url": "https://hooks.acme.example/in?…", "description": "CRM",
          "event_types": ["consent.granted", "consent.withdrawn"], "include_personal_data": True,
          "pseudonymous_contacts": False, "status": "active"}, ""),
    ]  # fmt: skip
    listing = owner.get(ENDPOINTS).content.decode()
    assert f'href="{page_of(endpoint)}">https://hooks.acme.example/in?…</a>' in listing
    assert endpoint.secret not in listing
    detail = owner.get(page_of(endpoint)).content.decode()
    assert endpoint.secret not in detail


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://hooks.acme.example/in", "Use https://."),
        ("https://10.0.0.7/in", "Webhooks cannot be sent to"),
        ("https://127.0.0.1/in", "Webhooks cannot be sent to"),
        ("not a url", "contains spaces"),
    ],
)
def test_the_ssrf_guard_refuses_what_the_api_refuses(brand, owner, settings, url, problem):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    mark = audit_mark()
    response = owner.post(ENDPOINTS, {"action": "create", "url": url})
    assert response.status_code == 422
    body = response.content.decode()
    assert problem in body
    assert 'href="#endpoint-url"' in body  # the error summary links to the field
    assert Endpoint.objects.count() == 0
    assert audit_rows(brand, since_id=mark) == []


def test_an_empty_url_is_400(owner):
    assert owner.post(ENDPOINTS, {"action": "create", "url": ""}).status_code == 400
    assert Endpoint.objects.count() == 0


def test_editing_an_endpoint(brand, owner, hook, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    mark = audit_mark()
    form = {"url": "https://hooks.acme.example/v2", "description": "CRM v2", "event_types": ["hold.started"]}
    response = act(owner, hook, "update", **form)
    assert (response.status_code, response["Location"]) == (302, page_of(hook))
    hook.refresh_from_db()
    assert (hook.url, hook.description, hook.event_types) == (
        "https://hooks.acme.example/v2",
        "CRM v2",
        ["hold.started"],
    )
    assert audit_rows(brand, since_id=mark) == [
        ("staff", OWNER, "endpoint.updated", "endpoint", hook.public_id,
         {"url": "https://hooks.acme.example/in?…", "description": "CRM", "event_types": []},
         {"url": "https://hooks.acme.example/v2", "description": "CRM v2",
          "event_types": ["hold.started"]}, ""),
    ]  # fmt: skip

    refused = act(owner, hook, "update", url="http://hooks.acme.example/v3")
    assert refused.status_code == 422
    assert "Use https://." in refused.content.decode()
    hook.refresh_from_db()
    assert hook.url == "https://hooks.acme.example/v2"
    assert len(audit_rows(brand, since_id=mark)) == 1


def test_rotating_the_secret_shows_the_new_one_once(brand, owner, hook):
    old = hook.secret
    mark = audit_mark()
    response = act(owner, hook, "rotate")
    assert response.status_code == 200
    hook.refresh_from_db()
    assert hook.secret != old
    assert (hook.previous_secret, hook.secret.startswith("whsec_")) == (old, True)
    assert f'<code id="new-secret">{hook.secret}</code>' in response.content.decode()
    assert old not in response.content.decode()
    assert audit_rows(brand, since_id=mark) == [
        ("staff", OWNER, "endpoint.secret_rotated", "endpoint", hook.public_id, None,
         {"previous_secret_expires_at": hook.previous_secret_expires_at.isoformat()}, ""),
    ]  # fmt: skip
    later = owner.get(page_of(hook)).content.decode()
    assert hook.secret not in later
    assert old not in later
    assert "Previous secret" in later


def test_disabling_and_enabling(brand, owner, hook):
    mark = audit_mark()
    assert act(owner, hook, "disable").status_code == 302
    hook.refresh_from_db()
    assert (hook.status, hook.disabled_reason) == ("disabled", "Disabled in the console.")
    assert act(owner, hook, "disable").status_code == 302  # already disabled: nothing more
    page = owner.get(page_of(hook)).content.decode()
    assert 'value="enable"' in page
    assert 'value="disable"' not in page
    assert 'value="test"' not in page

    assert act(owner, hook, "enable").status_code == 302
    hook.refresh_from_db()
    assert (hook.status, hook.disabled_reason, hook.disabled_at) == ("active", "", None)
    assert audit_rows(brand, since_id=mark) == [
        ("staff", OWNER, "endpoint.disabled", "endpoint", hook.public_id, {"status": "active"},
         {"status": "disabled"}, "Disabled in the console."),
        ("staff", OWNER, "endpoint.enabled", "endpoint", hook.public_id, {"status": "disabled"},
         {"status": "active"}, ""),
    ]  # fmt: skip


def test_deleting_an_endpoint(brand, owner, hook):
    mark = audit_mark()
    response = act(owner, hook, "delete")
    assert (response.status_code, response["Location"]) == (302, ENDPOINTS)
    assert not Endpoint.objects.exists()
    assert audit_rows(brand, since_id=mark) == [
        ("staff", OWNER, "endpoint.deleted", "endpoint", hook.public_id,
         {"url": "https://hooks.acme.example/in?…", "status": "active"}, None, ""),
    ]  # fmt: skip
    assert owner.get(page_of(hook)).status_code == 404


def test_sending_a_test_event(brand, owner, hook, published, django_capture_on_commit_callbacks):
    mark = audit_mark()
    with django_capture_on_commit_callbacks(execute=True):
        response = act(owner, hook, "test")
    assert (response.status_code, response["Location"]) == (302, page_of(hook))
    delivery = Delivery.objects.get()
    assert (delivery.endpoint, delivery.type, delivery.event, delivery.status) == (
        hook,
        "webhook.test",
        None,
        "pending",
    )
    assert published == [(delivery.pk,)]
    assert audit_rows(brand, since_id=mark) == [
        ("staff", OWNER, "endpoint.test_sent", "endpoint", hook.public_id, None,
         {"delivery": delivery.public_id}, ""),
    ]  # fmt: skip

    act(owner, hook, "disable")
    refused = act(owner, hook, "test")
    assert refused.status_code == 409
    assert "enable it before sending a test message" in refused.content.decode()
    assert Delivery.objects.count() == 1


def make_delivery(hook: Endpoint, n: int, *, status: str = "failed", code: int | None = 500) -> Delivery:
    delivery = Delivery.objects.create(
        endpoint=hook,
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
        response_excerpt="receiver-said-something",
        outcome="failed" if status == "failed" else "succeeded",
    )
    return delivery


def test_the_delivery_log_is_newest_first_in_keyset_pages_without_bodies(owner, hook, other_brand):
    made = [
        make_delivery(hook, n, status="succeeded" if n % 2 else "failed", code=200 if n % 2 else 503)
        for n in range(30)
    ]
    other = endpoint_create(brand=other_brand, actor=TEST_ACTOR, url="https://hooks.outsider.example/in")
    make_delivery(other, 99)

    first = owner.get(page_of(hook)).content.decode()
    shown = re.findall(r"<td><code>(dlv_[\w-]+)</code></td>", first)
    assert shown == [d.public_id for d in reversed(made)][:25]
    row = re.search(rf"<td><code>{made[29].public_id}</code></td>(.*?)</tr>", first, re.S)
    assert row is not None
    cells = re.findall(r"<td>([^<]*)</td>", row.group(1))
    assert cells[0] == "consent.withdrawn"
    assert cells[2:6] == ["Succeeded", "1", "200", "149 ms"]
    for secret_or_body in ("cust-secret-body", "receiver-said-something", hook.secret, "webhook-signature"):
        assert secret_or_body not in first
    older = f'href="{page_of(hook)}?before={made[5].public_id}#deliveries" hx-get='
    assert older in first

    second = owner.get(f"{page_of(hook)}?before={made[5].public_id}").content.decode()
    assert re.findall(r"<td><code>(dlv_[\w-]+)</code></td>", second) == [
        d.public_id for d in reversed(made[:5])
    ]
    assert "Older deliveries" not in second

    # Another endpoint's delivery is no page marker here.
    assert (
        owner.get(f"{page_of(hook)}?before={Delivery.objects.get(endpoint=other).public_id}").status_code
        == 404
    )


def test_redelivering_one_delivery(
    brand, owner, hook, other_brand, published, django_capture_on_commit_callbacks
):
    failed = make_delivery(hook, 1)
    other = endpoint_create(brand=other_brand, actor=TEST_ACTOR, url="https://hooks.outsider.example/in")
    theirs = make_delivery(other, 2)
    mark = audit_mark()

    assert act(owner, hook, "redeliver", delivery=theirs.public_id).status_code == 404
    with django_capture_on_commit_callbacks(execute=True):
        response = act(owner, hook, "redeliver", delivery=failed.public_id)
    assert (response.status_code, response["Location"]) == (302, page_of(hook))
    failed.refresh_from_db()
    theirs.refresh_from_db()
    assert (failed.status, failed.round_start, failed.attempt_count) == ("pending", 1, 1)
    assert theirs.status == "failed"
    assert published == [(failed.pk,)]
    assert audit_rows(brand, since_id=mark) == [
        ("staff", OWNER, "endpoint.redelivered", "endpoint", hook.public_id, None,
         {"delivery": failed.public_id, "redelivered": 1}, ""),
    ]  # fmt: skip
    assert audit_rows(other_brand, since_id=mark) == []

    # One being attempted right now is left alone, and says so.
    Delivery.objects.filter(pk=failed.pk).update(leased_until=timezone.now() + timedelta(minutes=1))
    busy = act(owner, hook, "redeliver", delivery=failed.public_id)
    assert busy.status_code == 409
    assert "being attempted right now" in busy.content.decode()
    assert len(audit_rows(brand, since_id=mark)) == 1


def test_each_action_names_its_endpoint(brand, owner, hook):
    second = endpoint_create(brand=brand, actor=TEST_ACTOR, url="https://hooks.acme.example/two")
    mark = audit_mark()
    response = owner.post(page_of(hook), {"action": "delete", "endpoint": second.public_id})
    assert response.status_code == 400
    assert owner.post(page_of(hook), {"action": "delete"}).status_code == 400
    assert Endpoint.objects.count() == 2
    assert audit_rows(brand, since_id=mark) == []


def test_another_brands_endpoint_is_not_found(brand, other_brand, owner):
    theirs = endpoint_create(brand=other_brand, actor=TEST_ACTOR, url="https://hooks.outsider.example/in")
    assert owner.get(page_of(theirs)).status_code == 404
    response = act(owner, theirs, "delete")
    assert response.status_code == 404
    assert Endpoint.objects.filter(pk=theirs.pk).exists()
    assert theirs.url not in owner.get(ENDPOINTS).content.decode()


def test_owners_have_the_integration_pages_in_their_navigation(owner):
    page = owner.get("/console/acme/").content.decode()
    assert '<a href="/console/acme/api-keys/">API keys</a>' in page
    assert '<a href="/console/acme/endpoints/">Webhooks</a>' in page


def test_a_connectors_endpoint_is_not_shown_or_opened_as_a_webhook(brand, owner, hook):
    connector_endpoint = Endpoint.objects.create(
        brand=brand, url="https://a.klaviyo.com", kind=Endpoint.Kind.CONNECTOR
    )

    listing = owner.get(ENDPOINTS)
    assert listing.status_code == 200
    assert hook.public_id in listing.content.decode()
    assert connector_endpoint.public_id not in listing.content.decode()
    assert owner.get(page_of(connector_endpoint)).status_code == 404
    assert act(owner, connector_endpoint, "rotate").status_code == 404
    connector_endpoint.refresh_from_db()
    assert connector_endpoint.previous_secret == ""
