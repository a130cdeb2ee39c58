"""Topics, channels and cadence; the contact's subscriptions, channel opt-outs and holds.

A subscription's status is what the contact chose; whether the brand may actually send is
decided together with the consent ledger (the purpose's state) and any active hold.
Rows change only through `preferences.services`, which also writes the ledger and outbox.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models

from brands.models import SLUG_VALIDATOR, Brand
from consent.models import Contact, NoticeVersion, Purpose


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"
    PUSH = "push", "Push"
    POST = "post", "Post"
    PHONE = "phone", "Phone"


class Cadence(models.TextChoices):
    IMMEDIATE = "immediate", "As it happens"
    DAILY = "daily", "Daily digest"
    WEEKLY = "weekly", "Weekly digest"
    MONTHLY = "monthly", "Monthly digest"


def _validate_choice_list(value: Any, choices: type[models.TextChoices], what: str) -> None:
    if not isinstance(value, list) or not value:
        raise ValidationError(f"Give at least one {what} as a list.")
    unknown = [item for item in value if item not in choices.values]
    if unknown:
        raise ValidationError(f"Unknown {what}(s) {unknown}; choose from {list(choices.values)}.")
    if len(set(value)) != len(value):
        raise ValidationError(f"Each {what} may appear only once.")


def validate_channels(value: Any) -> None:
    _validate_choice_list(value, Channel, "channel")


def validate_cadence_options(value: Any) -> None:
    _validate_choice_list(value, Cadence, "cadence")


def validate_translations(value: Any) -> None:
    """{"de": {"name": "…", "description": "…"}, …}"""
    if not isinstance(value, dict):
        raise ValidationError('Translations are an object such as {"de": {"name": "…", "description": "…"}}.')
    for language, texts in value.items():
        if not isinstance(language, str) or not 2 <= len(language) <= 10:
            raise ValidationError(f"'{language}' is not a language code.")
        if not isinstance(texts, dict) or set(texts) - {"name", "description"}:
            raise ValidationError(f"Translations for '{language}' may give only 'name' and 'description'.")
        if not all(isinstance(text, str) for text in texts.values()):
            raise ValidationError(f"Translations for '{language}' must be text.")


def default_channels() -> list[str]:
    return [Channel.EMAIL.value]


def default_cadence_options() -> list[str]:
    return [Cadence.IMMEDIATE.value]


class Topic(models.Model):
    """What the brand talks about. Configured by the brand's staff."""

    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="topics")
    slug = models.CharField(max_length=50, validators=[SLUG_VALIDATOR])
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    translations = models.JSONField(
        default=dict,
        blank=True,
        validators=[validate_translations],
        help_text='Per language: {"de": {"name": "…", "description": "…"}}',
    )
    purpose = models.ForeignKey(
        Purpose,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="topics",
        help_text="The purpose a subscription needs; empty only for transactional topics",
    )
    # Texts need their own consent (TCPA prior express written consent: the seller, the number,
    # "not a condition of purchase"), so the SMS row of a topic can name a purpose of its own.
    sms_purpose = models.ForeignKey(
        Purpose,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="sms_topics",
        help_text="The purpose (with its own notice) that texts on this topic need; "
        "empty: the topic's purpose",
    )
    transactional = models.BooleanField(
        default=False, help_text="Needs no consent and cannot be switched off by the contact"
    )
    default_subscribed = models.BooleanField(
        default=False,
        help_text="Reads as subscribed without a choice: always for transactional topics, otherwise "
        "only while the contact's consent for the purpose is granted. Never pre-ticks consent.",
    )
    channels = models.JSONField(default=default_channels, validators=[validate_channels])
    cadence_options = models.JSONField(
        default=default_cadence_options,
        validators=[validate_cadence_options],
        help_text="The cadences offered; the first is the default",
    )
    double_opt_in = models.BooleanField(
        default=False, help_text="New subscribers without consent confirm by a link before anything is sent"
    )
    position = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["brand", "slug"], name="topic_unique_brand_slug")]

    def __str__(self) -> str:
        return self.slug

    def clean(self) -> None:
        if self.purpose_id is None and not self.transactional:
            raise ValidationError({"purpose": "Only a transactional topic may go without a purpose."})
        if self.purpose is not None and self.brand_id is not None and self.purpose.brand_id != self.brand_id:
            raise ValidationError({"purpose": "The purpose belongs to another brand."})
        if self.sms_purpose_id is not None:
            if self.transactional or Channel.SMS not in (self.channels or []):
                raise ValidationError(
                    {"sms_purpose": "Only a marketing topic offered by SMS takes an SMS purpose."}
                )
            sms_purpose = self.sms_purpose
            if (
                self.brand_id is not None
                and sms_purpose is not None
                and sms_purpose.brand_id != self.brand_id
            ):
                raise ValidationError({"sms_purpose": "The purpose belongs to another brand."})

    def purpose_id_for(self, channel: str) -> int | None:
        """The purpose a subscription on the channel needs (the SMS purpose for texts, if any)."""
        if channel == Channel.SMS and self.sms_purpose_id is not None:
            return self.sms_purpose_id
        return self.purpose_id

    def purpose_for(self, channel: str) -> Purpose | None:
        if channel == Channel.SMS and self.sms_purpose_id is not None:
            return self.sms_purpose
        return self.purpose

    @property
    def default_cadence(self) -> str:
        return str(self.cadence_options[0])

    def text(self, language: str) -> tuple[str, str]:
        """(name, description) in the language, falling back to the base text."""
        texts = self.translations.get(language) or {}
        return texts.get("name") or self.name, texts.get("description") or self.description


class SubscriptionStatus(models.TextChoices):
    SUBSCRIBED = "subscribed", "Subscribed"
    UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
    PENDING = "pending", "Pending (double opt-in)"


NOT_SET = "not_set"  # what a topic and channel without a row and without a default reads as


class Subscription(models.Model):
    """The contact's choice for one topic on one channel."""

    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="+")
    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="subscriptions")
    topic = models.ForeignKey(Topic, on_delete=models.PROTECT, related_name="subscriptions")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    status = models.CharField(max_length=12, choices=SubscriptionStatus.choices)
    cadence = models.CharField(max_length=10, choices=Cadence.choices)
    occurred_at = models.DateTimeField(help_text="When the contact made the choice that set the status")
    notice_version = models.ForeignKey(
        NoticeVersion,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The notice shown when a pending (double opt-in) subscription was asked for",
    )
    # Double opt-in, while pending: when this request began (server time; its confirmation links
    # work for 72 hours from then and only if issued after it) and when the confirmation email
    # last went out (a resend waits 10 minutes).
    confirmation_requested_at = models.DateTimeField(null=True, blank=True)
    confirmation_sent_at = models.DateTimeField(null=True, blank=True)
    # The proof the grant at confirmation carries (compliance #9), kept only while pending: the
    # sign-up request's truncated IP and user agent, and the confirmation email last sent
    # ({template, language, digest, sent_at}).
    confirmation_request_ip = models.CharField(max_length=45, blank=True, default="")
    confirmation_request_user_agent = models.CharField(max_length=512, blank=True, default="")
    confirmation_email = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["contact", "topic", "channel"], name="subscription_unique_contact_topic_channel"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.contact_id}/{self.topic_id}/{self.channel}: {self.status}"


class ChannelOptOut(models.Model):
    """'Unsubscribe from all' on one channel. Cleared (not deleted) when the contact comes back,
    so the time of the latest decision survives for the conflict rule."""

    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="+")
    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="channel_opt_outs")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    opted_out = models.BooleanField()
    occurred_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["contact", "channel"], name="channeloptout_unique_contact_channel"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.contact_id}/{self.channel}: {'opted out' if self.opted_out else 'cleared'}"


class HoldStartedBy(models.TextChoices):
    CUSTOMER = "customer", "Customer (snooze)"
    AGENT = "agent", "Support agent"


class HoldEndReason(models.TextChoices):
    EXPIRED = "expired", "Reached its end"
    ENDED = "ended", "Ended early"


def new_hold_id() -> str:
    return f"hold_{secrets.token_urlsafe(12)}"


class Hold(models.Model):
    """A pause: nothing non-transactional is sent until `until`. It ends by itself: readers treat
    `until <= now` as ended; `holds_end_expired` later marks it and announces `hold.ended`."""

    public_id = models.CharField(max_length=32, unique=True, default=new_hold_id, editable=False)
    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="+")
    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="holds")
    until = models.DateTimeField()
    topics = models.ManyToManyField(Topic, blank=True, related_name="+", help_text="Empty means every topic")
    channels = models.JSONField(default=list, blank=True, help_text="Empty means every channel")
    started_by = models.CharField(max_length=10, choices=HoldStartedBy.choices)
    reason = models.CharField(max_length=500, blank=True, help_text="Required when an agent starts it")
    recorded_by = models.CharField(max_length=200, help_text="Which credential or interface wrote it")
    created_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=10, choices=HoldEndReason.choices, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["contact", "until"], name="hold_contact_until"),
            models.Index(fields=["until"], condition=models.Q(ended_at__isnull=True), name="hold_open_until"),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} until {self.until:%Y-%m-%d}"


class PendingUnsubscribe(models.Model):
    """A one-click unsubscribe (RFC 8058) accepted and not yet applied.

    The mailbox provider's POST is answered as soon as this row is durable; a worker applies it
    within seconds through `preferences.services` (ledger, subscription and outbox in one
    transaction, dated `requested_at`, so a newer choice made meanwhile still wins), then
    deletes the row. See `preferences.one_click`.
    """

    id = models.BigAutoField(primary_key=True)
    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="+", db_index=False)
    contact = models.ForeignKey(
        Contact, on_delete=models.CASCADE, related_name="pending_unsubscribes", db_index=False
    )
    # None: every non-transactional topic on the channel ("unsubscribe from all").
    topic = models.ForeignKey(Topic, on_delete=models.CASCADE, null=True, related_name="+", db_index=False)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    requested_at = models.DateTimeField()
    # Evidence for the ledger event, deleted with the row (and by erasure, like every row
    # that points at the contact).
    ip = models.CharField(max_length=45, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    page_url = models.CharField(max_length=512, blank=True)

    class Meta:
        # Erasure deletes by contact; the worker reads oldest first by id.
        indexes = [models.Index(fields=["contact"], name="pendingunsub_contact")]

    def __str__(self) -> str:
        return f"one-click unsubscribe of contact {self.contact_id} ({self.channel})"


class StepUpAction(models.TextChoices):
    EXPORT = "export", "Download my data"
    ERASE = "erase", "Delete my data"
    EMAIL = "email", "Change my email address"


class StepUpCode(models.Model):
    """A single-use code, valid for minutes, that a sensitive action on the hosted page needs
    (ASVS 6.5.1, 6.5.5): a forwarded manage link alone cannot export, erase or take over the
    address. Only an HMAC of the code is kept. See `preferences.step_up`."""

    id = models.BigAutoField(primary_key=True)
    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="+", db_index=False)
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="step_up_codes")
    action = models.CharField(max_length=10, choices=StepUpAction.choices)
    code_hmac = models.CharField(max_length=64)
    # For a change of address: the new address, where the code went (it proves the person
    # reads it). Deleted with the row, and by erasure like every row that points at the contact.
    new_email = models.EmailField(blank=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.action} code for contact {self.contact_id}"


class TwilioAccount(models.Model):
    """A brand's Twilio account, for verifying its inbound-text webhooks (preferences.sms).

    The auth token is stored encrypted with a key derived from SECRET_KEY and never shown again."""

    brand = models.OneToOneField(Brand, on_delete=models.CASCADE, related_name="twilio_account")
    account_sid = models.CharField(max_length=64)
    auth_token_encrypted = models.TextField(
        help_text="AES-GCM; set through preferences.sms.twilio_account_set"
    )
    # Texts from numbers the brand does not know: only counted, never stored.
    unknown_senders = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Twilio account of {self.brand_id}"


class SmsKeyword(models.TextChoices):
    STOP = "stop", "Stop"
    START = "start", "Start"
    HELP = "help", "Help"


class InboundSms(models.Model):
    """A keyword text from a known contact (each contact with the number), once per Twilio
    MessageSid: a retried webhook is
    answered with the first reply and changes nothing. `effects` keeps what a STOP ended (rows and
    the notice versions of withdrawn grants), so the same number's START can restore exactly that."""

    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="+", db_index=False)
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="inbound_sms")
    message_sid = models.CharField(max_length=64)
    keyword = models.CharField(max_length=10, choices=SmsKeyword.choices)
    phone = models.CharField(max_length=16, help_text="E.164, the sender")
    effects = models.JSONField(default=dict, blank=True)
    reply = models.TextField(blank=True)
    received_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["brand", "message_sid", "contact"], name="inboundsms_unique_brand_sid_contact"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.keyword} from contact {self.contact_id}"


class UnsubscribeDelayAlert(models.Model):
    """One row (pk 1): whether the alert that accepted one-click unsubscribes wait too long is
    raised, so it goes out once per incident (compliance #17), not on every check."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    raised_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"unsubscribe delay alert ({'raised' if self.raised_at else 'clear'})"
