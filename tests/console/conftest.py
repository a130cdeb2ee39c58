"""The console's fixtures: one person per role in our brand, and an outsider who owns another
brand and must see nothing of ours (owners have a second factor: the console insists); and a
brand with two purposes and three topics (one with double opt-in), with helpers that read back
the rollup rows exactly."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.contrib.auth import get_user_model
from django.test import Client

from brands.models import Brand, Membership
from consent.models import Contact, Purpose
from consent.services import EvidenceInput, consent_record, contact_upsert
from console.models import CountedConsent, CountedSubscription, PurposeDay, SubscriptionCount, UnsubscribeDay
from preferences.models import Topic
from preferences.topics import topic_create
from tests.actors import TEST_ACTOR
from tests.conftest import current_version

PASSWORD = "a-long-staff-password-9"


def make_person(email: str, *, second_factor: bool = False) -> Any:
    user = get_user_model().objects.create_user(username=email, email=email, password=PASSWORD)
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    if second_factor:
        TOTP.activate(user, generate_totp_secret())
    return user


@pytest.fixture
def make_staff(db: None) -> Callable[..., Any]:
    def make(brand: Brand, role: str, email: str | None = None, *, second_factor: bool | None = None) -> Any:
        user = make_person(
            email or f"{role}@{brand.slug}.test",
            second_factor=(role == Membership.Role.OWNER) if second_factor is None else second_factor,
        )
        Membership.objects.create(user=user, brand=brand, role=role)
        return user

    return make


@pytest.fixture
def signed_in() -> Callable[[Any], Client]:
    """A client signed in as `user` (past every sign-in stage)."""

    def sign_in(user: Any) -> Client:
        client = Client()
        client.force_login(user, backend="console.backends.StaffBackend")
        return client

    return sign_in


@pytest.fixture
def news_purpose(brand: Brand, make_purpose: Callable[..., Purpose]) -> Purpose:
    return make_purpose(brand, "product-news")


@pytest.fixture
def topics(brand: Brand, purpose: Purpose, news_purpose: Purpose) -> dict[str, Topic]:
    return {
        "newsletter": topic_create(
            actor=TEST_ACTOR,
            brand=brand,
            slug="newsletter",
            name="Newsletter",
            purpose=purpose,
            channels=["email", "sms"],
            cadence_options=["weekly", "daily", "monthly"],
            translations={"de": {"name": "Rundbrief"}},
            position=1,
        ),
        "offers": topic_create(
            actor=TEST_ACTOR,
            brand=brand,
            slug="offers",
            name="Offers",
            purpose=purpose,
            channels=["email"],
            position=2,
        ),
        "launches": topic_create(
            actor=TEST_ACTOR,
            brand=brand,
            slug="launches",
            name="Launches",
            purpose=news_purpose,
            channels=["email"],
            double_opt_in=True,
            position=3,
        ),
    }


@pytest.fixture
def contacts(brand: Brand) -> Callable[[int], list[Contact]]:
    def make(count: int, *, brand_: Brand | None = None) -> list[Contact]:
        return [
            contact_upsert(brand=brand_ or brand, external_id=f"cust-{n}")[0] for n in range(1, count + 1)
        ]

    return make


def decide(
    brand: Brand,
    external_id: str,
    purpose: Purpose,
    decision: str,
    *,
    method: str = "api",
    occurred_at: datetime | None = None,
    gpc: bool | None = None,
    recorded_by: str = "test",
) -> None:
    consent_record(
        brand=brand,
        external_id=external_id,
        purpose_slug=purpose.slug,
        decision=decision,
        notice_version_id=current_version(purpose).public_id if decision == "granted" else None,
        method=method,
        recorded_by=recorded_by,
        occurred_at=occurred_at,
        evidence=EvidenceInput(gpc=gpc),
    )


def purpose_days(brand: Brand) -> list[tuple[Any, ...]]:
    """(purpose, day, grants, withdrawals, expiries, active change, decided change)."""
    return [
        (
            row.purpose.slug,
            row.day.isoformat(),
            row.grants,
            row.withdrawals,
            row.expiries,
            row.active_change,
            row.decided_change,
        )
        for row in PurposeDay.objects.filter(brand=brand)
        .select_related("purpose")
        .order_by("day", "purpose__slug")
    ]


def unsubscribe_days(brand: Brand) -> list[tuple[str, str, int]]:
    return [
        (row.day.isoformat(), row.source, row.count)
        for row in UnsubscribeDay.objects.filter(brand=brand).order_by("day", "source")
    ]


def subscription_counts(brand: Brand) -> dict[tuple[str, str, str, str], int]:
    """{(topic, channel, state, cadence): count} without the rows that went back to zero."""
    return {
        (row.topic.slug, row.channel, row.state, row.cadence): row.count
        for row in SubscriptionCount.objects.filter(brand=brand).select_related("topic")
        if row.count
    }


def counted_consents(brand: Brand) -> dict[tuple[str, str], bool]:
    return {
        (row.contact.external_id, row.purpose.slug): row.granted
        for row in CountedConsent.objects.filter(brand=brand).select_related("contact", "purpose")
    }


def counted_subscriptions(brand: Brand) -> dict[tuple[str, str, str], tuple[str, str]]:
    return {
        (row.contact.external_id, row.topic.slug, row.channel): (row.state, row.cadence)
        for row in CountedSubscription.objects.filter(brand=brand).select_related("contact", "topic")
    }


def snapshot(brand: Brand) -> tuple[Any, ...]:
    """Every rollup row of the brand, comparable across a rebuild."""
    return (
        purpose_days(brand),
        unsubscribe_days(brand),
        subscription_counts(brand),
        counted_consents(brand),
        counted_subscriptions(brand),
    )
