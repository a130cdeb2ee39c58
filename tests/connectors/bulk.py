"""Many contacts at once for the backfill tests and bench: written in bulk (a trip through the
services each would take minutes), as the services leave them: a contact and its email
subscription to a topic that needs no purpose, which reads "subscribed" by the same rules."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from brands.models import Brand
from consent.models import Contact
from preferences.models import Subscription, SubscriptionStatus, Topic

TOPIC = "news"


def news_topic(*, brand: Brand) -> Topic:
    topic, _ = Topic.objects.get_or_create(
        brand=brand, slug=TOPIC, defaults={"name": "News", "channels": ["email"]}
    )
    return topic


def contacts_subscribed(*, brand: Brand, count: int, start: int = 0) -> list[Contact]:
    """`count` contacts p<n>@example.com (n from `start`), each subscribed to the news topic by email."""
    topic = news_topic(brand=brand)
    now = timezone.now()
    with transaction.atomic():
        people = Contact.objects.bulk_create(
            [
                Contact(brand=brand, external_id=f"bulk-{n}", email=f"p{n}@example.com")
                for n in range(start, start + count)
            ],
            batch_size=2000,
        )
        Subscription.objects.bulk_create(
            [
                Subscription(
                    brand=brand,
                    contact=person,
                    topic=topic,
                    channel="email",
                    status=SubscriptionStatus.SUBSCRIBED,
                    cadence=topic.default_cadence,
                    occurred_at=now,
                )
                for person in people
            ],
            batch_size=2000,
        )
    return people
