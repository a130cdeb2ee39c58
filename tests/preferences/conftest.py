"""Preference fixtures: a brand with marketing topics on one purpose, a double opt-in topic on
another, a transactional topic, and helpers that read back exactly what was written."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from brands.models import Brand, Scope
from consent.models import ConsentEvent, Contact, NoticeVersion, Purpose
from preferences.models import ChannelOptOut, Hold, Subscription, Topic
from preferences.services import SubscriptionChange
from preferences.topics import topic_create
from sync.models import Event
from tests.actors import TEST_ACTOR
from tests.conftest import current_version

PREFERENCE_SCOPES = [Scope.PREFERENCES_READ, Scope.PREFERENCES_WRITE]


@pytest.fixture
def make_topic(db: None) -> Callable[..., Topic]:
    def make(brand: Brand, slug: str, purpose: Purpose | None = None, **kwargs: Any) -> Topic:
        kwargs.setdefault("name", slug.replace("-", " ").title())
        return topic_create(actor=TEST_ACTOR, brand=brand, slug=slug, purpose=purpose, **kwargs)

    return make


@pytest.fixture
def newsletter(brand: Brand, purpose: Purpose, make_topic: Callable[..., Topic]) -> Topic:
    """On email and SMS; weekly by default, daily or monthly on request."""
    return make_topic(
        brand,
        "newsletter",
        purpose,
        channels=["email", "sms"],
        cadence_options=["weekly", "daily", "monthly"],
        translations={"de": {"name": "Newsletter", "description": "Neuigkeiten"}},
        position=1,
    )


@pytest.fixture
def offers(brand: Brand, purpose: Purpose, make_topic: Callable[..., Topic]) -> Topic:
    """Same purpose as the newsletter, email only, as it happens."""
    return make_topic(brand, "offers", purpose, channels=["email"], position=2)


@pytest.fixture
def orders(brand: Brand, make_topic: Callable[..., Topic]) -> Topic:
    """Transactional: needs no consent, reads subscribed by default, cannot be switched off."""
    return make_topic(
        brand, "orders", None, transactional=True, default_subscribed=True, channels=["email", "sms"]
    )


@pytest.fixture
def news_purpose(brand: Brand, make_purpose: Callable[..., Purpose]) -> Purpose:
    return make_purpose(brand, "product-news")


@pytest.fixture
def launches(brand: Brand, news_purpose: Purpose, make_topic: Callable[..., Topic]) -> Topic:
    """Double opt-in, on its own purpose."""
    return make_topic(brand, "launches", news_purpose, channels=["email"], double_opt_in=True, position=3)


@pytest.fixture
def news_version(news_purpose: Purpose) -> NoticeVersion:
    return current_version(news_purpose)


@pytest.fixture
def topics(newsletter: Topic, offers: Topic, orders: Topic, launches: Topic) -> list[Topic]:
    return [newsletter, offers, orders, launches]


@pytest.fixture
def pref_api(brand: Brand, make_client: Callable[..., APIClient]) -> APIClient:
    return make_client(brand, PREFERENCE_SCOPES)


@pytest.fixture
def outsider_pref_api(other_brand: Brand, make_client: Callable[..., APIClient]) -> APIClient:
    return make_client(other_brand, PREFERENCE_SCOPES)


def ledger(contact: Contact) -> list[tuple[int, str, str, str, str | None]]:
    """(sequence, purpose, decision, method, notice version) of every ledger row, oldest first."""
    return [
        (
            e.sequence,
            e.purpose.slug,
            e.decision,
            e.method,
            e.notice_version.public_id if e.notice_version else None,
        )
        for e in ConsentEvent.objects.filter(contact=contact)
        .select_related("purpose", "notice_version")
        .order_by("sequence")
    ]


def outbox(contact: Contact) -> list[tuple[int, str, dict[str, Any]]]:
    """(sequence, type, data) of every outbox Event for the contact, in sequence order."""
    return [
        (e.sequence, e.type, e.data)
        for e in Event.objects.filter(contact_ref=contact.pk).order_by("sequence")
    ]


def stored(contact: Contact) -> dict[tuple[str, str], tuple[str, str]]:
    """{(topic, channel): (status, cadence)} of the stored rows."""
    return {
        (row.topic.slug, row.channel): (row.status, row.cadence)
        for row in Subscription.objects.filter(contact=contact).select_related("topic")
    }


def counts() -> dict[str, int]:
    return {
        "ledger": ConsentEvent.objects.count(),
        "outbox": Event.objects.count(),
        "subscriptions": Subscription.objects.count(),
        "opt_outs": ChannelOptOut.objects.count(),
        "holds": Hold.objects.count(),
    }


def change_rows(*rows: tuple[str, str, str | None]) -> list[SubscriptionChange]:
    """Subscribe (topic, channel, notice version) rows."""
    return [
        SubscriptionChange(topic=topic, channel=channel, status="subscribed", notice_version=version)
        for topic, channel, version in rows
    ]
