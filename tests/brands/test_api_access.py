"""Authentication, scopes, tenancy and rate limits for every API endpoint."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

from brands.services import api_key_revoke
from consent.models import ConsentEvent
from tests.actors import TEST_ACTOR

ENDPOINTS = [
    ("get", "/api/v1/purposes", "consent:read"),
    ("get", "/api/v1/contacts/cust-1", "consent:read"),
    ("put", "/api/v1/contacts/cust-1", "consent:write"),
    ("get", "/api/v1/contacts/cust-1/consents", "consent:read"),
    ("post", "/api/v1/contacts/cust-1/consents", "consent:write"),
    ("get", "/api/v1/contacts/cust-1/consents/history", "consent:read"),
    ("get", "/api/v1/consent-events/6f1f5b4e-6a0c-4a43-9d1e-7d4b1f0b8c11/receipt", "consent:read"),
]


@pytest.mark.parametrize(("method", "path", "scope"), ENDPOINTS)
def test_no_key_is_401_problem(client, db, method, path, scope):
    response = getattr(client, method)(path, content_type="application/json")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("header", ["Bearer cnd_nope_x", "Bearer", "Basic dXNlcjpwYXNz", "Bearer a b"])
def test_bad_keys_are_401(client, db, header):
    response = client.get("/api/v1/purposes", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401


def test_revoked_key_is_401_at_once_although_lookups_are_cached(
    api, brand, django_capture_on_commit_callbacks, django_assert_num_queries
):
    assert api.get("/api/v1/purposes").status_code == 200
    with django_assert_num_queries(1):  # the key comes from the cache: only the purposes query
        assert api.get("/api/v1/purposes").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        api_key_revoke(actor=TEST_ACTOR, api_key=api.api_key)
    assert api.get("/api/v1/purposes").status_code == 401


def test_unknown_keys_are_cached_as_unknown(client, db, django_assert_num_queries):
    assert client.get("/api/v1/purposes", HTTP_AUTHORIZATION="Bearer cnd_nope_x").status_code == 401
    with django_assert_num_queries(0):
        assert client.get("/api/v1/purposes", HTTP_AUTHORIZATION="Bearer cnd_nope_x").status_code == 401


@pytest.mark.parametrize(("method", "path", "scope"), ENDPOINTS)
def test_missing_scope_is_403(make_client, brand, contact, method, path, scope):
    other_scope = "consent:write" if scope == "consent:read" else "consent:read"
    client = make_client(brand, [other_scope, "events:read"])
    response = getattr(client, method)(path, {}, format="json")
    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    assert scope in response.json()["detail"]


def test_admin_scope_covers_everything(make_client, brand, contact):
    client = make_client(brand, ["admin"])
    assert client.get("/api/v1/contacts/cust-1/consents").status_code == 200


def test_another_brands_contact_and_event_are_404(api, outsider_api, contact, purpose, notice_version):
    created = api.post(
        "/api/v1/contacts/cust-1/consents",
        {
            "purpose": "email-marketing",
            "decision": "granted",
            "notice_version": notice_version.public_id,
        },
        format="json",
    ).json()
    assert outsider_api.get("/api/v1/contacts/cust-1").status_code == 404
    assert outsider_api.get("/api/v1/contacts/cust-1/consents").status_code == 404
    assert outsider_api.get("/api/v1/contacts/cust-1/consents/history").status_code == 404
    assert outsider_api.get(f"/api/v1/consent-events/{created['event_id']}/receipt").status_code == 404
    assert outsider_api.get("/api/v1/purposes").json() == []
    # Writing to a same-named contact in another brand touches only that brand.
    outsider_api.put("/api/v1/contacts/cust-1", {}, format="json")
    response = outsider_api.post(
        "/api/v1/contacts/cust-1/consents",
        {
            "purpose": "email-marketing",
            "decision": "granted",
            "notice_version": notice_version.public_id,
        },
        format="json",
    )
    assert response.status_code == 422
    assert ConsentEvent.objects.count() == 1


def test_rate_limit_answers_429_with_retry_after(api, brand, settings, make_client):
    settings.API_RATE_LIMIT = "3/min"
    with time_machine.travel(datetime(2026, 11, 23, 10, 0, 20, tzinfo=UTC), tick=False):
        statuses = [api.get("/api/v1/purposes").status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        limited = api.get("/api/v1/purposes")
        assert limited["Content-Type"] == "application/problem+json"
        assert limited["Retry-After"] == "40"  # the window ends at 10:01:00
        # Another key of the same brand has its own allowance.
        assert make_client(brand).get("/api/v1/purposes").status_code == 200
    with time_machine.travel(datetime(2026, 11, 23, 10, 1, 0, tzinfo=UTC), tick=False):
        assert api.get("/api/v1/purposes").status_code == 200


@pytest.mark.parametrize("rate", ["1200", "ten/min", "5/fortnight", ""])
def test_a_malformed_rate_is_refused(rate):
    from config.env import parse_rate

    with pytest.raises(ValueError, match="1200/min"):
        parse_rate(rate)
