"""The preference centre: the page itself and its forms (subscriptions, consents, pause,
unsubscribe from all, confirmation emails)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.forms import BoundField
from django.http import Http404, HttpRequest, HttpResponse
from django.template import engines
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe
from markupsafe import Markup

from config.errors import ApplicationError
from config.i18n import labels_in_language, once_per_language
from config.middleware import hosted_csrf_protect
from consent.models import Contact, Decision
from consent.services import Suppressed, consent_record
from preferences import services
from preferences.centre_parts import centre_parts_context
from preferences.emails import confirm_url
from preferences.forms import HoldForm, SubscriptionsForm
from preferences.labels import (
    CHANNEL_ALL_LABELS,
    PROFILE_FIELDS,
    PROFILE_LABELS,
    PROFILE_WHY,
)
from preferences.models import HoldStartedBy
from preferences.page_selectors import (
    Centre,
)
from preferences.regions import region_name
from preferences.views._pages import (
    CENTRE,
    RECORDED_BY_CENTRE,
    Page,
    _render,
    _saved,
    _see_other,
    _service_failed,
    centre_view,
)


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
    places = {"subscriptions", "pause", "told-us", "your-data", *(p.html_id for p in centre.other_purposes)}
    if centre.channels:
        places.add("unsubscribe-all")
    context = {
        "status_place": _status_place(request, places),
        "centre": centre,
        "contact": page.contact,
        # What was sent, when the form comes back with an error: the boxes show it as sent.
        "submitted": form.submitted() if form is not None and form.is_bound else None,
        "hold_radios": hold_radios,
        "gpc": page.gpc,
        "error_summary": summary,
        "undo": undo,
        "facts": facts,
        **centre_parts_context(centre, centre.parts),  # quizzes: the answers under "What you've told us"
        "channel_all_labels": [(channel, all_labels[channel]) for channel in centre.channels],
        "opted_out_channels": [
            all_labels[channel] for channel in centre.channels if centre.opted_out.get(channel)
        ],
    }
    return _render(request, "preferences/centre.html", context, brand=page.brand, status=status)


def _status_place(request: HttpRequest, places: set[str]) -> str:
    """Where this page shows its confirmation: the part of the centre it was saved `here` for
    (preferences.views._pages._saved), if the page has it; else "" (the top of the page)."""
    for message in messages.get_messages(request):
        if message.extra_tags in places:
            return str(message.extra_tags)
    return ""


def _radios(field: BoundField) -> Markup:
    """The radio group of templates/jinja2/elements/radios.html, inline."""
    radios = engines["pages"].env.get_template("elements/radios.html").module.radios  # type: ignore[attr-defined]
    return Markup(radios(field, inline=True))  # noqa: S704 - the macro's output, escaped by it


def _fact_display(contact: Contact, name: str) -> str:
    value = getattr(contact, name) or ""
    if name == "locale" and value:
        return dict(settings.LANGUAGES).get(value.split("-")[0].lower(), value)
    if name == "jurisdiction" and value:
        return region_name(value, translation.get_language() or settings.LANGUAGE_CODE)
    return str(value)


@require_safe
@centre_view(reads_centre=True)
def centre(request: HttpRequest, page: Page) -> HttpResponse:
    return _centre_response(request, page)


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
            _saved(request, here=choice.html_id)
            return _see_other(page.home + anchor)
    elif decision == Decision.WITHDRAWN:
        # An objection to implied consent or a legitimate interest is recorded even though the
        # person never opted in: it is what stops the processing.
        if choice.state not in (Decision.GRANTED, "expired") and not choice.can_object:
            _saved(request, here=choice.html_id)
            return _see_other(page.home + anchor)
    else:
        errors = [(anchor, _("Choose whether to allow this or not."))]
        return _centre_response(request, page, centre=centre_now, errors=errors, status=422)
    try:
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
    except Suppressed:
        message = _(
            "You asked us earlier to delete your data, so we need you to confirm your email address "
            "first: subscribe to something by email here and use the link we send you."
        )
        return _centre_response(request, page, centre=centre_now, errors=[(anchor, message)], status=422)
    _saved(request, here=choice.html_id)
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
        here="pause",
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
    _saved(request, _("Resumed. You'll get messages again as you chose."), here="pause")
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
        here="unsubscribe-all",
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
    _saved(request, _("Undone. You're subscribed again as before."), here="unsubscribe-all")
    return _see_other(page.home + "#unsubscribe-all")


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
        _saved(
            request,
            _("We sent it moments ago. Please check your inbox, or try again in a few minutes."),
            here="subscriptions",
        )
    except services.ConfirmationExpired:
        _saved(
            request,
            _("That request is more than 72 hours old. Tick the box again to ask anew."),
            here="subscriptions",
        )
    except ApplicationError:
        raise Http404 from None
    else:
        _saved(request, _("We've sent the confirmation email again."), here="subscriptions")
    return _see_other(page.home + "#subscriptions")
