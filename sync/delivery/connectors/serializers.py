"""The connectors API's bodies. Credentials are write-only: no body here has a field for them."""

from __future__ import annotations

from rest_framework import serializers

from sync.models import Connector

VENDORS = Connector.Vendor.values


class ConnectorIn(serializers.Serializer):
    vendor = serializers.ChoiceField(choices=VENDORS)
    name = serializers.CharField(max_length=200)
    credentials = serializers.DictField(
        help_text='Write-only; never returned or logged. Klaviyo: {"api_key": "pk_…"} (a private API key); '
        'Mailchimp: {"api_key": "<key>-<dc>", "webhook_secret"?: "…"}; '
        'Salesforce: {"client_id", "client_secret"} or {"client_id", "username", "private_key"}; '
        'HubSpot: {"access_token": "pat-…", "client_secret"?} (a private app) or '
        '{"client_id", "client_secret", "refresh_token"} (an OAuth app)'
    )
    mapping = serializers.DictField(
        help_text='Klaviyo: {"lists": [{"list": "<list id>", "topic"?: "<topic slug>", "purpose"?: '
        '"<purpose slug>", "channels"?: ["email", "sms"]}]}; Mailchimp: {"lists": [{"list": "<audience id>", '
        '"topic"?, "purpose"?, "interest"?: "<interest id>", "marketing_permission"?: "<id>"}]}; '
        'Salesforce: {"object": "Contact"|"Lead", "match_field", "purposes": [{"purpose", "topic"?, '
        '"data_use_purpose", "channels"?}], "flags"?: {"HasOptedOutOfEmail": "email", …}}; each id must '
        "exist in the account"
    )
    api_base_url = serializers.CharField(
        max_length=2000,
        required=False,
        allow_blank=True,
        default="",
        help_text="The vendor's regional host, a sandbox or a local fake (https; private addresses "
        "only where WEBHOOK_ALLOW_PRIVATE allows); empty: the vendor's own host",
    )


class ConnectorPatchIn(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    credentials = serializers.DictField(
        required=False, help_text="Replaces the stored credentials (write-only)"
    )
    mapping = serializers.DictField(required=False)
    api_base_url = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    status = serializers.ChoiceField(
        choices=["active", "disabled"],
        required=False,
        help_text="Enabling resumes where the connector stopped: nothing written meanwhile is lost",
    )


class ConnectorOut(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    vendor = serializers.ChoiceField(choices=VENDORS)
    name = serializers.CharField()
    mapping = serializers.DictField()
    api_base_url = serializers.CharField(source="endpoint.url", help_text="The host in use")
    status = serializers.ChoiceField(choices=["active", "disabled"], source="endpoint.status")
    disabled_reason = serializers.CharField(source="endpoint.disabled_reason")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class ConnectorListOut(serializers.Serializer):
    connectors = ConnectorOut(many=True)
    next_cursor = serializers.CharField(allow_null=True)


class VendorListOut(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()


class ConnectorTestOut(serializers.Serializer):
    ok = serializers.BooleanField(help_text="The credentials work against the vendor")
    detail = serializers.CharField()
    lists = VendorListOut(many=True, help_text="The lists the vendor account holds")


RUN_STATUSES = ["running", "succeeded", "failed"]
DRIFT_KINDS = [
    "vendor_subscribed_without_consent",
    "vendor_unsubscribed_candor_subscribed",
    "unknown_in_vendor",
]


class BackfillOut(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    status = serializers.ChoiceField(choices=RUN_STATUSES)
    total = serializers.IntegerField(help_text="Contacts to push: every contact when the run started")
    done = serializers.IntegerField(help_text="Contacts the vendor accepted")
    failed = serializers.IntegerField(help_text="Contacts whose request the vendor rejected for good")
    started_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    eta = serializers.DateTimeField(allow_null=True, help_text="When it should end at its pace so far")
    error = serializers.CharField(help_text="Why it failed (empty otherwise)")


def _counts(help_text: str) -> serializers.DictField:
    return serializers.DictField(child=serializers.IntegerField(), help_text=help_text)


class ReconcileOut(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    status = serializers.ChoiceField(choices=RUN_STATUSES)
    trigger = serializers.ChoiceField(choices=["api", "schedule", "command"])
    contacts = serializers.IntegerField(help_text="Contacts compared")
    slots = serializers.IntegerField(help_text="Vendor yes/no places compared (e.g. a list on a channel)")
    drift = _counts(f"Slots out of step, by kind: {', '.join(DRIFT_KINDS)}")
    repaired = _counts("Slots repaired, by kind")
    samples = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Up to 20 contacts' external ids per kind (never an address)",
    )
    started_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    error = serializers.CharField(help_text="Why it failed (empty otherwise)")
