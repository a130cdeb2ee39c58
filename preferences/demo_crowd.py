"""The demo brand's crowd: four dozen made-up shoppers whose choices fill the console at once
(opt-in rates per purpose, subscriptions by topic, channel and cadence, unsubscribes from every
source, double opt-ins waiting, holds), so a newcomer's first look at the Overview shows what it
is for. Every choice goes through the same services a real one does (the ledger, the outbox, the
rollups count them as any other), recorded by `seed_demo`; the same shoppers make the same
choices on every machine (a fixed seed), and a brand that has them is left as it is."""

from __future__ import annotations

import random
from datetime import timedelta

from django.utils import timezone

from brands.models import Brand
from consent.models import Contact, Method, NoticeVersion, Purpose
from consent.services import EvidenceInput, contact_upsert
from preferences.models import Channel, HoldStartedBy
from preferences.services import (
    SubscriptionChange,
    channel_unsubscribe_all,
    hold_start,
    preferences_update,
    purposes_withdraw,
    sms_opt_out,
    subscription_unsubscribe,
)

CROWD = 48
RECORDED_BY = "seed_demo"
_LANGUAGES = ("en", "en", "de", "fr")
_SIGNUP_METHODS = (Method.PREFERENCE_CENTRE, Method.QUIZ, Method.API, Method.IMPORT)


def external_id(index: int) -> str:
    return f"shopper-{index:02d}"


def _notice(brand: Brand, slug: str, language: str) -> str:
    """The current notice version of the purpose in the shopper's language (else English)."""
    purpose = Purpose.objects.get(brand=brand, slug=slug)
    versions = NoticeVersion.objects.filter(notice__purpose=purpose).order_by("-version")
    found = versions.filter(language=language).first() or versions.filter(language="en").first()
    assert found is not None, f"the demo purpose {slug} has no notice"
    return found.public_id


def crowd_seed(brand: Brand) -> int:
    """Seed the crowd unless the brand has it; how many shoppers were added."""
    if Contact.objects.filter(brand=brand, external_id=external_id(0)).exists():
        return 0
    pick = random.Random(2026)  # made-up choices, the same on every machine
    for index in range(CROWD):
        _shopper(brand, index, pick)
    return CROWD


def _shopper(brand: Brand, index: int, pick: random.Random) -> None:
    language = _LANGUAGES[index % len(_LANGUAGES)]
    texts = index % 3 == 0  # a third also take offers by text message
    contact_upsert(
        brand=brand,
        external_id=external_id(index),
        email=f"shopper{index:02d}@example.com",
        phone=f"+1415555{index:04d}" if texts else None,
        locale=language,
    )
    email_notice = _notice(brand, "email-marketing", language)
    changes = [
        SubscriptionChange(
            topic="newsletter",
            channel=Channel.EMAIL.value,
            status="subscribed",
            cadence=pick.choice(["weekly", "monthly"]),
            notice_version=email_notice,
        ),
    ]
    if index % 4 != 3:
        changes.append(
            SubscriptionChange(
                topic="offers",
                channel=Channel.EMAIL.value,
                status="subscribed",
                cadence=pick.choice(["immediate", "daily", "weekly", "weekly"]),
                notice_version=email_notice,
            )
        )
    if texts:
        changes.append(
            SubscriptionChange(
                topic="offers",
                channel=Channel.SMS.value,
                status="subscribed",
                cadence="weekly",
                notice_version=_notice(brand, "sms-marketing", language),
            )
        )
    if index % 6 == 1:  # double opt-in: waits for the confirmation nobody will click
        changes.append(
            SubscriptionChange(
                topic="restock-alerts",
                channel=Channel.EMAIL.value,
                status="subscribed",
                notice_version=email_notice,
            )
        )
    preferences_update(
        brand=brand,
        external_id=external_id(index),
        method=_SIGNUP_METHODS[index % len(_SIGNUP_METHODS)].value,
        recorded_by=RECORDED_BY,
        subscriptions=changes,
    )
    _change_of_mind(brand, index, texts)


def _change_of_mind(brand: Brand, index: int, texts: bool) -> None:
    """About one shopper in four says no later, each kind of "no" from its own place (a "no" that
    ends the shopper's consent to the purpose: the Overview counts those by source)."""
    shopper = external_id(index)
    match index % 16:
        case 3:  # newsletter only (no offers): the one-click link ends the email consent
            subscription_unsubscribe(
                brand=brand,
                external_id=shopper,
                topic_slug="newsletter",
                channel=Channel.EMAIL.value,
                method=Method.ONE_CLICK.value,
                recorded_by=RECORDED_BY,
            )
        case 5:
            channel_unsubscribe_all(
                brand=brand,
                external_id=shopper,
                channel=Channel.EMAIL.value,
                method=Method.PREFERENCE_CENTRE.value,
                recorded_by=RECORDED_BY,
            )
        case 7 | 10 | 13:  # by the API, a browser's Global Privacy Control, a support agent
            method = {7: Method.API, 10: Method.GPC, 13: Method.AGENT}[index % 16]
            purposes_withdraw(
                brand=brand,
                external_id=shopper,
                purpose_slugs=["email-marketing"],
                method=method.value,
                recorded_by=RECORDED_BY,
                evidence=EvidenceInput(gpc=True, user_agent="Demo browser (Sec-GPC: 1)")
                if method == Method.GPC
                else None,
            )
        case 12 if texts:
            sms_opt_out(
                brand=brand,
                external_id=shopper,
                recorded_by=RECORDED_BY,
                occurred_at=timezone.now(),
                evidence=EvidenceInput(phone=f"+1415555{index:04d}", message={"body": "STOP"}),
            )
        case 14:
            hold_start(
                brand=brand,
                external_id=shopper,
                started_by=HoldStartedBy.AGENT.value,
                recorded_by=RECORDED_BY,
                until=timezone.now() + timedelta(days=14),
                reason="Complaint about a late delivery: no upsell for now.",
            )
