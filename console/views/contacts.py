"""The support desk (owners and support agents): find a contact by external id or exact email
address, read their file (history with receipts, consents, subscriptions, holds, what they told
the brand), pause or resume their marketing, and email them a fresh preference link. Nothing
here lists contacts, exports or acts on more than one contact."""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from brands.audit import Actor
from config.errors import ApplicationError
from config.throttle import throttle_count
from consent import receipts
from consent.models import Contact
from console.access import SUPPORT, brand_page
from console.contact_forms import HoldEndForm, HoldStartForm, LookupForm, SendLinkForm
from console.contact_selectors import contact_file, contact_of, contacts_find, history_event_of
from console.pages import refusal, render
from preferences import services as preferences_services
from preferences.labels import CADENCE_LABELS, CHANNEL_LABELS
from preferences.link_mail import contact_link_send
from preferences.models import HoldStartedBy


def recorded_by(request: HttpRequest) -> str:
    """What a hold the console starts keeps as `recorded_by`: the console and the staff user
    (by id: a username may be an address), as `api_key:<prefix>` names an API key."""
    return f"console:staff:{request.user.pk}"


@brand_page(read=SUPPORT, actions={"find": SUPPORT})
def contacts(request: HttpRequest, brand_slug: str) -> HttpResponse:
    """The lookup. A POST, so neither the address nor the id lands in a URL, a log or the
    browser's history; one match opens the contact's page."""
    brand = request.console.brand  # type: ignore[attr-defined]
    if request.method != "POST":
        return render(request, "console/contacts.html", {"form": LookupForm(), "matches": None})
    form = LookupForm(request.POST)
    if not form.is_valid():
        context = {"form": form, "matches": None, "errors": form.error_summary()}
        return render(request, "console/contacts.html", context, status=400)
    matches = contacts_find(brand=brand, by=form.cleaned_data["by"], value=form.cleaned_data["value"])
    if len(matches) == 1:
        return HttpResponseRedirect(reverse("console:contact", args=[brand.slug, matches[0].pk]))
    # None found says only that: the same page whether or not another brand knows them.
    return render(request, "console/contacts.html", {"form": form, "matches": matches})


def _before(request: HttpRequest) -> int | HttpResponse | None:
    raw = request.GET.get("before")
    if raw is None:
        return None
    if not raw.isdigit() or int(raw) < 1 or len(raw) > 18:
        return refusal(request, 400, request.console)  # type: ignore[attr-defined]
    return int(raw)


def _file_page(
    request: HttpRequest,
    contact: Contact,
    *,
    before: int | None = None,
    hold_form: HoldStartForm | None = None,
    errors: list[tuple[str, str]] | None = None,
    status: int = 200,
) -> HttpResponse:
    brand = request.console.brand  # type: ignore[attr-defined]
    context: dict[str, Any] = {
        "file": contact_file(brand=brand, contact=contact, before=before),
        "before": before,
        "now": timezone.now(),
        "hold_form": hold_form or HoldStartForm(),
        "errors": errors or [],
        "channel_labels": CHANNEL_LABELS,
        "cadence_labels": CADENCE_LABELS,
    }
    return render(request, "console/contact.html", context, status=status)


@brand_page(read=SUPPORT, actions={"start_hold": SUPPORT, "end_hold": SUPPORT, "send_link": SUPPORT})
def contact(request: HttpRequest, brand_slug: str, contact_id: int) -> HttpResponse:
    """One contact's file, and the support desk's three actions on it."""
    console = request.console  # type: ignore[attr-defined]
    brand = console.brand
    found = contact_of(brand=brand, contact_id=contact_id)
    if found is None:
        return refusal(request, 404, console)  # another brand's contact reads as no contact
    if request.method != "POST":
        before = _before(request)
        if isinstance(before, HttpResponse):
            return before
        return _file_page(request, found, before=before)
    action = request.POST["action"]
    actor = Actor.staff(request.user)
    try:
        if action == "start_hold":
            form = HoldStartForm(request.POST)
            if not form.is_valid():
                return _file_page(request, found, hold_form=form, errors=form.error_summary(), status=400)
            preferences_services.hold_start(
                brand=brand,
                external_id=found.external_id,
                started_by=HoldStartedBy.AGENT,
                recorded_by=recorded_by(request),
                until=form.ends_at(timezone.now()),
                reason=form.cleaned_data["reason"],
                actor=actor,
            )
            messages.success(request, _("Marketing paused."))
        elif action == "end_hold":
            ending = HoldEndForm(request.POST)
            if not ending.is_valid():
                return _file_page(
                    request, found, errors=[("#holds", _("Choose a pause to end."))], status=400
                )
            preferences_services.hold_end(
                brand=brand, external_id=found.external_id, hold_id=ending.cleaned_data["hold"], actor=actor
            )
            messages.success(request, _("Pause ended."))
        else:  # send_link
            if not SendLinkForm(request.POST).is_valid():
                return _file_page(
                    request, found, errors=[("#link", _("Choose how to send the link."))], status=400
                )
            if not found.email or found.erased_at is not None:
                message = _("This contact has no email address to send a link to.")
                return _file_page(request, found, errors=[("#link", message)], status=409)
            # The hosted page's limit per address counts these too: support cannot flood a mailbox.
            retry_after = throttle_count(
                scope="link-address", ident=found.email_hmac or "", rate=settings.LINK_REQUEST_RATE
            )
            if retry_after:
                message = _("Several links went to this address in the last hour. Try again later.")
                response = _file_page(request, found, errors=[("#link", message)], status=429)
                response["Retry-After"] = str(retry_after)
                return response
            contact_link_send(brand=brand, contact_id=found.pk, actor=actor)
            messages.success(
                request, _("A new link to their preferences is on its way to their email address.")
            )
    except ApplicationError as refused:
        return _file_page(
            request, found, errors=[(_anchor(action), _refusal_text(refused))], status=refused.status
        )
    return HttpResponseRedirect(reverse("console:contact", args=[brand.slug, found.pk]))


def _anchor(action: str) -> str:
    return {"start_hold": "#hold-reason", "end_hold": "#holds"}.get(action, "#link")


def _refusal_text(refused: ApplicationError) -> str:
    """The service's refusal in the page's language (the API's English stays the API's)."""
    if refused.status == 409:
        return _("This contact was erased; nothing about them can be changed.")
    if refused.status == 503:
        return _("The email could not be sent, and nothing was recorded. Try again later.")
    if refused.status == 404:
        return _("That pause is not one of this contact's.")
    if refused.errors and any(key.endswith(".until") for key in refused.errors):
        return _("The pause must end in the future.")
    if refused.errors and any(key == "hold" for key in refused.errors):
        return _("That pause is not one of this contact's.")
    return _("That could not be done. Check the form and try again.")


@brand_page(read=SUPPORT)
def receipt(request: HttpRequest, brand_slug: str, contact_id: int, event_id: uuid.UUID) -> HttpResponse:
    """One ledger event's consent receipt: read on the page, or downloaded as the API serves it
    (`?download=kantara`, signed; `?download=dpv`, JSON-LD)."""
    console = request.console  # type: ignore[attr-defined]
    found = contact_of(brand=console.brand, contact_id=contact_id)
    event = history_event_of(brand=console.brand, contact=found, event_id=event_id) if found else None
    if event is None:
        return refusal(request, 404, console)
    download = request.GET.get("download")
    if download is None:
        signed = receipts.signed_receipt(event)
        context = {
            "contact": found,
            "event": event,
            "signed": signed,
            "pretty": json.dumps(signed["receipt"], indent=2, sort_keys=True, ensure_ascii=False),
        }
        return render(request, "console/receipt.html", context)
    if download == "kantara":
        body, content_type = receipts.signed_receipt(event), "application/json"
    elif download == "dpv":
        body, content_type = receipts.dpv_record(event), "application/ld+json"
    else:
        return refusal(request, 400, console)
    response = HttpResponse(json.dumps(body, indent=2, sort_keys=True), content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="receipt-{event.pk}-{download}.json"'
    return response
