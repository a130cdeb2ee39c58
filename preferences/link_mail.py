""" "Email me a new link": a fresh manage link to the address, if the brand knows it.

The page answers before this runs (see views.link_request), so the reply and its timing say
nothing about whether the address is known. Neither the address nor the link is logged.
`contact_link_send` is the same mail sent by a person on the brand's staff (the console).
"""

from __future__ import annotations

import logging
import smtplib

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import translation

from brands.audit import Actor, AuditAction
from brands.models import Brand
from brands.services import audit_record
from config.errors import ApplicationError, Conflict, NotFound
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
    _mail_manage_link(brand=brand, contact=contact)
    return True


class MailUnavailable(ApplicationError):
    status = 503
    code = "mail-unavailable"
    title = "Mail unavailable"


@transaction.atomic
def contact_link_send(*, brand: Brand, contact_id: int, actor: Actor) -> Contact:
    """A person on the brand's staff sends the contact a fresh manage link, by email, to the
    address on file (the console's support desk): the link goes to the contact, never to the
    person who asked for it. The audit entry names the contact by its internal id.

    The mail is the last step inside the transaction: if it cannot be handed to the mail
    server, the entry rolls back and the agent is told, rather than the log saying a link went
    out that never did. Nothing is locked while it is sent."""
    contact = Contact.objects.filter(brand=brand, pk=contact_id).first()
    if contact is None:
        raise NotFound("No such contact.")
    if contact.erased_at is not None:
        raise Conflict("This contact was erased; nothing can be sent to them.")
    if not contact.email:
        raise Conflict("This contact has no email address to send a link to.")
    audit_record(
        brand=brand,
        actor=actor,
        action=AuditAction.LINK_SENT,
        target_type="contact",
        target_id=str(contact.pk),
        after={"kind": LinkKind.MANAGE.value, "channel": "email"},
    )
    try:
        _mail_manage_link(brand=brand, contact=contact)
    except (smtplib.SMTPException, OSError) as failed:
        # The class only: a refused recipient's exception carries the address.
        logger.warning(
            "Could not send a new manage link for contact %s of brand %s: %s",
            contact.pk,
            brand.slug,
            type(failed).__name__,
        )
        raise MailUnavailable("The email could not be sent; nothing was recorded. Try again later.") from None
    return contact


def _mail_manage_link(*, brand: Brand, contact: Contact) -> None:
    assert contact.email
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
