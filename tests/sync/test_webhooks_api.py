"""/api/v1/endpoints…: scopes, tenant isolation, validation, the secret shown once, the delivery
log, redelivery and test messages; and the after-commit nudge on the write path."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.db import transaction
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from brands.models import Scope
from sync.models import Delivery, Endpoint
from sync.outbox import listeners
from sync.outbox.serializers import timestamp
from tests.actors import audit_mark, audit_rows
from tests.sync.webhook_support import (
    deliveries,
    fanout,
    make_endpoint,
    send,
    write_event,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("published")]

URL = "/api/v1/endpoints"


@pytest.fixture
def admin(brand, make_client):
    return make_client(brand, [Scope.ADMIN])


@pytest.fixture
def outsider_admin(other_brand, make_client):
    return make_client(other_brand, [Scope.ADMIN])


def create(client, url, **fields):
    return client.post(URL, {"url": url, **fields}, format="json")


def test_create_shows_the_secret_once(admin, receiver):
    response = create(admin, receiver.url(), description="CRM", event_types=["consent.withdrawn"])

    assert response.status_code == 201, response.content
    body = response.json()
    endpoint = Endpoint.objects.get()
    assert body["id"] == endpoint.public_id
    assert body["secret"] == endpoint.secret
    assert body["secret"].startswith("whsec_")
    assert (body["url"], body["description"], body["event_types"], body["status"]) == (
        receiver.url(),
        "CRM",
        ["consent.withdrawn"],
        "active",
    )
    assert body["include_personal_data"] is False
    got = admin.get(f"{URL}/{endpoint.public_id}").json()
    assert "secret" not in got
    assert all("secret" not in item for item in admin.get(URL).json()["endpoints"])


def test_rotate_secret_returns_the_new_one_once(admin, brand, receiver):
    endpoint = make_endpoint(brand, receiver.url())
    old = endpoint.secret

    response = admin.post(f"{URL}/{endpoint.public_id}/rotate-secret")

    assert response.status_code == 200
    endpoint.refresh_from_db()
    assert response.json()["secret"] == endpoint.secret != old
    assert endpoint.previous_secret == old
    assert response.json()["previous_secret_expires_at"] == timestamp(endpoint.previous_secret_expires_at)


@pytest.mark.parametrize(
    "scopes", [[Scope.CONSENT_READ, Scope.CONSENT_WRITE], [Scope.EVENTS_READ], [Scope.PREFERENCES_WRITE]]
)
def test_every_operation_needs_the_admin_scope(brand, make_client, scopes, receiver):
    client = make_client(brand, scopes)
    endpoint = make_endpoint(brand, receiver.url())
    one = f"{URL}/{endpoint.public_id}"
    calls = [
        ("get", URL, None),
        ("post", URL, {"url": receiver.url()}),
        ("get", one, None),
        ("patch", one, {"description": "x"}),
        ("delete", one, None),
        ("post", f"{one}/rotate-secret", None),
        ("get", f"{one}/deliveries", None),
        ("post", f"{one}/redeliver", {"since": "2026-01-01T00:00:00Z"}),
        ("post", f"{one}/test", None),
    ]
    for method, path, body in calls:
        response = getattr(client, method)(path, body, format="json")
        assert response.status_code == 403, (method, path)
        assert response["Content-Type"] == "application/problem+json"
    assert Endpoint.objects.count() == 1
    assert not Delivery.objects.exists()


def test_another_brands_endpoint_is_404_everywhere(outsider_admin, brand, receiver):
    endpoint = make_endpoint(brand, receiver.url())
    one = f"{URL}/{endpoint.public_id}"
    calls = [
        ("get", one, None),
        ("patch", one, {"status": "disabled"}),
        ("delete", one, None),
        ("post", f"{one}/rotate-secret", None),
        ("get", f"{one}/deliveries", None),
        ("post", f"{one}/redeliver", {"since": "2026-01-01T00:00:00Z"}),
        ("post", f"{one}/test", None),
    ]
    for method, path, body in calls:
        response = getattr(outsider_admin, method)(path, body, format="json")
        assert response.status_code == 404, (method, path)
    assert outsider_admin.get(URL).json()["endpoints"] == []
    endpoint.refresh_from_db()
    assert (endpoint.status, endpoint.previous_secret) == ("active", "")
    assert not Delivery.objects.exists()


def test_validation_errors(admin, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    response = create(admin, "http://10.0.0.1/hook", event_types=["consent.granted", "consent.maybe"])

    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    errors = response.json()["errors"]
    assert errors["url"] == ["Use https://.", "Webhooks cannot be sent to a private address."]
    assert errors["event_types"][0].startswith("Unknown event type(s): consent.maybe.")
    assert create(admin, "").status_code == 422
    assert admin.post(URL, {}, format="json").json()["errors"]["url"]
    assert not Endpoint.objects.exists()


def test_patch_and_delete(admin, brand, receiver, settings):
    endpoint = make_endpoint(brand, receiver.url())
    one = f"{URL}/{endpoint.public_id}"

    response = admin.patch(one, {"status": "disabled", "event_types": ["hold.started"]}, format="json")
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["disabled_reason"]) == (
        "disabled",
        "Disabled through the API.",
    )
    assert response.json()["event_types"] == ["hold.started"]
    Endpoint.objects.filter(pk=endpoint.pk).update(failing_since=timezone.now())
    response = admin.patch(one, {"status": "active", "include_personal_data": True}, format="json")
    assert (response.json()["status"], response.json()["failing_since"]) == ("active", None)
    assert response.json()["include_personal_data"] is True
    settings.WEBHOOK_ALLOW_PRIVATE = False
    assert admin.patch(one, {"url": "https://127.0.0.1/x"}, format="json").status_code == 422
    assert admin.patch(one, {"status": "paused"}, format="json").status_code == 422

    assert admin.delete(one).status_code == 204
    assert admin.get(one).status_code == 404


@override_settings(WEBHOOK_BATCH_SIZE=1)  # one delivery per message, so two stay pending
def test_the_delivery_log_with_attempts_and_paging(admin, brand, receiver):
    endpoint = make_endpoint(brand, receiver.url())
    receiver.secrets.append(endpoint.secret)
    receiver.answers = [(500, {}, "nope"), (200, {}, "ok")]
    for sequence in (1, 2, 3):
        write_event(brand, sequence, 1)
    fanout(endpoint)
    first = deliveries(endpoint)[0]
    send(first)
    Delivery.objects.filter(pk=first.pk).update(next_attempt_at=timezone.now())
    send(first)

    page = admin.get(f"{URL}/{endpoint.public_id}/deliveries", {"limit": 2}).json()
    assert [d["sequence"] for d in page["deliveries"]] == [1, 1]
    assert page["deliveries"][0]["id"] == deliveries(endpoint)[2].public_id  # newest first
    rest = admin.get(f"{URL}/{endpoint.public_id}/deliveries", {"cursor": page["next_cursor"]}).json()
    assert rest["next_cursor"] is None
    [item] = rest["deliveries"]
    assert item["id"] == first.public_id
    assert item["webhook_id"] == first.msg_id
    assert (item["status"], item["attempt_count"], item["next_attempt_at"]) == ("succeeded", 2, None)
    assert [
        (a["number"], a["status_code"], a["outcome"], a["response_excerpt"]) for a in item["attempts"]
    ] == [
        (1, 500, "failed", "nope"),
        (2, 200, "succeeded", "ok"),
    ]
    pending = admin.get(f"{URL}/{endpoint.public_id}/deliveries", {"status": "pending"}).json()
    assert len(pending["deliveries"]) == 2
    assert admin.get(f"{URL}/{endpoint.public_id}/deliveries", {"status": "lost"}).status_code == 422


def test_redeliver_one_and_since(admin, brand, receiver):
    endpoint = make_endpoint(brand, receiver.url())
    receiver.secrets.append(endpoint.secret)
    write_event(brand, 1, 1)
    write_event(brand, 2, 1)
    fanout(endpoint)
    first, second = deliveries(endpoint)
    send(first)
    send(second)
    redeliver = f"{URL}/{endpoint.public_id}/redeliver"

    response = admin.post(redeliver, {"delivery": first.public_id}, format="json")
    assert response.status_code == 202
    assert response.json() == {"redelivered": 1}
    first.refresh_from_db()
    assert (first.status, first.round_start, first.succeeded_at) == ("pending", 1, None)
    send(first)
    assert receiver.received[0].headers["Webhook-Id"] == receiver.received[2].headers["Webhook-Id"]
    assert receiver.received[0].body == receiver.received[2].body

    since = timestamp(timezone.now() - timedelta(minutes=5))
    assert admin.post(redeliver, {"since": since}, format="json").json() == {"redelivered": 2}
    future = timestamp(timezone.now() + timedelta(minutes=5))
    assert admin.post(redeliver, {"since": future}, format="json").json() == {"redelivered": 0}
    assert admin.post(redeliver, {}, format="json").status_code == 422
    both = {"delivery": first.public_id, "since": since}
    assert admin.post(redeliver, both, format="json").status_code == 422
    assert admin.post(redeliver, {"delivery": "dlv_nope"}, format="json").status_code == 404
    assert admin.post(redeliver, {"since": "yesterday"}, format="json").status_code == 422


def test_send_a_test_message(admin, brand, receiver):
    endpoint = make_endpoint(brand, receiver.url())
    receiver.secrets.append(endpoint.secret)

    response = admin.post(f"{URL}/{endpoint.public_id}/test")

    assert response.status_code == 202
    body = response.json()
    assert (body["type"], body["status"], body["event_id"], body["attempts"]) == (
        "webhook.test",
        "pending",
        None,
        [],
    )
    send(Delivery.objects.get(public_id=body["id"]))
    assert receiver.received[0].payload["type"] == "webhook.test"
    admin.patch(f"{URL}/{endpoint.public_id}", {"status": "disabled"}, format="json")
    assert admin.post(f"{URL}/{endpoint.public_id}/test").status_code == 409


def test_the_schema_describes_the_endpoints_api(client):
    paths = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()["paths"]
    for path, methods in {
        "/api/v1/endpoints": {"get", "post"},
        "/api/v1/endpoints/{endpoint_id}": {"get", "patch", "delete"},
        "/api/v1/endpoints/{endpoint_id}/rotate-secret": {"post"},
        "/api/v1/endpoints/{endpoint_id}/deliveries": {"get"},
        "/api/v1/endpoints/{endpoint_id}/redeliver": {"post"},
        "/api/v1/endpoints/{endpoint_id}/test": {"post"},
    }.items():
        assert methods <= set(paths[path]), path


# --- The nudge after commit -------------------------------------------------------------------


def test_no_endpoint_costs_no_query_and_registers_nothing(brand, django_assert_num_queries):
    listeners.events_announce(brand_id=brand.pk)  # fills the cache
    with transaction.atomic(), django_assert_num_queries(0):
        listeners.events_announce(brand_id=brand.pk)
        assert transaction.get_connection().run_on_commit == []


def test_one_nudge_per_transaction_per_brand_after_commit(
    brand, other_brand, receiver, published, django_capture_on_commit_callbacks
):
    endpoint = make_endpoint(brand, receiver.url())
    other = make_endpoint(other_brand, receiver.url())
    published.clear()

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        write_event(brand, 1, 1)
        write_event(brand, 1, 2)
        write_event(other_brand, 2, 1)
        assert published == []  # nothing before COMMIT

    assert sorted(published) == sorted(
        [("endpoint_fanout", (endpoint.pk,), None), ("endpoint_fanout", (other.pk,), None)]
    )


def test_a_broker_that_is_down_does_not_fail_the_write(
    brand, receiver, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    from sync import tasks

    make_endpoint(brand, receiver.url())

    def down(*args, **kwargs):
        raise ConnectionRefusedError("broker down")

    monkeypatch.setattr(tasks.endpoint_fanout, "apply_async", down)
    with caplog.at_level(logging.WARNING), django_capture_on_commit_callbacks(execute=True):
        event = write_event(brand, 1, 1)

    assert event.pk is not None
    assert "could not publish endpoint_fanout (ConnectionRefusedError)" in caplog.text


def test_a_consent_recorded_through_the_api_reaches_the_receiver(
    brand, api, contact, notice_version, receiver, published, django_capture_on_commit_callbacks
):
    endpoint = make_endpoint(brand, receiver.url())
    receiver.secrets.append(endpoint.secret)
    published.clear()

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/api/v1/contacts/cust-1/consents",
            {"purpose": "email-marketing", "decision": "granted", "notice_version": notice_version.public_id},
            format="json",
        )
    assert response.status_code == 201
    assert published == [("endpoint_fanout", (endpoint.pk,), None)]

    fanout(endpoint)
    send(deliveries(endpoint)[0])
    data = receiver.received[0].payload["data"]
    assert (data["contact"], data["purpose"], data["state"]) == ("cust-1", "email-marketing", "granted")
    assert "email" not in data


def test_consents_written_with_no_endpoint_make_no_extra_queries(brand, api, contact, notice_version):
    body = {"purpose": "email-marketing", "decision": "granted", "notice_version": notice_version.public_id}
    api.post("/api/v1/contacts/cust-1/consents", body, format="json")  # warm caches
    from django.db import connection

    body["decision"] = "withdrawn"
    with CaptureQueriesContext(connection) as ctx:
        api.post("/api/v1/contacts/cust-1/consents", body, format="json")
    assert not [q for q in ctx.captured_queries if "sync_endpoint" in q["sql"]]


def test_test_messages_and_redeliveries_are_in_the_audit_log(admin, brand, receiver):
    endpoint = make_endpoint(brand, receiver.url())
    write_event(brand, 1, 1)
    fanout(endpoint)
    [delivery] = deliveries(endpoint)
    mark = audit_mark()
    prefix = admin.api_key.prefix

    test = admin.post(f"{URL}/{endpoint.public_id}/test").json()
    redeliver = f"{URL}/{endpoint.public_id}/redeliver"
    assert admin.post(redeliver, {"delivery": delivery.public_id}, format="json").status_code == 202
    since = timezone.now() - timedelta(minutes=5)
    assert admin.post(redeliver, {"since": timestamp(since)}, format="json").json() == {"redelivered": 2}
    future = timestamp(timezone.now() + timedelta(minutes=5))
    assert admin.post(redeliver, {"since": future}, format="json").json() == {"redelivered": 0}

    assert audit_rows(brand, since_id=mark) == [
        ("api_key", prefix, "endpoint.test_sent", "endpoint", endpoint.public_id, None,
         {"delivery": test["id"]}, ""),
        ("api_key", prefix, "endpoint.redelivered", "endpoint", endpoint.public_id, None,
         {"delivery": delivery.public_id, "redelivered": 1}, ""),
        ("api_key", prefix, "endpoint.redelivered", "endpoint", endpoint.public_id, None,
         {"since": since.isoformat(), "redelivered": 2}, ""),
    ]  # fmt: skip
