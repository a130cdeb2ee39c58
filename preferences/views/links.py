"""Signed links: a manage link swapped for a session, "email me a new link", and double opt-in
confirmation."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import translation
from django.views.decorators.http import require_http_methods

from config.middleware import hosted_csrf_protect
from config.throttle import throttle_count
from consent.identifiers import email_hmac, normalise_email
from preferences import services
from preferences.forms import LinkRequestForm
from preferences.labels import (
    CHANNEL_ALL_LABELS,
    CHANNEL_LABELS,
)
from preferences.link_mail import manage_link_send
from preferences.page_selectors import (
    topic_for_page,
)
from preferences.selectors import subscriptions_pending
from preferences.session import (
    session_start,
    session_write,
)
from preferences.tokens import LinkKind
from preferences.views._pages import (
    CENTRE,
    RECORDED_BY_CENTRE,
    RECORDED_BY_CONFIRM,
    _after_response,
    _brand,
    _client_ip,
    _evidence,
    _expired_page,
    _home,
    _in_language,
    _render,
    _see_other,
    _too_many,
    _verify,
)


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
        session_write(response, session_start(brand=brand, contact=verified.contact))
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
