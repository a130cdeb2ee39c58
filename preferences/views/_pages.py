"""What every hosted view shares: rendering in the contact's language, evidence, signed links,
and the centre's session (Page, centre_view)."""

from __future__ import annotations

import logging
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, overload

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template import engines
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from brands.models import Brand
from config.errors import ApplicationError
from config.middleware import hosted_page_csp
from config.throttle import throttle_count
from consent.identifiers import truncate_ip
from consent.models import Contact, Method
from consent.services import EvidenceInput
from preferences.branding import logo_origin
from preferences.forms import LinkRequestForm
from preferences.gpc import gpc_honour, gpc_signal
from preferences.language import language_for
from preferences.page_selectors import (
    Centre,
    brand_and_contact_for_page,
    brand_contact_and_centre_rows,
    brand_for_page,
    centre_get,
    contact_for_page,
)
from preferences.session import (
    PageSession,
    session_current,
    session_end,
    session_load,
    session_refresh,
)
from preferences.statements import CentreRows
from preferences.tokens import LinkKind, LinkToken, TokenExpired, TokenInvalid, fingerprint, token_read

logger = logging.getLogger(__name__)


CENTRE = Method.PREFERENCE_CENTRE.value


ONE_CLICK = Method.ONE_CLICK.value


RECORDED_BY_CENTRE = "hosted:preference-centre"


RECORDED_BY_CONFIRM = "hosted:confirm-link"


OFFER_PAUSE_WEEKS = 4


TEXT_PLAIN = "text/plain; charset=utf-8"


def _see_other(url: str) -> HttpResponse:
    response = HttpResponseRedirect(url)
    response.status_code = 303
    return response


def _brand(slug: str) -> Brand:
    brand = brand_for_page(slug=slug)
    if brand is None:
        raise Http404
    return brand


def _home(brand: Brand) -> str:
    return f"/p/{brand.slug}/"


def _client_ip(request: HttpRequest) -> str:
    return str(request.META.get("REMOTE_ADDR") or "unknown")


def _evidence(request: HttpRequest, path: str) -> EvidenceInput:
    try:
        ip = truncate_ip(str(request.META.get("REMOTE_ADDR") or ""))
    except ValueError:
        ip = ""
    return EvidenceInput(
        ip=ip,
        user_agent=request.headers.get("User-Agent", "")[:512],
        page_url=f"{settings.PUBLIC_BASE_URL}{path}",
    )


def _render(
    request: HttpRequest, template: str, context: dict[str, Any], *, brand: Brand | None, status: int = 200
) -> HttpResponse:
    """Render in the active language (the caller activates it), with the Jinja2 engine of the
    hosted pages (templates/jinja2/, config/jinja2.py)."""
    logo = logo_origin(brand)
    page = (
        engines["pages"]
        .get_template(template)
        .render(
            {"brand": brand, "logo": brand.logo_url if brand is not None and logo else "", **context}, request
        )
    )
    response = HttpResponse(page, status=status)
    response["Content-Language"] = translation.get_language() or settings.LANGUAGE_CODE
    if logo and logo != f"{request.scheme}://{request.get_host()}":
        response["Content-Security-Policy"] = hosted_page_csp(img_origin=logo)  # this page only
    return response


def _too_many(request: HttpRequest, brand: Brand, retry_after: int, *, plain: bool = False) -> HttpResponse:
    if plain:
        response = HttpResponse(
            _("Too many requests. Please try again later."), status=429, content_type=TEXT_PLAIN
        )
    else:
        response = _render(
            request, "preferences/too_many.html", {"retry_after": retry_after}, brand=brand, status=429
        )
    response["Retry-After"] = str(retry_after)
    return response


def _timezone(contact: Contact | None) -> zoneinfo.ZoneInfo | None:
    if contact is None or not contact.timezone:
        return None
    try:
        return zoneinfo.ZoneInfo(contact.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


def _in_language(
    request: HttpRequest, brand: Brand, contact: Contact | None, view: Callable[[], HttpResponse]
) -> HttpResponse:
    """Run `view` in the contact's (else the browser's, else the brand's) language and time zone."""
    language = language_for(brand=brand, contact=contact, request=request)
    zone = _timezone(contact)
    with translation.override(language), timezone.override(zone or timezone.get_default_timezone()):
        return view()


def _after_response(response: HttpResponse, work: Callable[[], Any]) -> None:
    """Run `work` once the response has been sent (the WSGI server closes it), so its duration
    cannot be read from the response time."""

    def run() -> None:
        try:
            work()
        except Exception:
            logger.exception("Work after a hosted-page response failed")

    response._resource_closers.append(run)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Verified:
    claims: LinkToken
    contact: Contact
    expired: bool


BAD_LINK_SCOPE = "bad-link"


def _verify(
    request: HttpRequest, brand: Brand, token: str, kind: LinkKind, *, plain: bool = False
) -> Verified | HttpResponse:
    """The link's contact; anything not ours (forged, tampered, other kind, other brand, erased
    contact) is the ordinary 404, or the 429 once its IP has sent too many bad links.

    A good link is never limited: mailbox providers send one-click POSTs from shared IPs, where
    someone else's bad links must not block a real unsubscribe."""
    claims: LinkToken | None
    expired = False
    try:
        claims = token_read(token, kind=kind)
    except TokenExpired as exc:
        claims, expired = exc.token, True
    except TokenInvalid:
        claims = None
    contact = None
    if claims is not None and claims.brand_id == brand.pk:
        contact = contact_for_page(brand=brand, contact_id=claims.contact_id)
    if claims is None or contact is None:
        logger.info(
            "Refused a link (kind %s, token %s) for brand %s", kind.value, fingerprint(token), brand.slug
        )
        return _bad_link(request, brand, plain=plain)
    return Verified(claims=claims, contact=contact, expired=expired)


def _bad_link(request: HttpRequest, brand: Brand, *, plain: bool = False) -> HttpResponse:
    """Count a bad link against its IP: the 429 once the IP is over LINK_BAD_TOKEN_RATE, else
    the ordinary 404."""
    retry_after = throttle_count(
        scope=BAD_LINK_SCOPE, ident=_client_ip(request), rate=settings.LINK_BAD_TOKEN_RATE
    )
    if retry_after is None:
        raise Http404
    with translation.override(language_for(brand=brand, request=request)):
        return _too_many(request, brand, retry_after, plain=plain)


def _expired_page(request: HttpRequest, brand: Brand, token: str, kind: LinkKind) -> HttpResponse:
    context = {"form": LinkRequestForm(), "token": token, "kind": kind.value}
    return _render(request, "preferences/link_expired.html", context, brand=brand, status=410)


@dataclass
class Page:
    brand: Brand
    contact: Contact
    session: PageSession
    gpc: bool = False  # the request carried Sec-GPC: 1
    ended: bool = False
    rows: CentreRows | None = None  # read with the session (centre_view(reads_centre=True))

    @property
    def home(self) -> str:
        return _home(self.brand)

    @property
    def external_id(self) -> str:
        return self.contact.external_id

    def evidence(self, request: HttpRequest) -> EvidenceInput:
        return _evidence(request, self.home)

    def centre(self) -> Centre:
        """What the centre shows, in the active language: from the rows read with the session
        the first time, read afresh after that (a write may have happened in between)."""
        language = translation.get_language() or settings.LANGUAGE_CODE
        rows, self.rows = self.rows, None
        return centre_get(brand=self.brand, contact=self.contact, language=language, rows=rows)


View = Callable[..., HttpResponse]


def _centre_request(
    request: HttpRequest, brand_slug: str, view: Callable[[Page], HttpResponse], *, reads_centre: bool
) -> HttpResponse:
    session = session_load(request)
    contact: Contact | None = None
    rows: CentreRows | None = None
    if session is None:
        brand = _brand(brand_slug)
    else:  # the brand and the session's contact in one query (with what the centre shows)
        if reads_centre:
            found, contact, rows = brand_contact_and_centre_rows(
                slug=brand_slug, brand_id=session.brand_id, contact_id=session.contact_id, now=timezone.now()
            )
        else:
            found, contact = brand_and_contact_for_page(slug=brand_slug, contact_id=session.contact_id)
        if found is None:
            raise Http404
        brand = found
        if session.brand_id != brand.pk:  # another brand's session is no session here
            session, contact = None, None
        elif contact is not None and not session_current(session, contact):
            contact = None  # signed out since: the cookie is ended below like a lapsed one
    if session is None or contact is None:

        def ended() -> HttpResponse:
            status = 200 if request.method in ("GET", "HEAD") else 403
            context = {"form": LinkRequestForm()}
            return _render(request, "preferences/session_ended.html", context, brand=brand, status=status)

        response = _in_language(request, brand, None, ended)
        if session is not None:
            session_end(response)
        return response
    page = Page(brand=brand, contact=contact, session=session, gpc=gpc_signal(request.META), rows=rows)
    if page.gpc:
        # Sec-GPC: 1 is an opt-out of sale/sharing, recorded without asking (CCPA §7025); it
        # is the one thing a GET here may write, and only once (repeats find it recorded).
        gpc_honour(brand=brand, contact=contact, request_meta=request.META)
        page.rows = None  # read before the write
    response = _in_language(request, brand, contact, lambda: view(page))
    if page.ended:
        session_end(response)
    else:
        session_refresh(response, page.session)  # restarts the idle timeout
    return response


@overload
def centre_view(view: View, /) -> View: ...
@overload
def centre_view(*, reads_centre: bool) -> Callable[[View], View]: ...
def centre_view(view: View | None = None, /, *, reads_centre: bool = False) -> Any:
    """Views of the centre: need the session a manage link was swapped for. Without one (never
    had one, lapsed, or the contact was erased) they answer the "email me a link" page. With
    `reads_centre`, what `Page.centre` shows is read in the same round trip as the session's
    brand and contact."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, brand_slug: str, *args: Any, **kwargs: Any) -> HttpResponse:
            return _centre_request(
                request,
                brand_slug,
                lambda page: view(request, page, *args, **kwargs),
                reads_centre=reads_centre,
            )

        return wrapper

    return decorate(view) if view is not None else decorate


def _saved(request: HttpRequest, message: str | None = None, *, here: str = "") -> None:
    """Confirm a change on the next page. `here`: the id of the part of the centre the redirect
    leads to, where the confirmation is then shown (not at the top, out of sight)."""
    messages.success(request, message or _("Saved. Your choices are up to date."), extra_tags=here)


def _service_failed(exc: ApplicationError) -> str:
    # Service messages are written for API clients (English, technical); people get this.
    logger.info("A hosted-page change was refused: %s", exc.detail)
    return _("We couldn't save that change. Please check your choices and try again.")
