"""Single-use codes before the hosted page's sensitive actions: download my data, delete my
data, change my email address (STANDARDS.md §8; ASVS 6.5.1, 6.5.5, 7.5.1).

A manage link can be forwarded; these actions need proof that the person reads the mailbox
now. The code goes by email (to the current address; for a change of address, to the new one,
which proves it works), is valid for STEP_UP_CODE_MINUTES (10 at most), works once, and dies
after STEP_UP_MAX_ATTEMPTS wrong tries. A new code ends any earlier unused one for the same
action. Only an HMAC of the code is stored; neither the code nor an address is ever logged.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.crypto import salted_hmac

from brands.models import Brand
from consent.models import Contact
from preferences.emails import email_language
from preferences.models import StepUpAction, StepUpCode

logger = logging.getLogger(__name__)

CODE_DIGITS = 6


class StepUpRefused(Exception):
    """Why a code could not be sent or was not accepted; `reason` is one of the constants."""

    NO_ADDRESS = "no_address"  # nowhere to send a code
    TOO_MANY = "too_many"  # STEP_UP_CODES_PER_HOUR reached
    NONE = "none"  # no code was asked for, or it was used or replaced
    EXPIRED = "expired"
    WRONG = "wrong"
    EXHAUSTED = "exhausted"  # too many wrong tries: ask for a new code

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class StepUpSent:
    sent_to: str  # the address, masked for display: j•••@example.com
    expires_at: datetime


def _digest(*, contact_id: int, action: str, code: str) -> str:
    return salted_hmac("candor.step-up", f"{contact_id}:{action}:{code}", algorithm="sha256").hexdigest()


def mask_address(address: str) -> str:
    local, _, domain = address.partition("@")
    return f"{local[:1]}•••@{domain}" if domain else "•••"


def step_up_start(
    *,
    brand: Brand,
    contact: Contact,
    action: StepUpAction | str,
    new_email: str = "",
    now: datetime | None = None,
) -> StepUpSent:
    """Send a fresh code for `action`; `new_email` only for a change of address."""
    action = StepUpAction(action)
    now = now or timezone.now()
    address = new_email if action == StepUpAction.EMAIL else (contact.email or "")
    if not address:
        raise StepUpRefused(StepUpRefused.NO_ADDRESS)
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    expires_at = now + timedelta(minutes=settings.STEP_UP_CODE_MINUTES)
    with transaction.atomic():
        # Lock the contact: two requests at once must not both slip under the hourly limit.
        Contact.objects.select_for_update().filter(pk=contact.pk).values_list("pk").get()
        recent = StepUpCode.objects.filter(contact=contact, created_at__gt=now - timedelta(hours=1)).count()
        if recent >= settings.STEP_UP_CODES_PER_HOUR:
            raise StepUpRefused(StepUpRefused.TOO_MANY)
        StepUpCode.objects.filter(contact=contact, action=action, used_at__isnull=True).update(used_at=now)
        StepUpCode.objects.create(
            brand=brand,
            contact=contact,
            action=action,
            code_hmac=_digest(contact_id=contact.pk, action=action, code=code),
            new_email=new_email if action == StepUpAction.EMAIL else "",
            created_at=now,
            expires_at=expires_at,
        )
        transaction.on_commit(
            lambda: _send(brand=brand, contact=contact, action=action, address=address, code=code)
        )
    logger.info("Sent a %s code to contact %s of brand %s", action.value, contact.pk, brand.slug)
    return StepUpSent(sent_to=mask_address(address), expires_at=expires_at)


def step_up_pending(
    *, contact: Contact, action: StepUpAction | str, now: datetime | None = None
) -> StepUpCode | None:
    """The live code for `action` (sent, unused, unexpired), if any."""
    return (
        StepUpCode.objects.filter(
            contact=contact, action=action, used_at__isnull=True, expires_at__gt=now or timezone.now()
        )
        .order_by("-created_at", "-pk")
        .first()
    )


def step_up_verify(
    *, contact: Contact, action: StepUpAction | str, code: str, now: datetime | None = None
) -> StepUpCode:
    """The code's row, now used, if `code` is the live code for `action`; else StepUpRefused.
    A wrong try counts even though the caller sees an error (it is committed first)."""
    action = StepUpAction(action)
    now = now or timezone.now()
    code = "".join(code.split())  # people paste "123 456"
    refusal: str | None = None
    with transaction.atomic():
        row = (
            StepUpCode.objects.select_for_update()
            .filter(contact=contact, action=action, used_at__isnull=True)
            .order_by("-created_at", "-pk")
            .first()
        )
        if row is None:
            refusal = StepUpRefused.NONE
        elif row.expires_at <= now:
            refusal = StepUpRefused.EXPIRED
        else:
            row.attempts += 1
            expected = _digest(contact_id=contact.pk, action=action, code=code)
            if hmac.compare_digest(row.code_hmac, expected):
                row.used_at = now
            elif row.attempts >= settings.STEP_UP_MAX_ATTEMPTS:
                row.used_at = now
                refusal = StepUpRefused.EXHAUSTED
            else:
                refusal = StepUpRefused.WRONG
            row.save(update_fields=["attempts", "used_at"])
    if refusal is not None:
        raise StepUpRefused(refusal)
    assert row is not None
    return row


def _send(*, brand: Brand, contact: Contact, action: StepUpAction, address: str, code: str) -> None:
    language = email_language(contact=contact, brand=brand)
    context = {
        "brand": brand,
        "code": code,
        "action": action.value,
        "minutes": settings.STEP_UP_CODE_MINUTES,
        "language": language,
    }
    with translation.override(language):
        subject = " ".join(render_to_string("emails/step_up_code_subject.txt", context).split())
        text = render_to_string("emails/step_up_code_message.txt", context)
        html = render_to_string("emails/step_up_code_message.html", context)
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[address],
        headers={"Auto-Submitted": "auto-generated"},
    )
    message.attach_alternative(html, "text/html")
    message.send()
