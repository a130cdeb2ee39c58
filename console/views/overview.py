"""A brand's landing page: the Overview."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from console.access import EVERY_ROLE, brand_page
from console.pages import render
from console.selectors import (
    overview_headline,
)


@brand_page(read=EVERY_ROLE)
def overview(request: HttpRequest, brand_slug: str) -> HttpResponse:
    headline = overview_headline(brand=request.console.brand)  # type: ignore[attr-defined]
    return render(request, "console/overview.html", {"headline": headline})
