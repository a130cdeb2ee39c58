"""The hosted preference centre, its signed links and one-click unsubscribe (/p/<brand>/…).

Thin views: check the link or the session, parse a form, call one service, redirect (303) or
render. Rules that hold for every view here:

- A GET (or HEAD) never changes preferences or consent: mail scanners follow links.
- A forged, tampered or unknown token, another brand's token, or a token of another kind is
  answered with the site's ordinary 404, exactly like a URL that does not exist.
- Every write is a POST with a CSRF token (hosted_csrf_protect, which copes with the
  `Origin: null` that `Referrer-Policy: no-referrer` makes browsers send), except the RFC 8058
  one-click POST, which carries no cookies and is authorised by its signed token alone.
- Evidence for the ledger: the IP truncated to its network, the user agent, and the page's
  URL without any token.
- Tokens never reach the logs; `tokens.fingerprint` names them.
"""

from __future__ import annotations

import json
import logging
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, overload

from django.conf import settings
from django.contrib import messages
from django.forms import BoundField
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template import engines
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST, require_safe
from markupsafe import Markup

from brands.models import DEFAULT_PRIMARY_COLOUR, HEX_COLOUR_VALIDATOR, Brand
from config.errors import ApplicationError
from config.i18n import labels_in_language, once_per_language
from config.middleware import hosted_csrf_failure, hosted_csrf_protect
from consent.identifiers import email_hmac, normalise_email, truncate_ip
from consent.models import Contact, Decision, Method
from consent.services import EvidenceInput, consent_record, contact_upsert
from preferences import services
from preferences.emails import confirm_url
from preferences.forms import FACT_FORMS, HoldForm, LinkRequestForm, StepUpCodeForm, SubscriptionsForm
from preferences.gpc import gpc_honour, gpc_signal, gpc_well_known
from preferences.labels import (
    CHANNEL_ALL_LABELS,
    CHANNEL_LABELS,
    DIGEST_OFFERS,
    DIGEST_TAKEN,
    DIGESTS_LEAST_FREQUENT_FIRST,
    PROFILE_FIELDS,
    PROFILE_LABELS,
    PROFILE_WHY,
)
from preferences.language import language_for, language_pick
from preferences.link_mail import manage_link_send
from preferences.models import HoldStartedBy, StepUpAction, StepUpCode, Topic
from preferences.one_click import RECORDED_BY_LINK, one_click_accept, one_click_nudge
from preferences.page_selectors import (
    Centre,
    brand_and_contact_for_page,
    brand_contact_and_centre_rows,
    brand_for_page,
    centre_get,
    contact_export,
    contact_for_page,
    notice_current,
    topic_for_page,
)
from preferences.selectors import preferences_snapshot, subscriptions_pending
from preferences.session import (
    PageSession,
    session_end,
    session_load,
    session_refresh,
    session_start,
    session_write,
)
from preferences.statements import CentreRows
from preferences.step_up import StepUpRefused, mask_address, step_up_pending, step_up_start, step_up_verify
from preferences.throttle import throttle_blocked, throttle_count
from preferences.tokens import LinkKind, LinkToken, TokenExpired, TokenInvalid, fingerprint, token_read

logger = logging.getLogger(__name__)

CENTRE = Method.PREFERENCE_CENTRE.value
ONE_CLICK = Method.ONE_CLICK.value
RECORDED_BY_CENTRE = "hosted:preference-centre"
RECORDED_BY_CONFIRM = "hosted:confirm-link"
OFFER_PAUSE_WEEKS = 4
TEXT_PLAIN = "text/plain; charset=utf-8"


# --- Plumbing ----------------------------------------------------------------------------------


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
    page = engines["pages"].get_template(template).render({"brand": brand, **context}, request)
    response = HttpResponse(page, status=status)
    response["Content-Language"] = translation.get_language() or settings.LANGUAGE_CODE
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


# --- Signed links ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verified:
    claims: LinkToken
    contact: Contact
    expired: bool


BAD_LINK_SCOPE = "bad-link"


def _verify(
    request: HttpRequest, brand: Brand, token: str, kind: LinkKind, *, plain: bool = False
) -> Verified | HttpResponse:
    """The link's contact, or the 429 for an IP that sent too many bad links; anything not ours
    (forged, tampered, other kind, other brand, erased contact) raises the ordinary 404."""
    ip = _client_ip(request)
    retry_after = throttle_blocked(scope=BAD_LINK_SCOPE, ident=ip, rate=settings.LINK_BAD_TOKEN_RATE)
    if retry_after is not None:
        language = language_for(brand=brand, request=request)
        with translation.override(language):
            return _too_many(request, brand, retry_after, plain=plain)
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
        throttle_count(scope=BAD_LINK_SCOPE, ident=ip, rate=settings.LINK_BAD_TOKEN_RATE)
        logger.info(
            "Refused a link (kind %s, token %s) for brand %s", kind.value, fingerprint(token), brand.slug
        )
        raise Http404
    return Verified(claims=claims, contact=contact, expired=expired)


def _expired_page(request: HttpRequest, brand: Brand, token: str, kind: LinkKind) -> HttpResponse:
    context = {"form": LinkRequestForm(), "token": token, "kind": kind.value}
    return _render(request, "preferences/link_expired.html", context, brand=brand, status=410)


@hosted_csrf_protect
@require_http_methods(["GET", "HEAD", "POST"])
def landing(request: HttpRequest, brand_slug: str, token: str) -> HttpResponse:
    """A manage link: swapped for a short session and a 303 to the centre's URL without the token.
    An expired one offers "email me a new link", and still lets the person stop all emails."""
    brand = _brand(brand_slug)
    verified = _verify(request, brand, token, LinkKind.MANAGE)
    if isinstance(verified, HttpResponse):
        return verified
    if not verified.expired:
        response = _see_other(_home(brand))
        session_write(response, session_start(brand=brand, contact_id=verified.contact.pk))
        return response

    def expired() -> HttpResponse:
        if request.method == "POST" and request.POST.get("action") == "unsubscribe_all":
            services.channel_unsubscribe_all(
                brand=brand,
                external_id=verified.contact.external_id,
                channel="email",
                method=CENTRE,
                recorded_by=RECORDED_BY_CENTRE,
                evidence=_evidence(request, f"/p/{brand.slug}/t/"),
            )
            context = {
                "all": True,
                "what_all": CHANNEL_ALL_LABELS["email"],
                "channel": "email",
                "channel_label": CHANNEL_LABELS["email"],
            }
            return _render(request, "preferences/unsubscribed.html", context, brand=brand)
        return _expired_page(request, brand, token, LinkKind.MANAGE)

    return _in_language(request, brand, verified.contact, expired)


# --- The centre --------------------------------------------------------------------------------


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


def _centre_response(
    request: HttpRequest,
    page: Page,
    *,
    centre: Centre | None = None,
    form: SubscriptionsForm | None = None,
    hold_form: HoldForm | None = None,
    errors: list[tuple[str, str]] | None = None,
    status: int = 200,
) -> HttpResponse:
    centre = centre or page.centre()
    summary = [*(errors or []), *(form.error_summary() if form else [])]
    if hold_form is None:  # the empty form's choices read the same for everyone in a language
        hold_radios = once_per_language("centre.hold_radios", lambda: _radios(HoldForm()["weeks"]))
    else:
        summary += hold_form.error_summary()
        hold_radios = _radios(hold_form["weeks"])
    all_labels = labels_in_language(CHANNEL_ALL_LABELS)
    undo = [
        {"channel": channel, "what": all_labels[channel]}
        for channel in page.session.undo
        if centre.opted_out.get(channel) and channel in all_labels
    ]
    profile_labels, profile_why = labels_in_language(PROFILE_LABELS), labels_in_language(PROFILE_WHY)
    facts = [
        {
            "field": name,
            "label": profile_labels[name],
            "why": profile_why[name],
            "value": _fact_display(page.contact, name),
            "deletable": name != "email" or bool(page.contact.email),
        }
        for name in PROFILE_FIELDS
    ]
    context = {
        "centre": centre,
        "contact": page.contact,
        # What was sent, when the form comes back with an error: the boxes show it as sent.
        "submitted": form.submitted() if form is not None and form.is_bound else None,
        "hold_radios": hold_radios,
        "gpc": page.gpc,
        "error_summary": summary,
        "undo": undo,
        "facts": facts,
        "channel_all_labels": [(channel, all_labels[channel]) for channel in centre.channels],
        "opted_out_channels": [
            all_labels[channel] for channel in centre.channels if centre.opted_out.get(channel)
        ],
    }
    return _render(request, "preferences/centre.html", context, brand=page.brand, status=status)


def _radios(field: BoundField) -> Markup:
    """The radio group of templates/jinja2/elements/radios.html, inline."""
    radios = engines["pages"].env.get_template("elements/radios.html").module.radios  # type: ignore[attr-defined]
    return Markup(radios(field, inline=True))  # noqa: S704 - the macro's output, escaped by it


def _fact_display(contact: Contact, name: str) -> str:
    value = getattr(contact, name) or ""
    if name == "locale" and value:
        return dict(settings.LANGUAGES).get(value.split("-")[0].lower(), value)
    return str(value)


@require_safe
@centre_view(reads_centre=True)
def centre(request: HttpRequest, page: Page) -> HttpResponse:
    return _centre_response(request, page)


def _saved(request: HttpRequest, message: str | None = None) -> None:
    messages.success(request, message or _("Saved. Your choices are up to date."))


def _service_failed(exc: ApplicationError) -> str:
    # Service messages are written for API clients (English, technical); people get this.
    logger.info("A hosted-page change was refused: %s", exc.detail)
    return _("We couldn't save that change. Please check your choices and try again.")


@hosted_csrf_protect
@require_POST
@centre_view(reads_centre=True)
def subscriptions_save(request: HttpRequest, page: Page) -> HttpResponse:
    centre_now = page.centre()
    form = SubscriptionsForm(request.POST, centre=centre_now)
    if not form.is_valid():
        return _centre_response(request, page, centre=centre_now, form=form, status=422)
    changes = form.changes()
    if changes:
        try:
            result = services.preferences_update_with_confirmation(
                confirm_url_builder=confirm_url,
                brand=page.brand,
                external_id=page.external_id,
                method=CENTRE,
                recorded_by=RECORDED_BY_CENTRE,
                subscriptions=changes,
                evidence=page.evidence(request),
            )
        except ApplicationError as exc:
            errors = [("#subscriptions", _service_failed(exc))]
            return _centre_response(request, page, centre=centre_now, form=form, errors=errors, status=422)
        if result.pending:
            _saved(
                request,
                _("Saved. Please confirm by the link we're emailing you before anything new is sent."),
            )
            return _see_other(page.home)
    _saved(request)
    return _see_other(page.home)


@hosted_csrf_protect
@require_POST
@centre_view(reads_centre=True)
def consent_save(request: HttpRequest, page: Page, purpose_slug: str) -> HttpResponse:
    """Give or withdraw consent for a purpose that has no topics (e.g. personalisation): one
    button either way."""
    centre_now = page.centre()
    choice = centre_now.purposes.get(purpose_slug)
    if choice is None:
        raise Http404
    decision = request.POST.get("decision")
    notice = request.POST.get("notice") or ""
    anchor = f"#{choice.html_id}"
    if decision == Decision.GRANTED:
        if not choice.can_grant:
            return _centre_response(
                request,
                page,
                centre=centre_now,
                errors=[(anchor, _("This can't be allowed here."))],
                status=422,
            )
        if notice not in choice.current_notice_ids:
            message = _(
                "The text about “%(purpose)s” changed while you had this page open. "
                "Please read it again, then save."
            ) % {"purpose": choice.heading}
            return _centre_response(request, page, centre=centre_now, errors=[(anchor, message)], status=422)
        if choice.granted:
            _saved(request)
            return _see_other(page.home)
    elif decision == Decision.WITHDRAWN:
        if choice.state not in (Decision.GRANTED, "expired"):
            _saved(request)
            return _see_other(page.home)
    else:
        errors = [(anchor, _("Choose whether to allow this or not."))]
        return _centre_response(request, page, centre=centre_now, errors=errors, status=422)
    consent_record(
        brand=page.brand,
        external_id=page.external_id,
        purpose_slug=choice.purpose.slug,
        decision=decision,
        notice_version_id=notice if decision == Decision.GRANTED else None,
        method=CENTRE,
        recorded_by=RECORDED_BY_CENTRE,
        evidence=page.evidence(request),
    )
    _saved(request)
    return _see_other(page.home + anchor)


@hosted_csrf_protect
@require_POST
@centre_view
def pause(request: HttpRequest, page: Page) -> HttpResponse:
    form = HoldForm(request.POST)
    if not form.is_valid():
        return _centre_response(request, page, hold_form=form, status=422)
    hold = services.hold_start(
        brand=page.brand,
        external_id=page.external_id,
        started_by=HoldStartedBy.CUSTOMER,
        weeks=form.cleaned_data["weeks"],
        recorded_by=RECORDED_BY_CENTRE,
    )
    until = date_format(timezone.localtime(hold.until), "DATE_FORMAT")
    _saved(
        request,
        _("Paused until %(date)s. Messages you need, like order updates, still arrive.") % {"date": until},
    )
    return _see_other(page.home + "#pause")


@hosted_csrf_protect
@require_POST
@centre_view(reads_centre=True)
def resume(request: HttpRequest, page: Page) -> HttpResponse:
    hold_id = request.POST.get("hold", "")
    centre_now = page.centre()
    if hold_id in {hold.public_id for hold in centre_now.customer_holds}:
        services.hold_end(brand=page.brand, external_id=page.external_id, hold_id=hold_id)
    _saved(request, _("Resumed. You'll get messages again as you chose."))
    return _see_other(page.home + "#pause")


@hosted_csrf_protect
@require_http_methods(["GET", "HEAD", "POST"])
@centre_view(reads_centre=True)
def unsubscribe_all(request: HttpRequest, page: Page, channel: str) -> HttpResponse:
    """GET: what it would stop, and a confirm button. POST: stop it; undo stays on offer."""
    centre_now = page.centre()
    if channel not in centre_now.channels:
        raise Http404
    active = [row for row in centre_now.rows if row.channel == channel and row.active]
    if request.method != "POST":
        context = {
            "centre": centre_now,
            "channel": channel,
            "what": CHANNEL_ALL_LABELS[channel],
            "topics": [row.topic.text(centre_now.language)[0] for row in active],
        }
        return _render(request, "preferences/unsubscribe_all.html", context, brand=page.brand)
    services.channel_unsubscribe_all(
        brand=page.brand,
        external_id=page.external_id,
        channel=channel,
        method=CENTRE,
        recorded_by=RECORDED_BY_CENTRE,
        evidence=page.evidence(request),
    )
    page.session.undo[channel] = [row.topic.pk for row in active]
    _saved(
        request,
        _("You're unsubscribed from %(what)s. Changed your mind? Use “Undo” below.")
        % {"what": CHANNEL_ALL_LABELS[channel]},
    )
    return _see_other(page.home + "#unsubscribe-all")


@hosted_csrf_protect
@require_POST
@centre_view(reads_centre=True)
def unsubscribe_all_undo(request: HttpRequest, page: Page, channel: str) -> HttpResponse:
    """Reverse "unsubscribe from all": clear the opt-out and resubscribe what was on before,
    under the notices shown on the page."""
    topic_ids = set(page.session.undo.pop(channel, []))
    centre_now = page.centre()
    if not centre_now.opted_out.get(channel):
        return _see_other(page.home)
    changes = [
        services.SubscriptionChange(
            topic=row.topic.slug,
            channel=channel,
            status=services.SUBSCRIBED,
            notice_version=group.notice.public_id if group.notice is not None and not group.granted else None,
        )
        for group in centre_now.groups
        for topic in group.topics
        for row in topic.rows
        if row.channel == channel and row.topic.pk in topic_ids and not row.active
    ]
    try:
        services.preferences_update_with_confirmation(
            confirm_url_builder=confirm_url,
            brand=page.brand,
            external_id=page.external_id,
            method=CENTRE,
            recorded_by=RECORDED_BY_CENTRE,
            subscriptions=changes,
            unsubscribed_all={channel: False},
            evidence=page.evidence(request),
        )
    except ApplicationError as exc:
        return _centre_response(
            request, page, errors=[("#unsubscribe-all", _service_failed(exc))], status=422
        )
    _saved(request, _("Undone. You're subscribed again as before."))
    return _see_other(page.home + "#unsubscribe-all")


# --- What you've told us -----------------------------------------------------------------------

_FACT_KEYWORDS = {"email": "email", "phone": "phone", "locale": "locale", "timezone": "timezone_name"}


def _fact_keyword(name: str) -> str:
    return _FACT_KEYWORDS.get(name, name)


@hosted_csrf_protect
@require_http_methods(["GET", "HEAD", "POST"])
@centre_view
def fact_edit(request: HttpRequest, page: Page, name: str) -> HttpResponse:
    if name not in PROFILE_FIELDS:
        raise Http404
    form_class = FACT_FORMS[name]
    if request.method == "POST":
        form = form_class(request.POST)
        if form.is_valid():
            value = form.cleaned_data["value"]
            if name == "email" and normalise_email(value) != normalise_email(page.contact.email or ""):
                return _step_up_send(request, page, StepUpAction.EMAIL, new_email=normalise_email(value))
            contact_upsert(
                brand=page.brand,
                external_id=page.external_id,
                **{_fact_keyword(name): value},
            )
            _saved(request)
            return _see_other(page.home + "#told-us")
        status = 422
    else:
        form = form_class(initial={"value": getattr(page.contact, name) or ""})
        status = 200
    context = {
        "form": form,
        "name": name,
        "label": PROFILE_LABELS[name],
        "why": PROFILE_WHY[name],
        "error_summary": form.error_summary(),
    }
    return _render(request, "preferences/fact_edit.html", context, brand=page.brand, status=status)


@hosted_csrf_protect
@require_POST
@centre_view
def fact_delete(request: HttpRequest, page: Page, name: str) -> HttpResponse:
    if name not in PROFILE_FIELDS:
        raise Http404
    change: dict[str, Any] = {_fact_keyword(name): None if name in ("email", "phone") else ""}
    contact_upsert(brand=page.brand, external_id=page.external_id, **change)
    _saved(request, _("Deleted: %(what)s.") % {"what": PROFILE_LABELS[name]})
    return _see_other(page.home + "#told-us")


# --- Download and delete my data ---------------------------------------------------------------


# A download, an erasure or a change of address needs a fresh code from the mailbox
# (preferences.step_up): the request sends one and leads to the verify page; the action itself
# happens when the right code comes back.

_STEP_UP_TITLES = {
    StepUpAction.EXPORT: (gettext_lazy("Download my data"), gettext_lazy("Download my data")),
    StepUpAction.ERASE: (gettext_lazy("Delete my data"), gettext_lazy("Delete my data")),
    StepUpAction.EMAIL: (gettext_lazy("Confirm your new email address"), gettext_lazy("Confirm")),
}


def _step_up_send(
    request: HttpRequest, page: Page, action: StepUpAction, new_email: str = ""
) -> HttpResponse:
    try:
        step_up_start(brand=page.brand, contact=page.contact, action=action, new_email=new_email)
    except StepUpRefused as exc:
        if exc.reason == StepUpRefused.TOO_MANY:
            return _too_many(request, page.brand, 3600)
        title, _label = _STEP_UP_TITLES[action]
        context = {"action": action.value, "title": title, "no_address": True}
        return _render(request, "preferences/step_up.html", context, brand=page.brand, status=409)
    return _see_other(f"/p/{page.brand.slug}/verify/{action.value}")


@hosted_csrf_protect
@require_http_methods(["GET", "HEAD", "POST"])
@centre_view
def step_up_verify_view(request: HttpRequest, page: Page, action: str) -> HttpResponse:
    """The code from the email, then the action it was sent for; or a new code."""
    if action not in StepUpAction.values:
        raise Http404
    step_up = StepUpAction(action)
    pending = step_up_pending(contact=page.contact, action=step_up)
    if request.method == "POST" and request.POST.get("resend"):
        if step_up == StepUpAction.EMAIL and pending is None:
            return _see_other(f"/p/{page.brand.slug}/about-you/email")  # ask for the address again
        return _step_up_send(request, page, step_up, new_email=pending.new_email if pending else "")
    form = StepUpCodeForm(
        request.POST if request.method == "POST" else None,
        verify=lambda code: step_up_verify(contact=page.contact, action=step_up, code=code),
    )
    if form.is_valid():
        return _step_up_done(request, page, step_up, form.verified)
    if request.method != "POST" and pending is None:
        return _see_other(page.home + "#your-data")  # nothing was asked for
    address = pending.new_email if pending and step_up == StepUpAction.EMAIL else (page.contact.email or "")
    title, label = _STEP_UP_TITLES[step_up]
    context = {
        "action": step_up.value,
        "title": title,
        "submit_label": label,
        "sent_to": mask_address(address),
        "minutes": settings.STEP_UP_CODE_MINUTES,
        "form": form,
        "error_summary": form.error_summary(),
    }
    status = 422 if request.method == "POST" else 200
    return _render(request, "preferences/step_up.html", context, brand=page.brand, status=status)


def _step_up_done(request: HttpRequest, page: Page, action: StepUpAction, used: StepUpCode) -> HttpResponse:
    if action == StepUpAction.EXPORT:
        return _export_response(page)
    if action == StepUpAction.ERASE:
        from consent.erasure import contact_erase

        contact_erase(brand=page.brand, contact=page.contact, requested_via=CENTRE)
        page.ended = True
        return _see_other(f"/p/{page.brand.slug}/deleted")
    contact_upsert(brand=page.brand, external_id=page.external_id, email=used.new_email)
    _saved(request)
    return _see_other(page.home + "#told-us")


@hosted_csrf_protect
@require_POST
@centre_view
def export(request: HttpRequest, page: Page) -> HttpResponse:
    return _step_up_send(request, page, StepUpAction.EXPORT)


def _export_response(page: Page) -> HttpResponse:
    data = contact_export(brand=page.brand, contact=page.contact)
    response = HttpResponse(
        json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False),
        content_type="application/json; charset=utf-8",
    )
    stamp = timezone.now().strftime("%Y-%m-%d")
    response["Content-Disposition"] = f'attachment; filename="{page.brand.slug}-my-data-{stamp}.json"'
    return response


@hosted_csrf_protect
@require_http_methods(["GET", "HEAD", "POST"])
@centre_view
def erase(request: HttpRequest, page: Page) -> HttpResponse:
    """GET: what deleting means, and a confirm button. POST: a code by email; the verify page
    erases once it comes back, and ends the session."""
    if request.method != "POST":
        return _render(request, "preferences/erase.html", {"contact": page.contact}, brand=page.brand)
    return _step_up_send(request, page, StepUpAction.ERASE)


@require_safe
def erased(request: HttpRequest, brand_slug: str) -> HttpResponse:
    brand = _brand(brand_slug)
    return _in_language(
        request, brand, None, lambda: _render(request, "preferences/erased.html", {}, brand=brand)
    )


@hosted_csrf_protect
@require_POST
@centre_view
def sign_out(request: HttpRequest, page: Page) -> HttpResponse:
    page.ended = True
    return _see_other(page.home)


# --- Email me a new link -----------------------------------------------------------------------


@hosted_csrf_protect
@require_http_methods(["GET", "HEAD", "POST"])
def link_request(request: HttpRequest, brand_slug: str) -> HttpResponse:
    """The same 202, body and timing whether or not the address is known: the mail (if any) is
    sent after the response, and the limits count addresses, known or not."""
    brand = _brand(brand_slug)

    def view() -> HttpResponse:
        context: dict[str, Any]
        if request.method != "POST":
            context = {"form": LinkRequestForm()}
            return _render(request, "preferences/link_request.html", context, brand=brand)
        form = LinkRequestForm(request.POST)
        if not form.is_valid():
            context = {"form": form, "error_summary": form.error_summary()}
            return _render(request, "preferences/link_request.html", context, brand=brand, status=422)
        email = form.cleaned_data["email"]
        by_ip = throttle_count(scope="link-ip", ident=_client_ip(request), rate=settings.LINK_REQUEST_IP_RATE)
        by_address = throttle_count(
            scope="link-address", ident=email_hmac(normalise_email(email)), rate=settings.LINK_REQUEST_RATE
        )
        retry_after = max(by_ip or 0, by_address or 0)
        if retry_after:
            return _too_many(request, brand, retry_after)
        response = _render(request, "preferences/link_sent.html", {}, brand=brand, status=202)
        _after_response(response, lambda: manage_link_send(brand=brand, email=email))
        return response

    return _in_language(request, brand, None, view)


# --- One-click unsubscribe (RFC 8058) ----------------------------------------------------------


@dataclass(frozen=True)
class Target:
    brand: Brand
    contact: Contact
    topic: Topic | None
    channel: str

    @property
    def evidence_path(self) -> str:
        return f"/p/{self.brand.slug}/u/"


def _target(brand: Brand, verified: Verified) -> Target:
    channel = verified.claims.channel or "email"
    topic = None
    if verified.claims.topic_id is not None:
        topic = topic_for_page(brand=brand, topic_id=verified.claims.topic_id)
        if topic is None or topic.transactional or channel not in topic.channels:
            raise Http404
    return Target(brand=brand, contact=verified.contact, topic=topic, channel=channel)


def _is_one_click(request: HttpRequest) -> bool:
    return request.method == "POST" and request.POST.get("List-Unsubscribe") == "One-Click"


def _unsubscribe(request: HttpRequest, target: Target) -> services.PreferencesResult:
    evidence = _evidence(request, target.evidence_path)
    if target.topic is not None:
        return services.subscription_unsubscribe(
            brand=target.brand,
            external_id=target.contact.external_id,
            topic_slug=target.topic.slug,
            channel=target.channel,
            method=ONE_CLICK,
            recorded_by=RECORDED_BY_LINK,
            evidence=evidence,
        )
    return services.channel_unsubscribe_all(
        brand=target.brand,
        external_id=target.contact.external_id,
        channel=target.channel,
        method=ONE_CLICK,
        recorded_by=RECORDED_BY_LINK,
        evidence=evidence,
    )


def _target_context(target: Target) -> dict[str, Any]:
    language = translation.get_language() or settings.LANGUAGE_CODE
    return {
        "topic_name": target.topic.text(language)[0] if target.topic else None,
        "channel": target.channel,
        "channel_label": CHANNEL_LABELS[target.channel],
        "what_all": CHANNEL_ALL_LABELS[target.channel],
    }


def _offer(target: Target) -> dict[str, Any] | None:
    """After a one-topic unsubscribe: a digest (the least frequent the topic offers, if it is not
    what they had) and a pause, each with the notice it would be given under."""
    if target.topic is None or target.topic.purpose is None:
        return None
    language = translation.get_language() or settings.LANGUAGE_CODE
    notice = notice_current(
        purpose=target.topic.purpose, language=language, default_language=target.brand.default_language
    )
    if notice is None:
        return None
    snapshot = preferences_snapshot(contact=target.contact)
    current = snapshot.cadence(target.topic, target.channel)
    digest = next(
        (c for c in DIGESTS_LEAST_FREQUENT_FIRST if c in target.topic.cadence_options and c != current), None
    )
    return {
        "notice": notice,
        "digest": digest,
        "digest_button": DIGEST_OFFERS[digest] if digest else None,
        "pause_weeks": OFFER_PAUSE_WEEKS,
    }


def _offer_take(request: HttpRequest, target: Target, action: str) -> HttpResponse:
    """The person took the digest or the pause instead: subscribe again (under the notice shown
    with the offer), with the digest cadence or a pause of that topic and channel."""
    offer = _offer(target)
    assert target.topic is not None
    assert offer is not None
    if request.POST.get("notice") != offer["notice"].public_id:
        raise Http404  # the offer changed under the form; nothing is guessed
    cadence = offer["digest"] if action == "digest" else None
    if action == "digest" and cadence is None:
        raise Http404
    holds = []
    if action == "pause":
        holds = [
            services.HoldRequest(
                started_by=HoldStartedBy.CUSTOMER,
                weeks=OFFER_PAUSE_WEEKS,
                topics=(target.topic.slug,),
                channels=(target.channel,),
            )
        ]
    result = services.preferences_update_with_confirmation(
        confirm_url_builder=confirm_url,
        brand=target.brand,
        external_id=target.contact.external_id,
        method=CENTRE,
        recorded_by=RECORDED_BY_LINK,
        subscriptions=[
            services.SubscriptionChange(
                topic=target.topic.slug,
                channel=target.channel,
                status=services.SUBSCRIBED,
                cadence=cadence,
                notice_version=offer["notice"].public_id,
            )
        ],
        holds_start=holds,
        evidence=_evidence(request, target.evidence_path),
    )
    context = {
        **_target_context(target),
        "action": action,
        "digest_taken": DIGEST_TAKEN[cadence]
        % {"topic": target.topic.text(translation.get_language() or "en")[0]}
        if cadence
        else None,
        "until": result.holds_started[0].until if result.holds_started else None,
        "pending": bool(result.pending),
    }
    return _render(request, "preferences/unsubscribe_offer_taken.html", context, brand=target.brand)


def _one_click_accept(request: HttpRequest, brand_slug: str, token: str) -> HttpResponse | None:
    """The mailbox provider's POST: accepted durably in one statement and applied by the worker
    within seconds (preferences.one_click). None for an expired link, which `one_click` answers
    as before (410 if the contact still exists, else 404)."""
    ip = _client_ip(request)
    retry_after = throttle_blocked(scope=BAD_LINK_SCOPE, ident=ip, rate=settings.LINK_BAD_TOKEN_RATE)
    if retry_after is not None:
        return None  # `one_click` answers the 429 in the brand's language
    try:
        claims = token_read(token, kind=LinkKind.UNSUBSCRIBE)
    except TokenExpired:
        return None
    except TokenInvalid:
        claims = None
    path = f"/p/{brand_slug}/u/"
    accepted = (
        one_click_accept(brand_slug=brand_slug, claims=claims, evidence=_evidence(request, path))
        if claims
        else None
    )
    if accepted is None:
        throttle_count(scope=BAD_LINK_SCOPE, ident=ip, rate=settings.LINK_BAD_TOKEN_RATE)
        logger.info("Refused a one-click unsubscribe (token %s) for brand %s", fingerprint(token), brand_slug)
        raise Http404
    one_click_nudge()
    language = language_pick(
        locale=accepted.locale, request=request, default_language=accepted.default_language
    )
    with translation.override(language):
        return HttpResponse(_("You are unsubscribed."), content_type=TEXT_PLAIN)


@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
def one_click(request: HttpRequest, brand_slug: str, token: str) -> HttpResponse:
    """The unsubscribe link. A cookieless `List-Unsubscribe=One-Click` POST (urlencoded or
    multipart) unsubscribes and answers 200, never a redirect, and repeating it changes nothing;
    that is the only request here exempt from CSRF. A GET changes nothing and shows a button."""
    if _is_one_click(request):
        accepted = _one_click_accept(request, brand_slug, token)
        if accepted is not None:
            return accepted
    brand = _brand(brand_slug)
    verified = _verify(request, brand, token, LinkKind.UNSUBSCRIBE, plain=_is_one_click(request))
    if isinstance(verified, HttpResponse):
        return verified
    target = _target(brand, verified)

    def view() -> HttpResponse:
        if _is_one_click(request):
            if verified.expired:
                return HttpResponse(_("This link has expired."), status=410, content_type=TEXT_PLAIN)
            _unsubscribe(request, target)
            return HttpResponse(_("You are unsubscribed."), content_type=TEXT_PLAIN)
        if request.method == "POST":
            failure = hosted_csrf_failure(request)
            if failure is not None:
                return failure
            action = request.POST.get("action", "")
            if action == "unsubscribe":
                result = _unsubscribe(request, target)
                context = {
                    **_target_context(target),
                    "all": target.topic is None,
                    "token": token,
                    "offer": _offer(target) if result.events and not verified.expired else None,
                }
                return _render(request, "preferences/unsubscribed.html", context, brand=brand)
            if verified.expired:
                return _expired_page(request, brand, token, LinkKind.UNSUBSCRIBE)
            if action == "unsubscribe_all":
                services.channel_unsubscribe_all(
                    brand=brand,
                    external_id=target.contact.external_id,
                    channel=target.channel,
                    method=ONE_CLICK,
                    recorded_by=RECORDED_BY_LINK,
                    evidence=_evidence(request, target.evidence_path),
                )
                context = {**_target_context(target), "all": True, "token": token, "offer": None}
                return _render(request, "preferences/unsubscribed.html", context, brand=brand)
            if action in ("digest", "pause") and target.topic is not None:
                return _offer_take(request, target, action)
            if action == "stay":
                context = {**_target_context(target), "action": "stay"}
                return _render(request, "preferences/unsubscribe_offer_taken.html", context, brand=brand)
            raise Http404
        if verified.expired:
            return _expired_page(request, brand, token, LinkKind.UNSUBSCRIBE)
        snapshot = preferences_snapshot(contact=target.contact)
        if target.topic is not None:
            already = snapshot.status(target.topic, target.channel) not in ("subscribed", "pending")
        else:
            already = snapshot.opted_out(target.channel)
        context = {**_target_context(target), "token": token, "already": already}
        return _render(request, "preferences/one_click.html", context, brand=brand)

    return _in_language(request, brand, target.contact, view)


# --- Double opt-in confirmation ----------------------------------------------------------------


@hosted_csrf_protect
@require_http_methods(["GET", "HEAD", "POST"])
def confirm(request: HttpRequest, brand_slug: str, token: str) -> HttpResponse:
    """A double opt-in link: GET shows what it confirms and a button (mail scanners must not
    confirm anything); the POST confirms, once, within 72 hours of the request."""
    brand = _brand(brand_slug)
    verified = _verify(request, brand, token, LinkKind.CONFIRM)
    if isinstance(verified, HttpResponse):
        return verified
    claims = verified.claims
    topic = topic_for_page(brand=brand, topic_id=claims.topic_id) if claims.topic_id is not None else None
    if topic is None or claims.channel is None:
        raise Http404  # confirm links always name one topic and channel

    def used() -> HttpResponse:
        return _render(request, "preferences/confirm_done.html", {"used": True}, brand=brand, status=410)

    def view() -> HttpResponse:
        if verified.expired:
            return _expired_page(request, brand, token, LinkKind.CONFIRM)
        language = translation.get_language() or settings.LANGUAGE_CODE
        if request.method == "POST":
            try:
                services.subscription_confirm_link(
                    brand=brand,
                    contact=verified.contact,
                    topic_id=topic.pk,
                    channel=str(claims.channel),
                    issued_at=claims.issued_at,
                    recorded_by=RECORDED_BY_CONFIRM,
                    method=CENTRE,
                    evidence=_evidence(request, f"/p/{brand.slug}/c/"),
                )
            except services.ConfirmationExpired:
                return _expired_page(request, brand, token, LinkKind.CONFIRM)
            except services.ConfirmationUsed:
                return used()
            return _render(request, "preferences/confirm_done.html", {"used": False}, brand=brand)
        waiting = [
            row
            for row in subscriptions_pending(contact=verified.contact)
            if row.topic_id == topic.pk and row.channel == claims.channel
        ]
        if not waiting:
            return used()
        items = [{"topic": topic.text(language)[0], "channel": CHANNEL_LABELS[str(claims.channel)]}]
        return _render(request, "preferences/confirm.html", {"items": items, "token": token}, brand=brand)

    return _in_language(request, brand, verified.contact, view)


@hosted_csrf_protect
@require_POST
@centre_view
def confirmation_resend(request: HttpRequest, page: Page, topic_slug: str) -> HttpResponse:
    """Send the double opt-in email for a pending topic again (at most every 10 minutes)."""
    try:
        services.confirmation_resend(
            brand=page.brand, contact=page.contact, topic_slug=topic_slug, confirm_url_builder=confirm_url
        )
    except services.ConfirmationTooSoon:
        _saved(request, _("We sent it moments ago. Please check your inbox, or try again in a few minutes."))
    except services.ConfirmationExpired:
        _saved(request, _("That request is more than 72 hours old. Tick the box again to ask anew."))
    except ApplicationError:
        raise Http404 from None
    else:
        _saved(request, _("We've sent the confirmation email again."))
    return _see_other(page.home + "#subscriptions")


@require_safe
def gpc_json(request: HttpRequest) -> HttpResponse:
    """/.well-known/gpc.json (GPC spec §5): this site honours Global Privacy Control."""
    return HttpResponse(json.dumps(gpc_well_known()), content_type="application/json")


# --- The brand's colours -----------------------------------------------------------------------


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def brand_palette(colour: str) -> dict[str, str]:
    """The brand colour, the text colour that reads on it, and an ink for links and borders on
    white that keeps 4.5:1 (the brand colour itself when it does)."""
    try:
        HEX_COLOUR_VALIDATOR(colour)
    except Exception:
        colour = DEFAULT_PRIMARY_COLOUR
    colour = colour.lower()
    on_brand = "#000000" if _contrast(colour, "#000000") >= _contrast(colour, "#ffffff") else "#ffffff"
    ink = colour if _contrast(colour, "#ffffff") >= 4.5 else "#1a1a1a"
    return {"brand": colour, "on_brand": on_brand, "ink": ink}


@require_safe
def theme(request: HttpRequest, brand_slug: str) -> HttpResponse:
    """The brand's colours as CSS custom properties (a stylesheet, so the CSP needs no inline style)."""
    palette = brand_palette(_brand(brand_slug).primary_colour)
    css = (
        f":root {{ --brand: {palette['brand']}; --on-brand: {palette['on_brand']}; "
        f"--brand-ink: {palette['ink']}; }}\n"
    )
    return HttpResponse(css, content_type="text/css; charset=utf-8")
