"""Rendering for the console: the hosted pages' Jinja2 engine (config/jinja2.py), the console's
layout (templates/jinja2/console/base.html) and a navigation made from the access declarations,
so a link shows only where the role may follow it."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.template import engines
from django.urls import get_script_prefix, get_urlconf, resolve, reverse
from django.utils.translation import gettext_lazy as _

# (URL name in the console namespace, label). A page added later appears here once it declares
# its roles; the role filter comes from that declaration.
NAVIGATION = [
    ("console:overview", _("Overview")),
    ("console:members", _("Members")),
    ("console:topics", _("Topics")),
    ("console:purposes", _("Purposes and notices")),
    ("console:theme", _("Theme")),
    ("console:api_keys", _("API keys")),
    ("console:endpoints", _("Webhooks")),
    ("console:connectors", _("Connectors")),
    ("console:contacts", _("Contacts")),
    ("console:audit", _("Audit log")),
    ("console:quizzes", _("Quizzes")),
]

STATUS_TITLES = {
    400: _("That request could not be understood"),
    403: _("You do not have access to this"),
    404: _("Page not found"),
    405: _("That request could not be understood"),
}


def navigation(console: Any) -> list[tuple[str, Any, bool]]:
    """(href, label, current) for each page the person's role may open."""
    links = _links(
        get_urlconf() or settings.ROOT_URLCONF, get_script_prefix(), console.brand.slug, console.role
    )
    return [(href, label, False) for href, label in links]


@lru_cache(maxsize=1024)
def _links(urlconf: str, script_prefix: str, brand_slug: str, role: str) -> tuple[tuple[str, Any], ...]:
    """The links for a brand and a role, remembered: the declarations and the URLs do not change
    while the process runs, so nine names need not be reversed and resolved on every page."""
    items = []
    for name, label in NAVIGATION:
        href = reverse(name, urlconf=urlconf, args=[brand_slug])
        access = getattr(resolve(href, urlconf=urlconf).func, "console_access", None)
        if access is not None and access.may_read(role):
            items.append((href, label))
    return tuple(items)


def render(
    request: HttpRequest, template: str, context: dict[str, Any], *, status: int = 200
) -> HttpResponse:
    console: Any | None = getattr(request, "console", None)
    nav = navigation(console) if console is not None else []
    here = request.path
    nav = [(href, label, href == here) for href, label, _current in nav]
    page = (
        engines["pages"].get_template(template).render({"console": console, "nav": nav, **context}, request)
    )
    return HttpResponse(page, status=status)


def refusal(request: HttpRequest, status: int, console: Any | None = None) -> HttpResponse:
    """The readable page for 400, 403, 404 and 405."""
    if console is None and hasattr(request, "console"):
        del request.console
    response = render(
        request, "console/refused.html", {"status": status, "title": STATUS_TITLES[status]}, status=status
    )
    if status == 405:
        response["Allow"] = "GET, HEAD, POST"
    return response
