"""The webhook endpoints API's bodies: endpoints, their delivery log and redelivery."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from sync.outbox.serializers import timestamp

PSEUDONYMOUS_HELP = (
    "Name contacts in data.contact by a pseudonym of this endpoint's own (psn_…: stable per "
    "contact, different for every endpoint, not reversible without Candor's secret) instead of "
    "the external id; applies to events delivered from then on"
)


class EndpointIn(serializers.Serializer):
    url = serializers.CharField(
        max_length=2000, help_text="https:// URL of the receiver; redirects are not followed"
    )
    description = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    event_types = serializers.ListField(
        child=serializers.CharField(max_length=40),
        required=False,
        default=list,
        max_length=50,
        help_text="Only these event types (and always contact.erased); empty or absent: every type",
    )
    include_personal_data = serializers.BooleanField(
        required=False, default=False, help_text="Send email and phone in event data (left out by default)"
    )
    pseudonymous_contacts = serializers.BooleanField(
        required=False,
        default=False,
        help_text=PSEUDONYMOUS_HELP,
    )


class EndpointPatchIn(serializers.Serializer):
    url = serializers.CharField(max_length=2000, required=False)
    description = serializers.CharField(max_length=500, required=False, allow_blank=True)
    event_types = serializers.ListField(
        child=serializers.CharField(max_length=40), required=False, max_length=50
    )
    status = serializers.ChoiceField(
        choices=["active", "disabled"],
        required=False,
        help_text="Enabling resumes where the endpoint stopped: nothing written meanwhile is lost",
    )
    include_personal_data = serializers.BooleanField(required=False)
    pseudonymous_contacts = serializers.BooleanField(required=False, help_text=PSEUDONYMOUS_HELP)


class EndpointOut(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    url = serializers.CharField()
    description = serializers.CharField()
    event_types = serializers.ListField(child=serializers.CharField(), help_text="Empty: every type")
    status = serializers.ChoiceField(choices=["active", "disabled"])
    disabled_reason = serializers.CharField(help_text="Why it was disabled; empty when active")
    disabled_at = serializers.DateTimeField(allow_null=True)
    include_personal_data = serializers.BooleanField()
    pseudonymous_contacts = serializers.BooleanField(help_text=PSEUDONYMOUS_HELP)
    failing_since = serializers.DateTimeField(
        allow_null=True, help_text="Every attempt has failed since then; after 5 days it is disabled"
    )
    previous_secret_expires_at = serializers.DateTimeField(
        allow_null=True, help_text="Until then the previous secret signs beside the new one"
    )
    opt_outs_overdue = serializers.IntegerField(
        default=0,
        help_text="Opt-outs (consent.withdrawn, contact.unsubscribed) this endpoint has not acknowledged "
        "with a 2xx by the end of the 15th business day (Mon-Fri, UTC) after they were made; above 0, "
        "the brand's contact email is told once. List them with GET …/deliveries?overdue=true",
    )
    opt_outs_overdue_since = serializers.DateTimeField(
        default=None, allow_null=True, help_text="When the oldest overdue opt-out was made; null when none"
    )
    created_at = serializers.DateTimeField()


class EndpointWithSecretOut(EndpointOut):
    secret = serializers.CharField(help_text="whsec_…: shown only in this reply; keep it safe")


class EndpointListOut(serializers.Serializer):
    endpoints = EndpointOut(many=True)
    next_cursor = serializers.CharField(allow_null=True)


class AttemptOut(serializers.Serializer):
    number = serializers.IntegerField()
    started_at = serializers.DateTimeField()
    duration_ms = serializers.IntegerField()
    status_code = serializers.IntegerField(allow_null=True, help_text="Null when there was no answer")
    response_excerpt = serializers.CharField(help_text="The first 1,024 characters of the answer")
    error = serializers.CharField(help_text="Timeout, connection error, refused address…")
    outcome = serializers.ChoiceField(choices=["succeeded", "failed", "gone", "refused"])


class DeliveryOut(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    webhook_id = serializers.CharField(
        source="msg_id", help_text="The webhook-id header, the same on every retry"
    )
    event_id = serializers.UUIDField(
        source="event.public_id",
        allow_null=True,
        default=None,
        help_text="The feed event's id; null for test messages and after the event's retention",
    )
    type = serializers.CharField()
    sequence = serializers.IntegerField(help_text="The contact's sequence number (0 for test messages)")
    status = serializers.ChoiceField(choices=["pending", "succeeded", "failed"])
    attempt_count = serializers.IntegerField()
    next_attempt_at = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    succeeded_at = serializers.DateTimeField(allow_null=True)
    attempts = AttemptOut(many=True)

    def get_next_attempt_at(self, delivery: Any) -> str | None:
        """When the next attempt is due; null unless pending."""
        return timestamp(delivery.next_attempt_at) if delivery.status == "pending" else None


class DeliveryListOut(serializers.Serializer):
    deliveries = DeliveryOut(many=True)
    next_cursor = serializers.CharField(allow_null=True)


class RedeliverIn(serializers.Serializer):
    delivery = serializers.CharField(required=False, max_length=32, help_text="One delivery's id")
    since = serializers.DateTimeField(required=False, help_text="Every delivery made since then (RFC 3339)")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("delivery" in attrs) == ("since" in attrs):
            raise serializers.ValidationError("Give either delivery or since.")
        return attrs


class RedeliverOut(serializers.Serializer):
    redelivered = serializers.IntegerField(help_text="How many deliveries were queued again")
