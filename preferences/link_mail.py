""" "Email me a new link": a fresh manage link to the address, if the brand knows it.

The page answers before this runs (see views.link_request), so the reply and its timing say
nothing about whether the address is known. Neither the address nor the link is logged.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import translation

from brands.models import Brand
from consent.identifiers import email_hmac, normalise_email
from consent.models import Contact
from preferences.language import language_for
from preferences.tokens import LinkKind, lifetime, link_url

logger = logging.getLogger(__name__)


def contact_by_email(*, brand: Brand, email: str) -> Contact | None:
    """The brand's live contact with this address (the most recently changed, if several)."""
    normalised = normalise_email(email)
    if not normalised:
        return None
    return (
        Contact.objects.filter(brand=brand, email_hmac=email_hmac(normalised), erased_at__isnull=True)
        .exclude(email__isnull=True)
        .order_by("-updated_at", "-pk")
        .first()
    )


def manage_link_send(*, brand: Brand, email: str) -> bool:
    """Send a new manage link if the address belongs to one of the brand's contacts."""
    contact = contact_by_email(brand=brand, email=email)
    if contact is None or not contact.email:
        return False
    url = link_url(kind=LinkKind.MANAGE, brand=brand, contact=contact)
    language = language_for(brand=brand, contact=contact)
    context = {
        "brand": brand,
        "url": url,
        "days": lifetime(LinkKind.MANAGE).days,
        "language": language,
    }
    with translation.override(language):
        subject = " ".join(render_to_string("emails/new_link_subject.txt", context).split())
        text = render_to_string("emails/new_link_message.txt", context)
        html = render_to_string("emails/new_link_message.html", context)
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[contact.email],
        headers={"Auto-Submitted": "auto-generated"},
    )
    message.attach_alternative(html, "text/html")
    message.send()
    logger.info("Sent a new manage link for contact %s of brand %s", contact.pk, brand.slug)
    return True
