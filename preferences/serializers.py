from __future__ import annotations

from typing import Any

from rest_framework import serializers

from config.serializers import AwareDateTimeField, StrictSerializer
from consent.models import DECISIONS_GIVEN
from consent.serializers import (
    API_METHODS,
    ConsentEventOut,
    ContactIn,
    ContactOut,
    EvidenceIn,
    validate_jurisdiction,
)
from consent.services import ImpliedBasis
from preferences.models import Cadence, Channel, SubscriptionStatus

STATUS_CHOICES = [*SubscriptionStatus.values, "not_set"]
MAX_ROWS = 1000
MAX_HOLDS = 20
CHANGE_STATUS_CHOICES = [SubscriptionStatus.SUBSCRIBED.value, SubscriptionStatus.UNSUBSCRIBED.value]


# --- In ------------------------------------------------------------------------------------


class SubscriptionChangeIn(StrictSerializer):
    topic = serializers.CharField(max_length=50)
    channel = serializers.ChoiceField(choices=Channel.choices)
    status = serializers.ChoiceField(choices=CHANGE_STATUS_CHOICES, required=False)
    cadence = serializers.ChoiceField(choices=Cadence.choices, required=False)
    notice_version = serializers.CharField(
        max_length=32,
        required=False,
        allow_null=True,
        allow_blank=True,
        help_text="The notice shown, needed when subscribing to a purpose not yet granted",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "status" not in attrs and "cadence" not in attrs:
            raise serializers.ValidationError({"status": ["Give a status, a cadence or both."]})
        return attrs


class UnsubscribedAllIn(StrictSerializer):
    email = serializers.BooleanField(required=False)
    sms = serializers.BooleanField(required=False)
    push = serializers.BooleanField(required=False)
    post = serializers.BooleanField(required=False)
    phone = serializers.BooleanField(required=False)


class HoldIn(StrictSerializer):
    """Start an agent's hold with `until` and `reason` (optionally `topics`, `channels`),
    or end one with `{"id": …, "ended": true}`."""

    id = serializers.CharField(max_length=32, required=False)
    ended = serializers.BooleanField(required=False)
    until = AwareDateTimeField(required=False)
    reason = serializers.CharField(max_length=500, required=False)
    topics = serializers.ListField(child=serializers.CharField(max_length=50), required=False, max_length=200)
    channels = serializers.ListField(
        child=serializers.ChoiceField(choices=Channel.choices), required=False, max_length=len(Channel.values)
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "id" in attrs:
            if attrs.get("ended") is not True or set(attrs) - {"id", "ended"}:
                message = 'To end a hold send {"id": …, "ended": true} and nothing else.'
                raise serializers.ValidationError({"ended": [message]})
            return attrs
        if "ended" in attrs:
            raise serializers.ValidationError({"id": ["Name the hold to end by its id."]})
        missing = {
            "until": "An agent's hold needs the time it ends.",
            "reason": "An agent's hold needs a reason.",
        }
        errors = {name: [message] for name, message in missing.items() if name not in attrs}
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class PreferencesPatchIn(StrictSerializer):
    contact = serializers.CharField(
        max_length=255, required=False, help_text="If given, the path's external id"
    )
    subscriptions = SubscriptionChangeIn(many=True, required=False)
    unsubscribed_all = UnsubscribedAllIn(required=False)
    holds = HoldIn(many=True, required=False)
    method = serializers.ChoiceField(choices=API_METHODS, default="api")
    actor = serializers.CharField(max_length=200, required=False, allow_blank=False)
    occurred_at = AwareDateTimeField(required=False)
    evidence = EvidenceIn(required=False)

    def validate_subscriptions(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if len(value) > MAX_ROWS:
            raise serializers.ValidationError(f"Name at most {MAX_ROWS} rows at a time.")
        return value

    def validate_holds(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if len(value) > MAX_HOLDS:
            raise serializers.ValidationError(f"Name at most {MAX_HOLDS} holds at a time.")
        return value


# --- Out -----------------------------------------------------------------------------------


class SubscriptionRowOut(serializers.Serializer):
    topic = serializers.CharField(source="topic.slug")
    channel = serializers.ChoiceField(choices=Channel.choices)
    status = serializers.ChoiceField(
        choices=STATUS_CHOICES,
        help_text=(
            "`subscribed`, `unsubscribed`, `not_set`, or `pending`: a subscription awaiting its "
            "double opt-in confirmation, or an unsubscribe (a one-click unsubscribe) accepted "
            "and not yet applied, which the worker applies within seconds; treat it as not "
            "subscribed."
        ),
    )
    cadence = serializers.ChoiceField(choices=Cadence.choices)
    cadence_options = serializers.ListField(child=serializers.ChoiceField(choices=Cadence.choices))


class UnsubscribedAllOut(serializers.Serializer):
    email = serializers.BooleanField()
    sms = serializers.BooleanField()
    push = serializers.BooleanField()
    post = serializers.BooleanField()
    phone = serializers.BooleanField()


class HoldOut(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    until = serializers.DateTimeField()
    topics = serializers.SerializerMethodField(help_text="Topic slugs; empty means every topic")
    channels = serializers.ListField(
        child=serializers.ChoiceField(choices=Channel.choices), help_text="Empty means every channel"
    )
    started_by = serializers.CharField()
    reason = serializers.CharField()
    created_at = serializers.DateTimeField()

    def get_topics(self, obj: Any) -> list[str]:
        return [topic.slug for topic in obj.topics.all()]  # prefetched by the selector


class PreferencesOut(serializers.Serializer):
    contact = serializers.CharField(source="contact.external_id")
    subscriptions = SubscriptionRowOut(many=True)
    unsubscribed_all = UnsubscribedAllOut()
    holds = HoldOut(many=True)


# --- A whole sign-up -------------------------------------------------------------------------

MAX_SIGNUP_CONSENTS = 50


class SignupConsentIn(StrictSerializer):
    purpose = serializers.CharField(max_length=50)
    decision = serializers.ChoiceField(choices=DECISIONS_GIVEN)
    notice_version = serializers.CharField(
        max_length=32,
        required=False,
        allow_null=True,
        allow_blank=True,
        help_text="The notice version the person was shown; required for a grant",
    )
    implied_basis = serializers.ChoiceField(choices=ImpliedBasis.CHOICES, required=False)
    jurisdiction = serializers.CharField(
        max_length=10, required=False, allow_blank=True, validators=[validate_jurisdiction]
    )


class SignupIn(StrictSerializer):
    contact = ContactIn(required=False, help_text="As PUT /contacts/{id}: omitted fields keep their value")
    consents = SignupConsentIn(many=True, required=False)
    subscriptions = SubscriptionChangeIn(many=True, required=False)
    method = serializers.ChoiceField(choices=API_METHODS, default="api")
    actor = serializers.CharField(max_length=200, required=False, allow_blank=False)
    occurred_at = AwareDateTimeField(required=False, help_text="When the person signed up; default now")
    evidence = EvidenceIn(required=False, help_text="Shared by every decision in the sign-up")

    def validate_consents(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if len(value) > MAX_SIGNUP_CONSENTS:
            raise serializers.ValidationError(f"Name at most {MAX_SIGNUP_CONSENTS} decisions at a time.")
        return value

    def validate_subscriptions(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if len(value) > MAX_ROWS:
            raise serializers.ValidationError(f"Name at most {MAX_ROWS} rows at a time.")
        return value


class SignupOut(serializers.Serializer):
    contact = ContactOut()
    events = ConsentEventOut(
        many=True,
        help_text="The ledger events written, as POST …/consents answers each: the decisions given, "
        "in order, then any grant a subscription needed",
    )
    preferences = PreferencesOut(
        allow_null=True, help_text="As GET …/preferences reads now; null when no subscription was named"
    )
