"""What you've told us, and your data: correcting and deleting profile facts, step-up codes,
download, erasure, signing out."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from config.middleware import hosted_csrf_protect
from consent.identifiers import normalise_email
from consent.services import access_request_record, contact_upsert
from preferences import services
from preferences.forms import FACT_FORMS, StepUpCodeForm
from preferences.labels import (
    PROFILE_FIELDS,
    PROFILE_LABELS,
    PROFILE_WHY,
)
from preferences.language import language_for
from preferences.models import StepUpAction, StepUpCode
from preferences.page_selectors import (
    contact_export,
)
from preferences.step_up import StepUpRefused, mask_address, step_up_pending, step_up_start, step_up_verify
from preferences.views._pages import (
    CENTRE,
    Page,
    _brand,
    _in_language,
    _render,
    _saved,
    _see_other,
    _too_many,
    centre_view,
)

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
            contact, _created = contact_upsert(
                brand=page.brand,
                external_id=page.external_id,
                **{_fact_keyword(name): value},
            )
            # Said in the language the next page is shown in: after a change of language, the new one.
            with translation.override(language_for(brand=page.brand, contact=contact, request=request)):
                _saved(request, here="told-us")
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
    contact, _created = contact_upsert(brand=page.brand, external_id=page.external_id, **change)
    with translation.override(language_for(brand=page.brand, contact=contact, request=request)):
        _saved(request, _("Deleted: %(what)s.") % {"what": PROFILE_LABELS[name]}, here="told-us")
    return _see_other(page.home + "#told-us")


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
    _saved(request, here="told-us")
    return _see_other(page.home + "#told-us")


@hosted_csrf_protect
@require_POST
@centre_view
def export(request: HttpRequest, page: Page) -> HttpResponse:
    return _step_up_send(request, page, StepUpAction.EXPORT)


def _export_response(page: Page) -> HttpResponse:
    access_request_record(brand=page.brand, contact=page.contact, requested_via=CENTRE, actor="subject")
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
    """Ends the session on the server too: a copy of the cookie opens nothing afterwards."""
    services.contact_page_sessions_end(brand=page.brand, contact=page.contact)
    page.ended = True
    return _see_other(page.home)
