"""One-click unsubscribe (RFC 8058) and the unsubscribe link's page."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from brands.models import Brand
from config.middleware import hosted_csrf_failure
from consent.models import Contact
from preferences import services
from preferences.emails import confirm_url
from preferences.labels import (
    CHANNEL_ALL_LABELS,
    CHANNEL_LABELS,
    DIGEST_OFFERS,
    DIGEST_TAKEN,
    DIGESTS_LEAST_FREQUENT_FIRST,
)
from preferences.language import language_pick
from preferences.models import HoldStartedBy, Topic
from preferences.one_click import RECORDED_BY_LINK, one_click_accept, one_click_nudge
from preferences.page_selectors import (
    notice_current,
    topic_for_page,
)
from preferences.selectors import preferences_snapshot
from preferences.tasks import one_click_apply
from preferences.tokens import LinkKind, TokenExpired, TokenInvalid, token_read
from preferences.views._pages import (
    CENTRE,
    OFFER_PAUSE_WEEKS,
    ONE_CLICK,
    TEXT_PLAIN,
    Verified,
    _brand,
    _evidence,
    _expired_page,
    _in_language,
    _render,
    _verify,
)


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
    within seconds (preferences.one_click). None when it was not accepted (an expired, bad or
    foreign link): `one_click` answers those as for any other request, and only they count
    towards the bad-link limit, so a valid link is never refused by it."""
    try:
        claims = token_read(token, kind=LinkKind.UNSUBSCRIBE)
    except (TokenExpired, TokenInvalid):
        return None
    path = f"/p/{brand_slug}/u/"
    accepted = one_click_accept(brand_slug=brand_slug, claims=claims, evidence=_evidence(request, path))
    if accepted is None:
        return None
    one_click_nudge(publish=one_click_apply.delay)
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
