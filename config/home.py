"""The root page (`/`), and the DEBUG-only helpers it points a newcomer to: a fresh link into
the demo customer's preference centre, and the development mail folder (config/mail.py).

In production `/` says only that Candor runs and where its public documents are: no version,
no brand, no contact, nothing from the database. The `/_dev/` pages answer 404 unless DEBUG is on.
"""

from __future__ import annotations

import tomllib
from functools import lru_cache

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.template import engines
from django.urls import Resolver404, resolve
from django.utils import translation
from django.views.decorators.http import require_GET

from brands.models import Brand
from config.mail import mailbox_folder, mailbox_list, mailbox_read
from consent.demo import DEMO_CONTACT, DEMO_SLUG
from consent.models import Contact
from preferences.language import language_pick
from preferences.tokens import LinkKind, link_path, token_issue


@lru_cache(maxsize=1)
def candor_version() -> str | None:
    """The version pyproject.toml gives, or None where there is none to read."""
    try:
        with (settings.BASE_DIR / "pyproject.toml").open("rb") as handle:
            version = tomllib.load(handle).get("project", {}).get("version")
    except (OSError, tomllib.TOMLDecodeError):
        return None
    return str(version) if version else None


def _exists(path: str) -> bool:
    """Something answers at `path` (the console appears here on the day its URLs land)."""
    try:
        resolve(path)
    except Resolver404:
        return False
    return True


def _render(request: HttpRequest, template: str, context: dict[str, object]) -> HttpResponse:
    page = engines["pages"].get_template(template).render({"brand": None, **context}, request)
    response = HttpResponse(page)
    response["Content-Language"] = translation.get_language() or settings.LANGUAGE_CODE
    return response


def _demo_contact() -> tuple[Brand, Contact] | None:
    brand = Brand.objects.filter(slug=DEMO_SLUG).first()
    if brand is None:
        return None
    contact = Contact.objects.filter(brand=brand, external_id=DEMO_CONTACT, erased_at__isnull=True).first()
    return None if contact is None else (brand, contact)


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    language = language_pick(locale="", request=request, default_language=settings.LANGUAGE_CODE)
    debug = bool(settings.DEBUG)
    with translation.override(language):
        return _render(
            request,
            "home.html",
            {
                "debug": debug,
                # Development only: a version tells an attacker which advisories apply.
                "version": candor_version() if debug else None,
                "demo": debug and _demo_contact() is not None,
                "demo_slug": DEMO_SLUG,
                "demo_contact": DEMO_CONTACT,
                "console": _exists("/console/"),
                "mail_folder": mailbox_folder() if debug else None,
            },
        )


def _debug_only() -> None:
    if not settings.DEBUG:
        raise Http404


@require_GET
def demo_centre(request: HttpRequest) -> HttpResponse:
    """DEBUG only: a fresh manage link for the seeded demo customer, and nobody else (a link
    into a real person's centre is never handed out by a page)."""
    _debug_only()
    found = _demo_contact()
    if found is None:
        raise Http404
    brand, contact = found
    token = token_issue(kind=LinkKind.MANAGE, brand=brand, contact=contact)
    response = HttpResponse(status=303)
    response["Location"] = link_path(kind=LinkKind.MANAGE, brand=brand, token=token)
    return response


@require_GET
def dev_mail_list(request: HttpRequest) -> HttpResponse:
    """DEBUG only: the mail this checkout sent, newest first."""
    _debug_only()
    folder = mailbox_folder()
    with translation.override("en"):
        return _render(
            request,
            "dev/mail_list.html",
            {
                "folder": folder,
                "messages_sent": mailbox_list(folder) if folder else [],
                "backend": settings.EMAIL_BACKEND,
            },
        )


@require_GET
def dev_mail_message(request: HttpRequest, name: str) -> HttpResponse:
    """DEBUG only: one message's headers and text part, its links clickable."""
    _debug_only()
    folder = mailbox_folder()
    mail = mailbox_read(folder, name) if folder else None
    if mail is None:
        raise Http404
    with translation.override("en"):
        return _render(request, "dev/mail_message.html", {"mail": mail})
