"""Everything under /console/ (the console's pages and allauth's sign-in pages): the staff
member's language (their choice, else Accept-Language), a strict CSP (nothing inline, nothing
from elsewhere), and no caching of pages that show personal data."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils import translation
from django.utils.cache import patch_vary_headers

CONSOLE_PREFIX = "/console/"

CONSOLE_CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",  # the TOTP QR code is a data: URL
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    ]
)


def console_csp(*, img_origin: str | None = None) -> str:
    """CONSOLE_CSP, with one more origin images may come from: the brand's saved logo on the
    theme page, which shows it as the hosted page does (preferences.branding.logo_origin)."""
    if not img_origin:
        return CONSOLE_CSP
    return CONSOLE_CSP.replace("img-src 'self' data:", f"img-src 'self' data: {img_origin}")


class ConsoleMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(CONSOLE_PREFIX):
            return self.get_response(request)
        language = translation.get_language_from_request(request)
        with translation.override(language):
            request.LANGUAGE_CODE = language
            response = self.get_response(request)
        response.headers.setdefault("Content-Language", language)
        patch_vary_headers(response, ["Accept-Language", "Cookie"])
        # A page may name one origin its images come from (the theme page: the brand's logo).
        origin = getattr(response, "console_img_origin", None)
        response["Content-Security-Policy"] = console_csp(img_origin=origin)
        response["Cache-Control"] = "no-store"
        response["X-Content-Type-Options"] = "nosniff"
        response["Cross-Origin-Opener-Policy"] = "same-origin"
        return response
