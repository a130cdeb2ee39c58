"""The double opt-in confirmation email: a subject / text / html triplet, no advertising.

German practice (UWG §7, OLG München 29 U 1682/12) treats a confirmation mail that promotes
anything as advertising sent without consent. So the mail names the sender, says what was
asked for and how to confirm, and holds nothing else: no offers, no images, no tracking, and
no link but the confirm link of each topic.
"""

from __future__ import annotations

import hashlib
import zoneinfo
from collections.abc import Callable, Iterable
from email.utils import formataddr, parseaddr
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import timezone, translation

from brands.models import Brand
from consent.ledger import iso_utc
from consent.models import Contact
from preferences.models import Channel, Subscription, SubscriptionStatus
from preferences.selectors import CONFIRMATION_LIFETIME, confirmation_requested_at

ConfirmUrlBuilder = Callable[[Subscription], str]
"""Builds the absolute confirm link for one pending row (its contact, topic and channel). The
caller passes it to the services (`confirm_url` below for the hosted pages' signed links), so
they do not depend on the token module.

This module renders and sends; `preferences.services` decides when (after commit) and imports
it, never the other way round."""

TEMPLATE = "emails/confirm_subscription"
# Bump when the wording changes: it names the text a confirmation answered (evidence).
TEMPLATE_VERSION = "confirm_subscription/1"


def email_language(*, contact: Contact, brand: Brand) -> str:
    """The contact's language if Candor speaks it, else the brand's, else the default."""
    supported = {code for code, _ in settings.LANGUAGES}
    for candidate in (contact.locale, brand.default_language):
        primary = (candidate or "").replace("_", "-").split("-")[0].lower()
        if primary in supported:
            return primary
    return str(settings.LANGUAGE_CODE)


def _zone(name: str) -> zoneinfo.ZoneInfo | None:
    try:
        return zoneinfo.ZoneInfo(name) if name else None
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


def _sender(brand: Brand) -> str:
    """The brand's name on Candor's sending address: the mail says who it is from."""
    _, address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    return formataddr((brand.name, address or "no-reply@localhost"))


def confirmation_message(
    *,
    brand: Brand,
    contact: Contact,
    rows: list[Subscription],
    confirm_url_builder: ConfirmUrlBuilder,
) -> EmailMultiAlternatives:
    """The email for pending `rows` (with their topics loaded), in the contact's language."""
    message, _ = _confirmation_message_and_version(
        brand=brand, contact=contact, rows=rows, confirm_url_builder=confirm_url_builder
    )
    return message


def _confirmation_message_and_version(
    *,
    brand: Brand,
    contact: Contact,
    rows: list[Subscription],
    confirm_url_builder: ConfirmUrlBuilder,
) -> tuple[EmailMultiAlternatives, dict[str, str]]:
    """The email, and which version of it this is: template, language and a digest of the
    rendered subject, text and html with each confirm link replaced by `{confirm_url}` (the
    same wording always digests the same; the digest holds no token)."""
    language = email_language(contact=contact, brand=brand)
    zone = _zone(contact.timezone) or zoneinfo.ZoneInfo("UTC")
    expires_at = min(confirmation_requested_at(row) for row in rows) + CONFIRMATION_LIFETIME
    items = [
        {"name": row.topic.text(language)[0], "url": confirm_url_builder(row)}
        for row in sorted(rows, key=lambda row: (row.topic.position, row.topic.slug))
    ]
    context: dict[str, Any] = {
        "language": language,
        "brand_name": brand.name,
        "brand_address": brand.address,
        "brand_contact": brand.contact_email,
        "items": items,
        "expires_at": expires_at,
        "time_zone": zone.key,
    }
    with translation.override(language), timezone.override(zone):
        subject = " ".join(render_to_string(f"{TEMPLATE}_subject.txt", context).split())
        context["subject"] = subject
        text = render_to_string(f"{TEMPLATE}_message.txt", context)
        html = render_to_string(f"{TEMPLATE}_message.html", context)
    assert contact.email
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=_sender(brand),
        to=[contact.email],
        reply_to=[brand.contact_email] if brand.contact_email else None,
        headers={
            "Content-Language": language,
            "Auto-Submitted": "auto-generated",  # RFC 3834: no auto-replies to this
            "X-Candor-Template": TEMPLATE_VERSION,
        },
    )
    message.attach_alternative(html, "text/html")
    rendered = "\n".join((subject, text, html))
    for item in items:
        rendered = rendered.replace(item["url"], "{confirm_url}")
    version = {
        "template": TEMPLATE_VERSION,
        "language": language,
        "digest": hashlib.sha256(rendered.encode()).hexdigest(),
    }
    return message, version


def confirm_url(row: Subscription) -> str:
    """The hosted pages' ConfirmUrlBuilder: a signed `confirm` link for the row's topic and
    channel, from their token module."""
    from preferences.tokens import LinkKind, link_url

    return link_url(
        kind=LinkKind.CONFIRM, brand=row.brand, contact=row.contact, topic=row.topic, channel=row.channel
    )


def confirmation_send(
    *,
    brand: Brand,
    contact: Contact,
    pending_rows: Iterable[Subscription],
    confirm_url_builder: ConfirmUrlBuilder,
) -> EmailMultiAlternatives | None:
    """Send the confirmation for those of `pending_rows` that still await it by email, now.

    Meant to run after the transaction that left them pending has committed (the services
    schedule it with `transaction.on_commit`). Re-reads the rows and the contact, so a row
    confirmed or unsubscribed meanwhile, or an erased contact, gets no mail. Returns the message
    sent, or None when there was nothing to send.
    """
    current = (
        Contact.objects.filter(pk=contact.pk, brand=brand, erased_at__isnull=True)
        .only("pk", "brand_id", "email", "locale", "timezone")
        .first()
    )
    if current is None or not current.email:
        return None
    rows = list(
        Subscription.objects.filter(
            pk__in=[row.pk for row in pending_rows],
            contact=current,
            channel=Channel.EMAIL,
            status=SubscriptionStatus.PENDING,
        ).select_related("topic", "brand")
    )
    if not rows:
        return None
    for row in rows:
        row.contact = current
    message, version = _confirmation_message_and_version(
        brand=brand, contact=current, rows=rows, confirm_url_builder=confirm_url_builder
    )
    message.send()
    # The version sent is part of the proof its confirmation's grant will carry (compliance #9);
    # a row confirmed or ended meanwhile is no longer pending and keeps nothing.
    Subscription.objects.filter(pk__in=[row.pk for row in rows], status=SubscriptionStatus.PENDING).update(
        confirmation_email={**version, "sent_at": iso_utc(timezone.now())}
    )
    return message
