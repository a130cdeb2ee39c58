from __future__ import annotations

import json
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse


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
