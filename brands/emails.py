"""The invitation email: a subject / text / html triplet (templates/emails/invitation_*), in the
language the inviting owner used, with the brand's name and the signed link."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import translation

from brands.models import Invitation

TEMPLATE = "emails/invitation"


def invitation_message(
    *, invitation: Invitation, url: str, inviter: str, language: str
) -> EmailMultiAlternatives:
    context = {
        "brand": invitation.brand,
        "role": invitation.get_role_display(),
        "inviter": inviter,
        "url": url,
        "days": settings.CONSOLE_INVITATION_DAYS,
        "language": language,
    }
    with translation.override(language):
        context["role"] = translation.gettext(invitation.get_role_display())
        subject = " ".join(render_to_string(f"{TEMPLATE}_subject.txt", context).split())
        text = render_to_string(f"{TEMPLATE}_message.txt", context)
        html = render_to_string(f"{TEMPLATE}_message.html", context)
    message = EmailMultiAlternatives(subject=subject, body=text, to=[invitation.email])
    message.attach_alternative(html, "text/html")
    return message


def invitation_email_send(
    *, invitation: Invitation, url: str, inviter: str, language: str | None = None
) -> None:
    """Send after commit (brands.services.invitation_create schedules it)."""
    chosen = language or translation.get_language() or settings.LANGUAGE_CODE
    invitation_message(invitation=invitation, url=url, inviter=inviter, language=chosen).send()
