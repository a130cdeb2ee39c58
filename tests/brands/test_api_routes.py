"""Every API route, read from the URLconf (so a route added later is covered without a word
here), with every HTTP method and keys of every scope: the scope check holds for each method,
HEAD included; no answer may be cached; every problem has a fixed title."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from brands.auth import scopes_required
from brands.models import Brand, Scope
from consent.models import Contact, NoticeVersion
from consent.services import EvidenceInput, consent_record
from sync.delivery.endpoints import endpoint_create
from tests.actors import TEST_ACTOR

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
# One key per scope, and one with none at all.
KEY_SCOPES: list[list[str]] = [[str(scope)] for scope in Scope] + [[]]
UNKNOWN_ID = "no-such-id"
# A template left unformatted: 'Method "{method}" not allowed'.
PLACEHOLDER = re.compile(r"\{[a-z_]+\}")


def _walk(patterns: list[Any], prefix: str) -> list[tuple[str, URLPattern]]:
    found: list[tuple[str, URLPattern]] = []
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            found += _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            found.append((prefix + str(pattern.pattern), pattern))
    return found


def api_routes() -> list[tuple[str, URLPattern]]:
    routes = [
        (route, pattern)
        for route, pattern in _walk(get_resolver().url_patterns, "")
        if route.startswith("api/v1/")
    ]
    assert len(routes) >= 14, routes  # the walk found the API at all
    return routes


ROUTES = api_routes()


def view_class(pattern: URLPattern) -> Any:
    return pattern.callback.cls  # type: ignore[attr-defined]


def concrete(route: str, ids: dict[str, str]) -> str:
    """The route with each <converter:name> filled from `ids` (an unknown name: an id that
    exists nowhere, which a route added later answers with 404 once the scope check passed)."""
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: ids.get(m.group(1), UNKNOWN_ID), route)


def call(client: APIClient, method: str, path: str) -> Any:
    body = {} if method in ("POST", "PUT", "PATCH") else None
    return client.generic(
        method, path, data="{}" if body is not None else "", content_type="application/json"
    )


@pytest.fixture
def ids(brand: Brand, contact: Contact, notice_version: NoticeVersion, settings: Any) -> dict[str, str]:
    settings.WEBHOOK_ALLOW_PRIVATE = True
    event = consent_record(
        brand=brand,
        external_id=contact.external_id,
        purpose_slug="email-marketing",
        decision="granted",
        notice_version_id=notice_version.public_id,
        method="api",
        actor="subject",
        recorded_by="test",
        evidence=EvidenceInput(),
    )
    endpoint = endpoint_create(actor=TEST_ACTOR, brand=brand, url="http://127.0.0.1:9/hook")
    return {"external_id": contact.external_id, "event_id": str(event.pk), "endpoint_id": endpoint.public_id}


def test_every_handler_of_every_api_view_declares_its_scopes():
    """A handler missing from required_scopes would need `admin` (fail closed); declaring it is
    still the view's job."""
    for route, pattern in ROUTES:
        view = view_class(pattern)
        for method in ("get", "post", "put", "patch", "delete"):
            if hasattr(view, method):
                assert method.upper() in view.required_scopes, (route, method)


@pytest.mark.parametrize(("route", "pattern"), ROUTES, ids=[route for route, _ in ROUTES])
def test_every_method_passes_the_same_scope_check(
    route: str, pattern: URLPattern, brand: Brand, ids: dict[str, str], make_client: Callable[..., APIClient]
):
    view = view_class(pattern)
    path = concrete(route, ids)
    for scopes in KEY_SCOPES:
        client = make_client(brand, scopes)
        statuses = {method: call(client, method, path).status_code for method in METHODS}
        for method, status in statuses.items():
            required = scopes_required(view, method)
            allowed = required is not None and client.api_key.has_scopes(required)  # type: ignore[attr-defined]
            if not allowed:
                assert not 200 <= status < 300, (route, method, scopes, status)
            if required is None:  # not an operation of this route
                assert status == 405, (route, method, scopes, status)
            elif not allowed:
                assert status == 403, (route, method, scopes, status)
            else:
                assert status not in (401, 403, 405), (route, method, scopes, status)
        # HEAD is GET without the body: the same answer, never more.
        assert statuses["HEAD"] == statuses["GET"], (route, scopes, statuses)


def test_head_with_a_read_only_key_is_refused_where_get_is(
    brand: Brand, ids: dict[str, str], make_client: Callable[..., APIClient]
):
    """The probe's finding, spelled out: consent:read once got 200 and a Content-Length on HEAD."""
    client = make_client(brand, [Scope.CONSENT_READ])
    for path in (
        "/api/v1/contacts/cust-1/preferences",
        "/api/v1/events",
        "/api/v1/endpoints",
        f"/api/v1/endpoints/{ids['endpoint_id']}/deliveries",
        "/api/v1/contacts/cust-1/unsubscribe-headers",
    ):
        assert client.get(path).status_code == 403, path
        head = client.head(path)
        assert head.status_code == 403, path
        assert head.content == b""


def test_options_is_not_an_operation(brand: Brand, make_client: Callable[..., APIClient]):
    response = make_client(brand, [Scope.ADMIN]).options("/api/v1/purposes")
    assert response.status_code == 405
    assert response["Allow"] == "GET, POST, HEAD"
    assert response.json() == {
        "type": "urn:candor:problem:method-not-allowed",
        "title": "Method not allowed",
        "status": 405,
        "detail": 'Method "OPTIONS" not allowed.',
    }


@pytest.mark.parametrize(("route", "pattern"), ROUTES, ids=[route for route, _ in ROUTES])
def test_no_api_answer_may_be_stored_and_every_problem_has_a_fixed_title(
    route: str,
    pattern: URLPattern,
    brand: Brand,
    ids: dict[str, str],
    make_client: Callable[..., APIClient],
    client: Any,
):
    path = concrete(route, ids)
    answers = []
    for caller in (client, make_client(brand, []), make_client(brand, [Scope.ADMIN])):
        for method in METHODS:
            answers.append((method, call(caller, method, path)))
        answers.append(("GET", caller.get(path.replace(ids["external_id"], "x" * 256))))
    for method, response in answers:
        assert response["Cache-Control"] == "no-store", (route, method, response.status_code)
        if response.status_code >= 400 and method != "HEAD":
            assert response["Content-Type"] == "application/problem+json", (route, method)
            problem = response.json()
            assert not PLACEHOLDER.search(problem["title"] + problem["detail"]), problem
            assert problem["title"][0].isupper(), problem
            assert not problem["title"].endswith("."), problem


@pytest.mark.parametrize("path", ["/api/schema/", "/api/docs/", "/api/v1/no-such-route", "/api/v1/purposes"])
def test_the_schema_docs_and_unknown_api_urls_are_not_stored_either(client: Any, db: None, path: str):
    assert client.get(path)["Cache-Control"] == "no-store"
