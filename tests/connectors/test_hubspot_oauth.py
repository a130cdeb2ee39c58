"""HubSpot OAuth: an app's refresh token for credentials, the access token fetched once and cached
per connector, fetched again once when HubSpot says it expired, and a revoked refresh token a
visible, retried failure that loses nothing (against the fake's /oauth/v1/token)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
from django.utils import timezone
from werkzeug import Request

from brands.models import AuditEntry
from sync.delivery import batches
from sync.delivery.connectors.crypto import credentials_decrypt
from sync.delivery.fanout import endpoint_fanout
from sync.models import Attempt, Delivery
from tests.connectors.support import drain, grant, withdraw
from tests.connectors.test_hubspot_connector import UPSERT, WRITE, admin_api, body, connect, fake
from tests.fakes.hubspot import CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, TOKEN_PATH, FakeHubSpot, Refusal
from tests.sync.webhook_support import published

__all__ = ["admin_api", "fake", "published"]

pytestmark = pytest.mark.django_db(transaction=True)
OAUTH = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "refresh_token": REFRESH_TOKEN}


def oauth_connect(admin_api: Any, fake: FakeHubSpot) -> Any:
    return connect(admin_api, fake, credentials=OAUTH)


def assert_no_secret(fake: FakeHubSpot, text: str) -> None:
    for secret in (REFRESH_TOKEN, CLIENT_SECRET, *fake.issued, *fake.bearers):
        assert secret not in text


@pytest.mark.parametrize(
    ("credentials", "says"),
    [
        ({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}, "refresh_token"),
        ({"client_id": CLIENT_ID, "refresh_token": REFRESH_TOKEN}, '"client_id", "client_secret"'),
        ({**OAUTH, "access_token": "pat-eu1-0a1b2c3d-4e5f"}, "nothing else"),
        ({**OAUTH, "client_id": "short"}, "client_id is the OAuth app's client id"),
        ({**OAUTH, "refresh_token": "eu1 with spaces in it"}, "refresh_token is the refresh token"),
        ({**OAUTH, "client_secret": "short"}, "client_secret"),
        ({**OAUTH, "refresh_token": 12345678}, "refresh_token is the refresh token"),
    ],
)
def test_oauth_credentials_of_the_wrong_shape_are_a_422_naming_them(
    admin_api, purpose, fake, credentials, says
):
    response = admin_api.post("/api/v1/connectors", body(fake, credentials=credentials), format="json")
    assert response.status_code == 422, response.content
    assert says in " ".join(response.json()["errors"]["credentials"])
    assert fake.token_requests == []  # the shape is refused before HubSpot is asked
    assert fake.bearers == []
    assert_no_secret(fake, response.content.decode())


def test_a_refused_refresh_token_at_create_is_a_422_on_the_credentials(admin_api, purpose, fake):
    fake.revoke(REFRESH_TOKEN)
    response = admin_api.post("/api/v1/connectors", body(fake, credentials=OAUTH), format="json")
    assert response.status_code == 422, response.content
    says = " ".join(response.json()["errors"]["credentials"])
    assert "BAD_REFRESH_TOKEN" in says
    assert "400" in says
    assert fake.bearers == []  # no API call without a token
    assert_no_secret(fake, response.content.decode())


def test_the_token_is_fetched_once_and_cached_across_calls(
    admin_api, brand, purpose, contact, fake, published
):
    connector = oauth_connect(admin_api, fake)
    assert credentials_decrypt(connector.credentials) == OAUTH
    # The check before the connector existed fetched one (nothing to cache it by yet).
    assert fake.token_requests == [{"grant_type": "refresh_token", "client_id": CLIENT_ID}]
    grant(brand, purpose)
    endpoint_fanout(endpoint_id=connector.endpoint_id)
    withdraw(brand, purpose)
    endpoint_fanout(endpoint_id=connector.endpoint_id)
    assert admin_api.post(f"/api/v1/connectors/{connector.public_id}/test").json()["ok"] is True
    assert fake.status("ada@example.com", "101") == "UNSUBSCRIBED"
    assert set(Delivery.objects.filter(endpoint=connector.endpoint).values_list("status", flat=True)) == {
        "succeeded"
    }
    assert len(fake.token_requests) == 2  # one more for the connector, then the cache
    created, *after = fake.bearers
    assert len(after) == 4  # upsert, write, write, definitions
    assert len(set(after)) == 1
    assert after[0] != created
    assert set(fake.issued) == {created, after[0]}


def test_an_expired_token_is_refreshed_once_and_the_call_retried(
    admin_api, brand, purpose, contact, fake, published
):
    connector = oauth_connect(admin_api, fake)
    grant(brand, purpose)
    endpoint_fanout(endpoint_id=connector.endpoint_id)
    assert fake.status("ada@example.com", "101") == "SUBSCRIBED"
    fetched = len(fake.token_requests)
    old = fake.bearers[-1]
    fake.expire_tokens()  # 30 minutes later: the cached token is still in Candor's cache
    withdraw(brand, purpose)
    endpoint_fanout(endpoint_id=connector.endpoint_id)
    assert fake.status("ada@example.com", "101") == "UNSUBSCRIBED"
    assert len(fake.token_requests) == fetched + 1  # refreshed once
    new = fake.bearers[-1]
    assert fake.bearers[-2:] == [old, new]  # refused once, retried once with the new token
    assert new != old
    withdrawal = Delivery.objects.filter(endpoint=connector.endpoint).order_by("id").last()
    assert withdrawal is not None
    assert withdrawal.status == "succeeded"
    attempt = Attempt.objects.get(delivery=withdrawal)  # the retry was inside the one attempt
    assert attempt.status_code == 200
    assert [r["body"]["inputs"][0]["statusState"] for r in fake.requests if r["path"] == WRITE] == [
        "SUBSCRIBED",
        "UNSUBSCRIBED",
    ]  # no second write of either
    assert fake.paths().count(UPSERT) == 1
    # The next call uses the cached new token: no further refresh.
    assert admin_api.post(f"/api/v1/connectors/{connector.public_id}/test").json()["ok"] is True
    assert len(fake.token_requests) == fetched + 1
    assert fake.bearers[-1] == new


def test_the_fake_answers_an_expired_token_and_a_bad_refresh_as_hubspot_does(fake):
    answer = httpx.post(
        f"{fake.base_url}{TOKEN_PATH}",
        data={"grant_type": "refresh_token", **OAUTH},
    ).json()
    assert answer["token_type"] == "bearer"
    assert answer["expires_in"] == 1800
    assert answer["refresh_token"] == REFRESH_TOKEN  # HubSpot's refresh tokens do not rotate
    headers = {"Authorization": f"Bearer {answer['access_token']}"}
    definitions = f"{fake.base_url}/communication-preferences/v4/definitions"
    assert httpx.get(definitions, headers=headers).status_code == 200
    fake.expire_tokens()
    expired = httpx.get(definitions, headers=headers)
    assert expired.status_code == 401
    assert expired.json()["category"] == "EXPIRED_AUTHENTICATION"
    assert "expired" in expired.json()["message"]
    assert expired.json()["context"]["expire time"]
    for form, status in (
        ({**OAUTH, "grant_type": "refresh_token", "refresh_token": "eu1-unknown-token"}, "BAD_REFRESH_TOKEN"),
        ({**OAUTH, "grant_type": "refresh_token", "client_id": "nope"}, "BAD_CLIENT_ID"),
        ({**OAUTH, "grant_type": "refresh_token", "client_secret": "nope"}, "BAD_CLIENT_SECRET"),
        ({**OAUTH, "grant_type": "password"}, "BAD_GRANT_TYPE"),
    ):
        refused = httpx.post(f"{fake.base_url}{TOKEN_PATH}", data=form)
        assert refused.status_code == 400
        assert refused.json()["status"] == status
        assert refused.json()["correlationId"]
    as_json = httpx.post(f"{fake.base_url}{TOKEN_PATH}", json={"grant_type": "refresh_token", **OAUTH})
    assert as_json.status_code == 400  # form-encoded only
    assert len(fake.issued) == 1


def test_a_revoked_refresh_token_fails_visibly_and_loses_nothing(
    admin_api, brand, purpose, contact, fake, published
):
    connector = oauth_connect(admin_api, fake)
    grant(brand, purpose)
    endpoint_fanout(endpoint_id=connector.endpoint_id)  # a token fetched and cached
    assert fake.status("ada@example.com", "101") == "SUBSCRIBED"
    cached = fake.bearers[-1]
    fake.revoke(REFRESH_TOKEN)  # the app is uninstalled: the cached token stops working too
    fetched, calls = len(fake.token_requests), len(fake.bearers)
    withdraw(brand, purpose)
    endpoint_fanout(endpoint_id=connector.endpoint_id)
    delivery = Delivery.objects.filter(endpoint=connector.endpoint).order_by("id").last()
    assert delivery is not None
    assert delivery.status == "pending"  # retried, not given up
    attempt = Attempt.objects.get(delivery=delivery)
    assert attempt.status_code == 400
    assert "BAD_REFRESH_TOKEN" in attempt.error
    assert "BAD_REFRESH_TOKEN" in attempt.response_excerpt
    assert fake.status("ada@example.com", "101") == "SUBSCRIBED"  # HubSpot unchanged
    assert fake.bearers[calls:] == [cached]  # refused 401 once; nothing sent after the refused refresh
    assert len(fake.token_requests) == fetched + 1
    # The retry: the refused token was dropped from the cache, so one refresh, refused, no API call.
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    batches.delivery_send(delivery_id=delivery.pk)
    assert Delivery.objects.get(pk=delivery.pk).status == "pending"
    assert Attempt.objects.filter(delivery=delivery).count() == 2
    assert len(fake.token_requests) == fetched + 2
    assert fake.bearers[calls:] == [cached]
    # The brand installs the app again and gives the new refresh token.
    fresh = "eu1-1a2b-3c4d-5e6f-7a8b9c0d1e2f"
    fake.refresh_tokens.add(fresh)
    reply = admin_api.patch(
        f"/api/v1/connectors/{connector.public_id}",
        {"credentials": {**OAUTH, "refresh_token": fresh}},
        format="json",
    )
    assert reply.status_code == 200, reply.content
    drain(connector.endpoint)
    assert Delivery.objects.get(pk=delivery.pk).status == "succeeded"
    assert fake.status("ada@example.com", "101") == "UNSUBSCRIBED"
    assert fake.paths().count(UPSERT) == 1
    assert [r["body"]["inputs"][0]["statusState"] for r in fake.requests if r["path"] == WRITE] == [
        "SUBSCRIBED",
        "UNSUBSCRIBED",
    ]
    # Neither token, nor the secret, in the delivery log, the audit log or the API's answers.
    log = admin_api.get(f"/api/v1/connectors/{connector.public_id}/deliveries")
    assert "BAD_REFRESH_TOKEN" in log.content.decode()  # the failure is visible there
    for text in (
        log.content.decode(),
        reply.content.decode(),
        admin_api.get(f"/api/v1/connectors/{connector.public_id}").content.decode(),
        admin_api.get("/api/v1/connectors").content.decode(),
        json.dumps(list(AuditEntry.objects.values("before", "after", "reason"))),
        json.dumps(list(Attempt.objects.values("response_excerpt", "error"))),
    ):
        assert_no_secret(fake, text)
        assert fresh not in text


class EchoingHubSpot(FakeHubSpot):
    """The fake, quoting the caller's bearer token in a refusal (an answer Candor cannot rule out)."""

    def _authenticate(self, request: Request) -> None:
        super()._authenticate(request)
        if request.path == WRITE:
            token = request.headers["Authorization"].removeprefix("Bearer ")
            raise Refusal(403, "MISSING_SCOPES", f"The token {token} lacks a scope.")


def test_the_access_token_is_redacted_from_the_delivery_log_even_when_hubspot_quotes_it(
    admin_api, brand, purpose, contact, fake, published
):
    echoing = EchoingHubSpot()
    echoing.start()
    try:
        connector = oauth_connect(admin_api, echoing)
        grant(brand, purpose)
        endpoint_fanout(endpoint_id=connector.endpoint_id)
    finally:
        echoing.stop()
    attempt = Attempt.objects.get(delivery__endpoint=connector.endpoint)
    assert attempt.status_code == 403
    assert "The token [redacted] lacks a scope." in attempt.response_excerpt
    assert_no_secret(echoing, attempt.response_excerpt + attempt.error)
    log = admin_api.get(f"/api/v1/connectors/{connector.public_id}/deliveries").content.decode()
    assert "[redacted]" in log
    assert_no_secret(echoing, log)
