"""The console's tables: the staff's sessions, and the rollups the Overview shows, kept current
by the worker (console.rollups) so no page view scans the ledger.

Counts are per brand. The `Counted*` tables remember, per contact, what the counts include
now: a refresh recounts only the contacts the changes feed names since its watermark, and
applies the difference, so the totals always equal the sum of what is remembered. Their
relations to the contact are hidden (related_name "+") on purpose: erasure's generic delete of
the rows pointing at a contact (consent.erasure._delete_related) must leave them, so the
refresh after the erasure can take the contact's subscriptions out of the counts.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.sessions.base_session import AbstractBaseSession
from django.db import models

from brands.models import Brand
from consent.models import Contact, Purpose
from preferences.models import Channel, Topic


class StaffSession(AbstractBaseSession):
    """Django's database session (SESSION_ENGINE = console.sessions) with the signed-in person
    as a column of its own, so the read of a session brings the person and their brands in the
    same round trip. Only staff have these sessions: a contact's hosted-page session is a signed
    cookie (preferences.session).

    No foreign-key constraint: a session saved while its person is being deleted must not fail
    the request. Deleting a person through the ORM still deletes their sessions (CASCADE), and a
    row left pointing at nobody reads as signed out."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.CASCADE,
        db_constraint=False,
        related_name="+",
    )

    @classmethod
    def get_session_store_class(cls) -> Any:
        return import_module(settings.SESSION_ENGINE).SessionStore


class UnsubscribeSource(models.TextChoices):
    """Where a withdrawal came from, read from the ledger event's method and evidence."""

    HOSTED_PAGE = "hosted_page", "Hosted page"
    ONE_CLICK = "one_click", "One-click"
    API = "api", "API"
    GPC = "gpc", "Global Privacy Control"
    SMS = "sms", "SMS keyword"
    SUPPORT = "support", "Support agent"
    CONNECTOR = "connector", "Connector"


class SubscriptionState(models.TextChoices):
    """A subscription as the dashboard counts it: its status, with an open hold read as paused."""

    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"
    PENDING = "pending", "Pending confirmation"
    UNSUBSCRIBED = "unsubscribed", "Unsubscribed"


class RollupWatermark(models.Model):
    """How far the brand's rollups have read its changes feed: a feed position (txid, id), so a
    transaction that commits late with a lower id is still read (sync.outbox.feed)."""

    brand = models.OneToOneField(Brand, on_delete=models.CASCADE, primary_key=True, related_name="+")
    cursor_txid = models.BigIntegerField(default=0)
    cursor_id = models.BigIntegerField(default=0)
    refreshed_at = models.DateTimeField(null=True, blank=True)
    rebuilt_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"rollups of {self.brand_id} at ({self.cursor_txid}, {self.cursor_id})"


class CountedConsent(models.Model):
    """Whether the contact's consent to the purpose is counted as active."""

    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="+", db_index=False)
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+", db_index=False)
    purpose = models.ForeignKey(Purpose, on_delete=models.CASCADE, related_name="+", db_index=False)
    granted = models.BooleanField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["contact", "purpose"], name="countedconsent_unique_contact_purpose"
            )
        ]
        indexes = [models.Index(fields=["brand"], name="countedconsent_brand")]

    def __str__(self) -> str:
        return f"{self.contact_id}/{self.purpose_id}: {'granted' if self.granted else 'not granted'}"


class CountedSubscription(models.Model):
    """One subscription row of a contact as last counted."""

    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="+", db_index=False)
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+", db_index=False)
    topic = models.ForeignKey(Topic, on_delete=models.CASCADE, related_name="+", db_index=False)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    state = models.CharField(max_length=12, choices=SubscriptionState.choices)
    cadence = models.CharField(max_length=10)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["contact", "topic", "channel"], name="countedsub_unique_contact_topic_channel"
            )
        ]
        indexes = [models.Index(fields=["brand"], name="countedsub_brand")]

    def __str__(self) -> str:
        return f"{self.contact_id}/{self.topic_id}/{self.channel}: {self.state}"


class PurposeDay(models.Model):
    """One purpose on one day (UTC, by when Candor recorded the change): the changes of state
    recorded, and by how much the active and decided contacts moved. Summing the changes up to
    a day gives that day's totals."""

    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="+", db_index=False)
    purpose = models.ForeignKey(Purpose, on_delete=models.CASCADE, related_name="+", db_index=False)
    day = models.DateField()
    grants = models.PositiveIntegerField(default=0)
    withdrawals = models.PositiveIntegerField(default=0)
    expiries = models.PositiveIntegerField(default=0)
    active_change = models.IntegerField(default=0)
    decided_change = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["brand", "day", "purpose"], name="purposeday_unique_brand_day_purpose"
            )
        ]

    def __str__(self) -> str:
        return f"{self.purpose_id} on {self.day}"


class SubscriptionCount(models.Model):
    """How many subscriptions of the brand read this way now."""

    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="+", db_index=False)
    topic = models.ForeignKey(Topic, on_delete=models.CASCADE, related_name="+", db_index=False)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    state = models.CharField(max_length=12, choices=SubscriptionState.choices)
    cadence = models.CharField(max_length=10)
    count = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["brand", "topic", "channel", "state", "cadence"], name="subscriptioncount_unique_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.topic_id}/{self.channel}/{self.state}/{self.cadence}: {self.count}"


class UnsubscribeDay(models.Model):
    """Consents ended by a withdrawal on one day (UTC), by where the withdrawal came from."""

    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="+", db_index=False)
    day = models.DateField()
    source = models.CharField(max_length=12, choices=UnsubscribeSource.choices)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["brand", "day", "source"], name="unsubscribeday_unique_brand_day_source"
            )
        ]

    def __str__(self) -> str:
        return f"{self.source} on {self.day}: {self.count}"


class EndpointHealth(models.Model):
    """A webhook endpoint's health as of the last refresh (from sync's tables, by index)."""

    endpoint = models.OneToOneField(
        "sync.Endpoint", on_delete=models.CASCADE, primary_key=True, related_name="console_health"
    )
    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="+")
    # When the event behind the oldest delivery still pending was recorded: its age is the lag.
    oldest_pending_at = models.DateTimeField(null=True, blank=True)
    pending = models.PositiveIntegerField(default=0)
    failures_24h = models.PositiveIntegerField(default=0)
    delivered_1h = models.PositiveIntegerField(default=0)
    latency_p95_ms = models.PositiveIntegerField(null=True, blank=True)
    computed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"health of endpoint {self.endpoint_id}"
