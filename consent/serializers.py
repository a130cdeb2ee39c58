from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from rest_framework import serializers

from config.serializers import AwareDateTimeField, StrictSerializer
from consent.identifiers import truncate_ip
from consent.models import DECISIONS_GIVEN, ConsentEvent, Method
from consent.selectors import CurrentConsent
from consent.services import ImpliedBasis
from consent.validators import jurisdiction_code

# Ways a downstream system may say a decision was collected. The others belong to
# Candor's own interfaces (hosted page, quiz, one-click, GPC) and are set by them.
API_METHODS = [Method.API, Method.IMPORT, Method.AGENT]


def validate_jurisdiction(value: str) -> None:
    if value:
        try:
            jurisdiction_code(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None


# --- Contacts ---------------------------------------------------------------------


class ContactIn(StrictSerializer):
    """The fields a PUT may set. What each may hold is checked, and normalised, by the service
    (`consent.services.contact_upsert`, rules in `consent.validators`): a bad value is a 422 naming
    the field, as here."""

    email = serializers.CharField(
        max_length=254, required=False, allow_null=True, allow_blank=True, help_text="Stored lower-cased"
    )
    phone = serializers.CharField(
        max_length=32,
        required=False,
        allow_null=True,
        allow_blank=True,
        help_text="With its country code; stored in E.164, e.g. +4915123456789",
    )
    locale = serializers.CharField(
        max_length=35, required=False, allow_blank=True, help_text="A BCP 47 language tag such as de or fr-CA"
    )
    timezone = serializers.CharField(
        max_length=64, required=False, allow_blank=True, help_text="An IANA time zone such as Europe/Berlin"
    )
    jurisdiction = serializers.CharField(
        max_length=10, required=False, allow_blank=True, help_text="An ISO 3166 code such as DE, CA or US-CA"
    )


class ContactOut(serializers.Serializer):
    external_id = serializers.CharField()
    email = serializers.EmailField(allow_null=True)
    phone = serializers.CharField(allow_null=True)
    locale = serializers.CharField()
    timezone = serializers.CharField()
    jurisdiction = serializers.CharField()
    suppressed = serializers.BooleanField(
        read_only=True,
        help_text="The address was erased from this brand before: no marketing until the person opts "
        "in to a marketing purpose again (an import cannot do that)",
    )
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class RightsRequestIn(StrictSerializer):
    reason = serializers.CharField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        help_text="Why: the request's reference or the channel it came by (at most 500 characters; "
        "no personal data). Required here or as the `reason` query parameter.",
    )


# --- Purposes ---------------------------------------------------------------------


class NoticeVersionRefOut(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    language = serializers.CharField()
    hash = serializers.CharField(source="content_hash")
    version = serializers.IntegerField()


class PurposeOut(serializers.Serializer):
    slug = serializers.CharField(source="purpose.slug")
    name = serializers.CharField(source="purpose.name")
    description = serializers.CharField(source="purpose.description")
    legal_basis = serializers.CharField(source="purpose.legal_basis")
    consent_type = serializers.CharField(source="purpose.consent_type")
    notice_version = NoticeVersionRefOut(source="default_version", allow_null=True)
    notice_versions = NoticeVersionRefOut(source="current_versions", many=True)


# --- Consents ---------------------------------------------------------------------


class EvidenceIn(StrictSerializer):
    ip = serializers.IPAddressField(required=False, allow_blank=True)
    user_agent = serializers.CharField(
        max_length=512, required=False, allow_blank=True, trim_whitespace=False
    )
    page_url = serializers.URLField(max_length=2000, required=False, allow_blank=True)
    gpc = serializers.BooleanField(required=False, allow_null=True)
    tc_string = serializers.CharField(
        max_length=10000, required=False, allow_blank=True, trim_whitespace=False
    )
    gpp_string = serializers.CharField(
        max_length=10000, required=False, allow_blank=True, trim_whitespace=False
    )

    def validate_ip(self, value: str) -> str:
        return truncate_ip(value) if value else ""

    def validate_page_url(self, value: str) -> str:
        # Query strings carry tokens and emails; the page is evidence enough.
        if not value:
            return ""
        parts = urlsplit(value)
        return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


class ConsentIn(StrictSerializer):
    purpose = serializers.CharField(max_length=50)
    decision = serializers.ChoiceField(choices=DECISIONS_GIVEN)
    notice_version = serializers.CharField(max_length=32, required=False, allow_null=True, allow_blank=True)
    method = serializers.ChoiceField(choices=API_METHODS, default=Method.API)
    actor = serializers.CharField(max_length=200, required=False, allow_blank=False)
    occurred_at = AwareDateTimeField(required=False)
    implied_basis = serializers.ChoiceField(choices=ImpliedBasis.CHOICES, required=False)
    jurisdiction = serializers.CharField(
        max_length=10, required=False, allow_blank=True, validators=[validate_jurisdiction]
    )
    evidence = EvidenceIn(required=False)


class ConsentEventOut(serializers.Serializer):
    event_id = serializers.UUIDField(source="id")
    purpose = serializers.CharField(source="purpose.slug")
    decision = serializers.CharField()
    notice_version = serializers.CharField(source="notice_version.public_id", allow_null=True, default=None)
    method = serializers.CharField()
    occurred_at = serializers.DateTimeField()
    recorded_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)
    sequence = serializers.IntegerField()
    hash = serializers.CharField()
    prev_hash = serializers.CharField()


class EvidenceOut(serializers.Serializer):
    ip = serializers.CharField()
    user_agent = serializers.CharField()
    page_url = serializers.CharField()
    gpc = serializers.BooleanField(allow_null=True)
    tc_string = serializers.CharField()
    gpp_string = serializers.CharField()
    # What expressed the decision when it was not a page: a text reply (provider, message id, from,
    # to, body, received_at) or a connected vendor (vendor, connector, event_id, kind, channel,
    # received_at, vendor_… details). Null otherwise, and once erased.
    message = serializers.DictField(child=serializers.CharField(), allow_null=True)
    erased = serializers.SerializerMethodField()

    def get_erased(self, obj: Any) -> bool:
        return obj.erased_at is not None


class ConsentHistoryItemOut(ConsentEventOut):
    consent_type = serializers.CharField()
    actor = serializers.CharField()
    recorded_by = serializers.CharField()
    jurisdiction = serializers.CharField()
    evidence = EvidenceOut()


class ConsentHistoryOut(serializers.Serializer):
    contact = serializers.CharField()
    events = ConsentHistoryItemOut(many=True)
    next_cursor = serializers.CharField(allow_null=True)


class CurrentConsentOut(serializers.Serializer):
    purpose = serializers.CharField()
    state = serializers.ChoiceField(choices=["granted", "withdrawn", "pending", "expired"])
    valid_for_processing = serializers.BooleanField()
    notice_version = serializers.CharField(allow_null=True)
    event_id = serializers.UUIDField()
    occurred_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)


class CurrentConsentsOut(serializers.Serializer):
    contact = serializers.CharField()
    consents = CurrentConsentOut(many=True)


_datetime = serializers.DateTimeField()


def consent_event_data(event: ConsentEvent) -> dict[str, Any]:
    """What ConsentEventOut renders, built directly: the write path's reply."""
    return {
        "event_id": str(event.id),
        "purpose": event.purpose.slug,
        "decision": event.decision,
        "notice_version": event.notice_version.public_id if event.notice_version else None,
        "method": event.method,
        "occurred_at": _datetime.to_representation(event.occurred_at),
        "recorded_at": _datetime.to_representation(event.recorded_at),
        "expires_at": _datetime.to_representation(event.expires_at) if event.expires_at else None,
        "sequence": event.sequence,
        "hash": event.hash,
        "prev_hash": event.prev_hash,
    }


def current_consents_data(external_id: str, consents: list[CurrentConsent]) -> dict[str, Any]:
    """What CurrentConsentsOut renders, built directly: the read path's hot loop."""
    return {
        "contact": external_id,
        "consents": [
            {
                "purpose": c.purpose,
                "state": c.state,
                "valid_for_processing": c.valid_for_processing,
                "notice_version": c.notice_version,
                "event_id": str(c.event_id),
                "occurred_at": _datetime.to_representation(c.occurred_at),
                "updated_at": _datetime.to_representation(c.updated_at),
                "expires_at": _datetime.to_representation(c.expires_at) if c.expires_at else None,
            }
            for c in consents
        ],
    }


class ReceiptOut(serializers.Serializer):
    receipt = serializers.DictField(help_text="Kantara Consent Receipt v1.1")
    jws = serializers.CharField(help_text="The receipt as a compact JWS (ES256)")
    kid = serializers.CharField()
    jwks_url = serializers.URLField()


class CheckpointPayloadOut(serializers.Serializer):
    typ = serializers.CharField(help_text="Always candor.ledger.checkpoint")
    v = serializers.IntegerField(help_text="Format version, 1")
    brand = serializers.CharField(help_text="The brand's slug")
    number = serializers.IntegerField(help_text="Per brand, from 1, without gaps")
    issued_at = serializers.CharField(help_text="UTC, microseconds, ending in Z")
    tree_size = serializers.IntegerField(help_text="How many contacts' chains the tree holds")
    root_hash = serializers.CharField(help_text="RFC 6962 Merkle tree hash over the chain heads, hex")
    previous_root_hash = serializers.CharField(
        allow_null=True, help_text="The root of the checkpoint before it; null for the first"
    )


class CheckpointOut(serializers.Serializer):
    checkpoint = CheckpointPayloadOut(help_text="The signed content, also the JWS payload")
    jws = serializers.CharField(help_text="The checkpoint as a compact JWS (ES256, the receipt key)")
    kid = serializers.CharField()
    jwks_url = serializers.URLField()


class CheckpointListOut(serializers.Serializer):
    checkpoints = CheckpointOut(many=True)
    next_cursor = serializers.CharField(allow_null=True)
