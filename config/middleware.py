from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.asgi import ASGIRequest
from django.core.handlers.wsgi import LimitedStream, WSGIRequest
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.csrf import csrf_exempt

API_PREFIX = "/api/"


def _refusal(request: HttpRequest, status: int, code: str, title: str, detail: str) -> HttpResponse:
    """A problem+json answer under /api/, plain text elsewhere (the hosted pages' forms)."""
    if request.path.startswith(API_PREFIX):
        body = {"type": f"urn:candor:problem:{code}", "title": title, "status": status, "detail": detail}
        return HttpResponse(json.dumps(body), status=status, content_type="application/problem+json")
    return HttpResponse(detail, status=status, content_type="text/plain; charset=utf-8")


def _body_limit(request: HttpRequest) -> int | None:
    if request.path.startswith(API_PREFIX):
        return int(settings.API_MAX_BODY_BYTES)
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return None if limit is None else int(limit)


def _too_large(request: HttpRequest, limit: int) -> HttpResponse:
    detail = f"The request body must be at most {limit} bytes."
    return _refusal(request, 413, "payload-too-large", "Payload too large", detail)


class RequestSizeLimitMiddleware:
    """Bodies within the limit, whatever their framing.

    A body that announces a Content-Length past the limit gets 413 before it is read. A body
    without one (chunked transfer coding, or an HTTP/2 stream) is one Django would take as empty,
    and DRF would then answer as if nothing had been sent; so it is read here, up to one byte past
    the limit, and handed on with its length, or refused: 413 past the limit, 411 where the server
    cannot tell where a chunked body ends (wsgiref and runserver do not decode chunks).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = _body_limit(request)
        announced = request.META.get("CONTENT_LENGTH")
        if announced:
            try:
                length = int(announced)
            except ValueError:
                length = 0
            if limit is not None and length > limit and request.path.startswith(API_PREFIX):
                return _too_large(request, limit)
            return self.get_response(request)
        stream = self._unframed_body(request)
        if stream is None:
            if request.META.get("HTTP_TRANSFER_ENCODING"):
                return _refusal(
                    request,
                    411,
                    "length-required",
                    "Length required",
                    "This server cannot read a chunked body: send a Content-Length header.",
                )
            return self.get_response(request)
        raw = stream.read() if limit is None else _read_at_most(stream, limit + 1)
        if limit is not None and len(raw) > limit:
            return _too_large(request, limit)
        request._stream = LimitedStream(io.BytesIO(raw), len(raw))  # type: ignore[assignment]
        request.META["CONTENT_LENGTH"] = str(len(raw))
        return self.get_response(request)

    @staticmethod
    def _unframed_body(request: HttpRequest) -> Any:
        """The raw body stream of a request without a Content-Length, where it can be read to
        its end; None where there is no body or it cannot be read safely."""
        if isinstance(request, WSGIRequest):
            # gunicorn (and mod_wsgi) decode chunks and end the input at the body's end.
            if request.META.get("HTTP_TRANSFER_ENCODING") and request.environ.get("wsgi.input_terminated"):
                return request.environ["wsgi.input"]
            return None
        if isinstance(request, ASGIRequest):
            return request._stream  # the whole body, spooled by Django
        return None


def _read_at_most(stream: Any, size: int) -> bytes:
    chunks: list[bytes] = []
    remaining = size
    while remaining > 0:
        chunk = stream.read(remaining)
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


# --- The API lane ---------------------------------------------------------------------------
#
# A request to the JSON API (/api/v1/) is authenticated by its key (brands.auth), carries no
# session, no CSRF cookie and no flash messages, and is never framed. The middleware that serves
# the pages and the console (sessions, CSRF, sign-in, allauth, htmx, the console's language,
# messages, framing) would cost such a request more CPU than its view, so the API leaves the chain
# where ApiLaneStart sits and goes straight to what follows ApiLaneEnd, the last entry of
# settings.MIDDLEWARE: the URL resolver, the view middleware hooks and the view. Everything above
# ApiLaneStart still wraps every request. A middleware the API needs goes above it. Two more take
# the lane: vendors' and Twilio's webhook calls (/hooks/: server to server, verified by
# signature), and the hosted quiz (/q/: in a brand's frame it can rely on no cookie, so its
# progress travels signed in the form, it is CSRF-exempt with an Origin check, its framing is
# the CSP's frame-ancestors, which HostedPageHeadersMiddleware above the lane sets).

API_LANE_PREFIX = ("/api/v1/", "/hooks/", "/q/")
_lane = threading.local()


class ApiLaneEnd:
    """The last middleware: hands what comes after it (the view) to the ApiLaneStart above.

    Django builds the chain from the last entry to the first, so this instance exists before
    ApiLaneStart's, in the same thread, for the same handler."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        _lane.exit = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)


class ApiLaneStart:
    """API requests skip from here to the view; everything else goes on down the chain."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        exit_ = getattr(_lane, "exit", None)
        if exit_ is None:
            raise ImproperlyConfigured("ApiLaneStart needs ApiLaneEnd as the last entry of MIDDLEWARE")
        _lane.exit = None
        self.view = exit_

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info.startswith(API_LANE_PREFIX):
            return self.view(request)
        return self.get_response(request)


class ApiHeadersMiddleware:
    """`Cache-Control: no-store` on every response under /api/ (errors, 413s and the docs
    included): the API's answers carry personal data, which no cache may keep (ASVS 14.3.2).
    A response that sets its own Content-Security-Policy keeps it; the rest get one that lets
    a browser run nothing from them."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.path.startswith(API_PREFIX):
            response["Cache-Control"] = "no-store"
            if "Content-Security-Policy" not in response:
                response["Content-Security-Policy"] = API_CSP
        return response


API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"


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


def hosted_page_csp(*, img_origin: str | None = None) -> str:
    """HOSTED_PAGE_CSP, with one more origin images may come from (a brand's logo), for the
    response that shows it."""
    if not img_origin:
        return HOSTED_PAGE_CSP
    return HOSTED_PAGE_CSP.replace("img-src 'self' data:", f"img-src 'self' data: {img_origin}")


class HostedPageHeadersMiddleware:
    """Security headers (STANDARDS.md §8) on every response under the hosted-page prefixes,
    404s and CSRF failures included, so an unknown URL and a forged token answer alike.

    A view may set its own Content-Security-Policy (e.g. an embeddable quiz with a brand's
    frame-ancestors); everything else is always set here.
    """

    prefixes: tuple[str, ...] = ("/p/", "/q/", "/_dev/")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.path == "/" or request.path.startswith(self.prefixes):
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
