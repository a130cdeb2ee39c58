"""/api/docs/ renders Swagger UI in Chromium from this service alone, under its CSP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit


def test_the_api_docs_render_offline_under_their_csp(server: str, new_page: Callable[..., Any]):
    page = new_page()
    origin = urlsplit(server).netloc
    requested: list[str] = []
    complaints: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on("console", lambda message: complaints.append(message.text) if message.type == "error" else None)

    response = page.goto(f"{server}/api/docs/")

    assert "'self'" in response.headers["content-security-policy"]
    page.wait_for_selector(".opblock-summary")  # the operations, read from /api/schema/
    assert page.locator(".opblock-summary").count() >= 14
    assert [url for url in requested if urlsplit(url).netloc not in (origin, "")] == []
    assert complaints == []
