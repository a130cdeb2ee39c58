"""A brand's landing page: the Overview's figures (console.dashboard, from the rollups the
worker keeps), each linked to the rows behind it where the person's role may open them."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.urls import resolve, reverse
from django.utils.translation import get_language
from markupsafe import Markup

from console.access import EVERY_ROLE, Console, access_of, brand_page
from console.charts import dashboard_render
from console.dashboard import DEFAULT_DAYS, RowsBehind, dashboard_overview
from console.filters import PeriodForm
from console.pages import render

# Which page lists each kind of rows (RowsBehind.kind).
ROWS_PAGES = {
    "consent-events": "console:rows_events",
    "contacts": "console:rows_contacts",
    "deliveries": "console:rows_deliveries",
}


def rows_linker(console: Console) -> Callable[[RowsBehind], str | None]:
    """RowsBehind -> the URL of its rows, or None where the person's role may not open that page
    (the page's own declaration decides, as for the navigation)."""
    pages = {}
    for kind, name in ROWS_PAGES.items():
        href = reverse(name, args=[console.brand.slug])
        access = access_of(resolve(href).func)
        if access is not None and access.may_read(console.role):
            pages[kind] = href

    def link(rows: RowsBehind) -> str | None:
        href = pages.get(rows.kind)
        return None if href is None else f"{href}?{rows.query}"

    return link


@brand_page(read=EVERY_ROLE)
def overview(request: HttpRequest, brand_slug: str) -> HttpResponse:
    console: Console = request.console  # type: ignore[attr-defined]
    # Without a choice, the form shows the default period as chosen.
    period = PeriodForm({"days": str(DEFAULT_DAYS), **request.GET.dict()})
    valid = period.is_valid()
    days = (period.cleaned_data["days"] if valid else None) or DEFAULT_DAYS
    figures = dashboard_overview(brand=console.brand, days=days, language=get_language() or "en")
    dashboard = Markup(dashboard_render(figures, rows_link=rows_linker(console), request=request))  # noqa: S704 (rendered by the autoescaping engine)
    context = {
        "dashboard": dashboard,
        "period": period,
        "errors": [] if valid else period.error_summary(),
    }
    return render(request, "console/overview.html", context, status=200 if valid else 400)
