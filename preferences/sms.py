"""Inbound texts from Twilio: signature check, keywords, and what each keyword does.

- Twilio signs each webhook with `X-Twilio-Signature`: base64 of HMAC-SHA1, keyed with the
  account's auth token, over the full URL followed by every POST parameter's name and value,
  sorted by name. The token is stored encrypted (AES-GCM, key derived from SECRET_KEY).
- STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE, OPT OUT / OPTOUT, anywhere in the
  message and in any case, withdraw texts at once (FCC 24-24: any reasonable means). START and
  UNSTOP (or YES alone) undo the same number's own STOP, nothing else. HELP and INFO answer
  with the brand's contact details. Each keyword from a known number is kept once per
  MessageSid; a text from an unknown number only counts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from xml.sax.saxutils import escape

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F

from brands.models import Brand
from config.errors import Unprocessable
from consent.models import Contact
from consent.services import EvidenceInput
from consent.validators import phone_e164
from preferences.models import InboundSms, SmsKeyword, TwilioAccount
from preferences.services import SubscriptionChange, preferences_update, sms_opt_out

STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
START_WORDS = frozenset({"START", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO"})
RECORDED_BY = "twilio"

# --- The auth token, encrypted at rest ---------------------------------------------------------


def _key() -> bytes:
    return hmac.new(settings.SECRET_KEY.encode(), b"candor.twilio-auth-token", hashlib.sha256).digest()


def token_encrypt(token: str) -> str:
    nonce = secrets.token_bytes(12)
    return base64.b64encode(nonce + AESGCM(_key()).encrypt(nonce, token.encode(), None)).decode()


def token_decrypt(sealed: str) -> str:
    raw = base64.b64decode(sealed)
    return AESGCM(_key()).decrypt(raw[:12], raw[12:], None).decode()


ACCOUNT_SID = re.compile(r"AC[0-9a-f]{32}")
AUTH_TOKEN = re.compile(r"[0-9a-f]{32}")


@transaction.atomic
def twilio_account_set(*, brand: Brand, account_sid: str, auth_token: str) -> TwilioAccount:
    """Give the brand its Twilio account (replacing any earlier one). Both values as Twilio's
    console shows them: the Account SID (AC + 32 hex digits) and the auth token (32 hex digits)."""
    if not ACCOUNT_SID.fullmatch(account_sid):
        raise Unprocessable.for_field("account_sid", "An Account SID is AC followed by 32 hex digits.")
    if not AUTH_TOKEN.fullmatch(auth_token):
        raise Unprocessable.for_field("auth_token", "An auth token is 32 hex digits.")
    account, _ = TwilioAccount.objects.update_or_create(
        brand=brand,
        defaults={"account_sid": account_sid, "auth_token_encrypted": token_encrypt(auth_token)},
    )
    return account


# --- The signature -----------------------------------------------------------------------------


def twilio_signature(*, url: str, params: Iterable[tuple[str, str]], auth_token: str) -> str:
    payload = url + "".join(name + value for name, value in sorted(params))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def twilio_signature_valid(
    *, url: str, params: Iterable[tuple[str, str]], auth_token: str, signature: str
) -> bool:
    expected = twilio_signature(url=url, params=params, auth_token=auth_token)
    return hmac.compare_digest(expected.encode(), signature.encode())


# --- Keywords ----------------------------------------------------------------------------------


def keyword_of(body: str) -> str | None:
    """The keyword a message carries, STOP before anything else (an opt-out must never be missed)."""
    words = re.findall(r"[A-Z]+", body.upper())
    joined = set(words) | {a + b for a, b in pairwise(words)}  # "OPT OUT"
    if joined & STOP_WORDS:
        return SmsKeyword.STOP
    if set(words) & START_WORDS or words == ["YES"]:
        return SmsKeyword.START
    if set(words) & HELP_WORDS:
        return SmsKeyword.HELP
    return None


# --- Replies -----------------------------------------------------------------------------------


def twiml(message: str | None) -> str:
    inner = f"<Message>{escape(message)}</Message>" if message else ""
    return f'<?xml version="1.0" encoding="UTF-8"?><Response>{inner}</Response>'


def _contact_details(brand: Brand) -> str:
    details = [value for value in (brand.contact_email, brand.website) if value]
    return " or ".join(details) if details else "the shop"


def reply_for(brand: Brand, keyword: str | None, *, known: bool, restored: bool = False) -> str | None:
    if not known:
        return (
            f"{brand.name}: we have no texts on record for this number, so nothing was changed. "
            f"Questions? Contact {_contact_details(brand)}."
        )
    if keyword == SmsKeyword.STOP:
        return (
            f"{brand.name}: you are unsubscribed and will get no more texts from us. Reply START to "
            "subscribe again."
        )
    if keyword == SmsKeyword.START:
        if restored:
            return (
                f"{brand.name}: you are subscribed again to the texts you had before. Msg & data rates "
                "may apply. Reply HELP for help, STOP to cancel."
            )
        return f"{brand.name}: there was nothing to restart. To choose texts, use the preference centre."
    if keyword == SmsKeyword.HELP:
        return (
            f"{brand.name}: for help contact {_contact_details(brand)}. Msg & data rates may apply. "
            "Reply STOP to cancel."
        )
    return None


# --- The inbound message -----------------------------------------------------------------------


@dataclass(frozen=True)
class InboundText:
    message_sid: str
    sender: str  # E.164
    to: str
    body: str
    received_at: datetime

    def evidence(self) -> EvidenceInput:
        return EvidenceInput(
            phone=self.sender,
            message={
                "provider": "twilio",
                "message_sid": self.message_sid,
                "from": self.sender,
                "to": self.to,
                "body": self.body,
                "received_at": self.received_at.isoformat(),
            },
        )


def _contacts_for(brand: Brand, phone: str) -> list[Contact]:
    return list(Contact.objects.filter(brand=brand, phone=phone, erased_at__isnull=True).order_by("pk"))


def _start(brand: Brand, contact: Contact, text: InboundText) -> bool:
    """Undo this number's own latest STOP. Never for a suppressed contact: only the person's
    confirmed opt-in on the hosted page lifts an erasure's suppression."""
    if contact.suppressed:
        return False
    stop = (
        InboundSms.objects.filter(contact=contact, phone=text.sender, keyword=SmsKeyword.STOP)
        .order_by("-received_at", "-pk")
        .first()
    )
    if stop is None or not stop.effects.get("rows"):
        return False
    versions: dict[str, str] = stop.effects.get("notice_versions", {})
    topics = {topic.slug: topic for topic in brand.topics.select_related("purpose", "sms_purpose")}
    changes = []
    for slug in stop.effects["rows"]:
        topic = topics.get(slug)
        purpose = topic.purpose_for("sms") if topic else None
        if topic is None or purpose is None or "sms" not in topic.channels:
            continue
        changes.append(
            SubscriptionChange(
                topic=slug, channel="sms", status="subscribed", notice_version=versions.get(str(purpose.pk))
            )
        )
    if not changes:
        return False
    preferences_update(
        brand=brand,
        external_id=contact.external_id,
        method="sms",
        recorded_by=RECORDED_BY,
        subscriptions=changes,
        unsubscribed_all={"sms": False},
        occurred_at=text.received_at,
        evidence=text.evidence(),
    )
    stop.effects = {**stop.effects, "rows": []}  # a START undoes one STOP once
    stop.save(update_fields=["effects"])
    return True


def inbound_text_handle(*, brand: Brand, text: InboundText) -> str:
    """Act on one verified text and return the TwiML reply."""
    keyword = keyword_of(text.body)
    try:
        phone = phone_e164(text.sender)
    except ValueError:
        phone = ""
    contacts = _contacts_for(brand, phone) if phone else []
    if not contacts:
        TwilioAccount.objects.filter(brand=brand).update(unknown_senders=F("unknown_senders") + 1)
        return twiml(reply_for(brand, keyword, known=False) if keyword else None)
    if keyword is None:
        return twiml(None)
    text = InboundText(text.message_sid, phone, text.to, text.body, text.received_at)
    try:
        with transaction.atomic():
            return _apply(brand, contacts, keyword, text)
    except IntegrityError:  # the same MessageSid, retried at the same moment: the first one answers
        first = InboundSms.objects.filter(brand=brand, message_sid=text.message_sid).first()
        return twiml(first.reply if first else None)


def _apply(brand: Brand, contacts: list[Contact], keyword: str, text: InboundText) -> str:
    earlier = InboundSms.objects.filter(brand=brand, message_sid=text.message_sid).first()
    if earlier is not None:  # Twilio retried: answer as before, change nothing
        return twiml(earlier.reply)
    restored = False
    effects: dict[str, dict[str, object]] = {}
    for contact in contacts:
        effect: dict[str, object] = {}
        if keyword == SmsKeyword.STOP:
            effect = sms_opt_out(
                brand=brand,
                external_id=contact.external_id,
                recorded_by=RECORDED_BY,
                evidence=text.evidence(),
                occurred_at=text.received_at,
            )
        elif keyword == SmsKeyword.START:
            restored = _start(brand, contact, text) or restored
        effects[str(contact.pk)] = effect
    reply = reply_for(brand, keyword, known=True, restored=restored)
    for contact in contacts:
        InboundSms.objects.create(
            brand=brand,
            contact=contact,
            message_sid=text.message_sid,
            keyword=keyword,
            phone=text.sender,
            effects=effects[str(contact.pk)],
            reply=reply or "",
            received_at=text.received_at,
        )
    return twiml(reply)
