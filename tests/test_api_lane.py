"""The API lane (config.middleware): /api/v1/ requests skip the pages' middleware and keep what
sits above ApiLaneStart; and the API's content negotiation (config.api.ApiContentNegotiation)."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpResponse
from django.test import Client, RequestFactory, override_settings
from rest_framework.test import APIClient

from config.middleware import ApiLaneEnd, ApiLaneStart

pytestmark = pytest.mark.django_db


def test_the_lane_ends_the_middleware_and_starts_below_everything_the_api_needs() -> None:
    chain = settings.MIDDLEWARE
    assert chain[-1] == "config.middleware.ApiLaneEnd"
    above = chain[: chain.index("config.middleware.ApiLaneStart")]
    for needed in (
        "django.middleware.security.SecurityMiddleware",
        "config.middleware.ApiHeadersMiddleware",
        "config.middleware.RequestSizeLimitMiddleware",
        "django.middleware.common.CommonMiddleware",
    ):
        assert needed in above


def test_an_api_request_skips_sessions_csrf_messages_and_framing(api: APIClient) -> None:
    response = api.get("/api/v1/purposes")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    # Above the lane: the API's own headers and the length.
    assert response["Cache-Control"] == "no-store"
    assert response["Content-Security-Policy"].startswith("default-src 'none'")
    assert response["Content-Length"] == str(len(response.content))
    # Below it, never reached: no session (Vary: Cookie), no CSRF cookie, no X-Frame-Options
    # (the API's CSP forbids framing), and Django's user was never attached.
    assert "Cookie" not in response.get("Vary", "")
    assert "X-Frame-Options" not in response
    assert not response.cookies
    assert not hasattr(response.wsgi_request, "session")
    assert not hasattr(response.wsgi_request, "_messages")


def test_an_api_refusal_takes_the_lane_too(client: Client) -> None:
    response = client.get("/api/v1/purposes")

    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response["Cache-Control"] == "no-store"
    assert not hasattr(response.wsgi_request, "session")


def test_a_vendors_webhook_call_takes_the_lane(client: Client) -> None:
    response = client.post("/hooks/klaviyo/con_unknown", b"{}", content_type="application/json")

    assert response.status_code == 404
    assert not hasattr(response.wsgi_request, "session")
    assert "Cookie" not in response.get("Vary", "")
    assert not response.cookies


def test_pages_and_the_api_docs_keep_the_whole_chain(client: Client) -> None:
    for path in ("/", "/api/docs/"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response["X-Frame-Options"] == "DENY", path
        assert hasattr(response.wsgi_request, "session"), path


def test_the_lane_start_without_its_end_is_refused_at_start_up() -> None:
    with pytest.raises(ImproperlyConfigured, match="ApiLaneEnd"):
        ApiLaneStart(lambda request: HttpResponse())


def test_the_lane_hands_the_view_of_its_own_chain_to_its_own_start() -> None:
    def view(request: object) -> HttpResponse:
        return HttpResponse("view")

    def page_middleware(request: object) -> HttpResponse:
        return HttpResponse("pages")

    ApiLaneEnd(view)
    start = ApiLaneStart(page_middleware)
    factory = RequestFactory()

    assert start(factory.get("/api/v1/purposes")).content == b"view"
    assert start(factory.get("/api/v1")).content == b"pages"
    assert start(factory.get("/p/acme/")).content == b"pages"
    # The end was handed over once: a second start finds none.
    with pytest.raises(ImproperlyConfigured):
        ApiLaneStart(page_middleware)


@pytest.mark.parametrize(
    ("accept", "status", "content_type"),
    [
        (None, 200, "application/json"),
        ("*/*", 200, "application/json"),
        ("application/json", 200, "application/json"),
        ("application/json; indent=2", 200, "application/json"),
        ("text/html, application/json;q=0.5", 200, "application/json"),
        ("text/html", 406, "application/problem+json"),
    ],
)
def test_the_api_answers_json_to_any_accept_that_allows_it_and_406_otherwise(
    api: APIClient, accept: str | None, status: int, content_type: str
) -> None:
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    response = api.get("/api/v1/purposes", **headers)

    assert response.status_code == status
    assert response["Content-Type"] == content_type


@override_settings(REST_FRAMEWORK={**settings.REST_FRAMEWORK, "URL_FORMAT_OVERRIDE": "format"})
def test_a_format_override_is_still_negotiated_in_full() -> None:
    from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
    from rest_framework.request import Request

    from config.api import ApiContentNegotiation

    request = Request(RequestFactory().get("/api/v1/purposes?format=api", HTTP_ACCEPT="*/*"))
    renderer, media_type = ApiContentNegotiation().select_renderer(
        request, [JSONRenderer(), BrowsableAPIRenderer()]
    )

    assert isinstance(renderer, BrowsableAPIRenderer)
    assert media_type == "text/html"
