from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.csrf import csrf_exempt


class RequestSizeLimitMiddleware:
    """Answer 413 before reading a body that announces itself as too large."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = settings.API_MAX_BODY_BYTES
        if length > limit and request.path.startswith("/api/"):
            body = {
                "type": "urn:candor:problem:payload-too-large",
                "title": "Payload too large",
                "status": 413,
                "detail": f"The request body must be at most {limit} bytes.",
            }
            return HttpResponse(json.dumps(body), status=413, content_type="application/problem+json")
        return self.get_response(request)


# Hosted pages load nothing from elsewhere, run no inline script and are never framed.
HOSTED_PAGE_CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    ]
)


class HostedPageHeadersMiddleware:
    """Security headers (STANDARDS.md §8) on every response under the hosted-page prefixes,
    404s and CSRF failures included, so an unknown URL and a forged token answer alike.

    A view may set its own Content-Security-Policy (e.g. an embeddable quiz with a brand's
    frame-ancestors); everything else is always set here.
    """

    prefixes: tuple[str, ...] = ("/p/", "/q/")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.path.startswith(self.prefixes):
            if "Content-Security-Policy" not in response:
                response["Content-Security-Policy"] = HOSTED_PAGE_CSP
            response["Referrer-Policy"] = "no-referrer"
            response["Cache-Control"] = "no-store"
            response["X-Content-Type-Options"] = "nosniff"
            response["Cross-Origin-Opener-Policy"] = "same-origin"
        return response


class HostedPageCsrfViewMiddleware(CsrfViewMiddleware):
    """Django's CSRF check, for pages served with `Referrer-Policy: no-referrer`.

    Under that policy browsers send `Origin: null` (Fetch standard, "append a request Origin
    header") and no Referer with a same-origin form POST, and Django's Origin check refuses
    both. This accepts an `Origin: null` and keeps everything else: a real Origin must still
    match, and the secret in the form must still match the CSRF cookie, which outside DEBUG is
    `__Host-` prefixed, so a sibling subdomain or a network attacker cannot plant it.
    """

    def _origin_verified(self, request: HttpRequest) -> bool:
        if request.META.get("HTTP_ORIGIN") == "null":
            return True
        return super()._origin_verified(request)  # type: ignore[misc]


def _no_view(request: HttpRequest) -> HttpResponse:  # pragma: no cover - never called
    """Stands in for the view: not csrf_exempt, never run."""
    raise AssertionError("only process_view is used")


def hosted_csrf_failure(request: HttpRequest) -> HttpResponse | None:
    """The 403 for a request that fails the hosted pages' CSRF check, else None."""
    return HostedPageCsrfViewMiddleware(_no_view).process_view(request, _no_view, (), {})


def hosted_csrf_protect(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Protect a hosted page view with HostedPageCsrfViewMiddleware instead of the global check."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        failure = hosted_csrf_failure(request)
        if failure is not None:
            return failure
        return view(request, *args, **kwargs)

    return csrf_exempt(wrapped)
