"""Rendering for the console: the hosted pages' Jinja2 engine (config/jinja2.py), the console's
layout (templates/jinja2/console/base.html) and a navigation made from the access declarations,
so a link shows only where the role may follow it."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.contrib.messages import get_messages
from django.http import HttpRequest, HttpResponse
from django.template import engines
from django.urls import get_script_prefix, get_urlconf, resolve, reverse
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from config.csrf import csrf_field, csrf_token
from config.jinja2 import CSRF_HOLE
from console.kept import kept

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
        get_urlconf() or settings.ROOT_URLCONF,
        get_script_prefix(),
        console.brand.slug,
        console.role,
        get_language(),
    )
    return [(href, label, False) for href, label in links]


@lru_cache(maxsize=1024)
def _links(
    urlconf: str, script_prefix: str, brand_slug: str, role: str, language: str
) -> tuple[tuple[str, str], ...]:
    """The links for a brand, a role and a language, remembered: the declarations, the URLs and
    the translations do not change while the process runs, so eleven names need not be
    reversed, resolved and translated on every page (`language` is what the labels' gettext
    reads)."""
    items = []
    for name, label in NAVIGATION:
        href = reverse(name, urlconf=urlconf, args=[brand_slug])
        access = getattr(resolve(href, urlconf=urlconf).func, "console_access", None)
        if access is not None and access.may_read(role):
            items.append((href, str(label)))
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


def render_kept(
    request: HttpRequest,
    template: str,
    key: Hashable,
    make: Callable[[], tuple[dict[str, Any], int]],
) -> HttpResponse:
    """The page `render` draws from `template` and make()'s (context, status), kept for the
    requests that would draw it again (console.kept): everything but the CSRF field, a hole
    filled per request. `key` names everything the page's content shows; the layout's part (the
    person, their brands and roles, the language, the address) is added here. A page with a
    message to show (shown once) is drawn afresh and not kept."""
    console: Any = request.console  # type: ignore[attr-defined]
    if len(get_messages(request)):
        context, status = make()
        return render(request, template, context, status=status)
    brands = tuple((m.brand.pk, m.brand.slug, m.brand.name, m.role) for m in console.memberships)
    layout = (request.user.pk, brands, console.brand.pk, get_language(), request.get_full_path())
    status, parts = kept((template, key, layout), lambda: _drawn_with_hole(request, template, make))
    return HttpResponse(csrf_field(csrf_token(request)).encode().join(parts), status=status)


def _drawn_with_hole(
    request: HttpRequest, template: str, make: Callable[[], tuple[dict[str, Any], int]]
) -> tuple[int, tuple[bytes, ...]]:
    """The page's status and its bytes (encoded once, not per request) around each CSRF hole."""
    context, status = make()
    request.csrf_hole = True  # type: ignore[attr-defined]  # config.jinja2.csrf leaves CSRF_HOLE
    try:
        page = render(request, template, context, status=status).content
    finally:
        del request.csrf_hole  # type: ignore[attr-defined]
    return status, tuple(page.split(CSRF_HOLE.encode()))


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
