"""Thin API views: parse, call one service or selector, serialize."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from brands.idempotency import idempotent
from brands.models import Scope
from config.errors import Unprocessable
from config.serializers import represented
from consent import selectors as consent_selectors
from consent.api import ERRORS, IDEMPOTENCY_KEY, REASON, WRITE_ERRORS, BrandApiView, validated
from consent.models import Method
from consent.serializers import ContactOut, consent_event_data
from consent.services import ConsentDecision, EvidenceInput, access_request_record
from preferences import selectors, services
from preferences.emails import confirm_url
from preferences.models import Channel, HoldStartedBy
from preferences.page_selectors import contact_export
from preferences.serializers import PreferencesOut, PreferencesPatchIn, SignupIn, SignupOut
from preferences.tokens import LinkKind, link_url


def _changes(data: dict[str, Any]) -> dict[str, Any]:
    """The validated body as preferences_update's arguments."""
    holds = data.get("holds") or []
    return {
        "subscriptions": [
            services.SubscriptionChange(
                topic=row["topic"],
                channel=row["channel"],
                status=row.get("status"),
                cadence=row.get("cadence"),
                notice_version=row.get("notice_version") or None,
            )
            for row in data.get("subscriptions") or []
        ],
        "unsubscribed_all": dict(data.get("unsubscribed_all") or {}),
        # Through the API a hold is an agent's: it names its end and its reason.
        "holds_start": [
            services.HoldRequest(
                started_by=HoldStartedBy.AGENT,
                until=hold["until"],
                reason=hold["reason"],
                topics=tuple(hold.get("topics") or ()),
                channels=tuple(hold.get("channels") or ()),
            )
            for hold in holds
            if "id" not in hold
        ],
        "holds_end": [hold["id"] for hold in holds if "id" in hold],
    }


class ContactPreferencesApi(BrandApiView):
    required_scopes = {"GET": {Scope.PREFERENCES_READ}, "PATCH": {Scope.PREFERENCES_WRITE}}

    @extend_schema(
        operation_id="preferences_get",
        summary="Get a contact's preferences",
        tags=["Preferences"],
        description="One row for every topic × allowed channel of the brand, whether the contact has "
        "chosen or not (`not_set`); 'unsubscribe from all' per channel; the active holds.",
        responses={200: PreferencesOut, **ERRORS},
    )
    def get(self, request: Request, external_id: str) -> Response:
        brand = self.principal().brand
        contact = consent_selectors.contact_get(brand=brand, external_id=external_id)
        return Response(PreferencesOut(selectors.preferences_get(brand=brand, contact=contact)).data)

    @extend_schema(
        operation_id="preferences_update",
        summary="Change a contact's preferences",
        tags=["Preferences"],
        description="Change only what the body names: rows by topic and channel (status, cadence; "
        "`notice_version` when subscribing to a purpose not yet granted), `unsubscribed_all` per "
        'channel, holds to start (`until`, `reason`) or end (`{"id", "ended": true}`). '
        "All of it applies, or nothing does. Answers the preferences as they now read.",
        request=PreferencesPatchIn,
        responses={200: PreferencesOut, **WRITE_ERRORS},
        parameters=[IDEMPOTENCY_KEY],
    )
    def patch(self, request: Request, external_id: str) -> Response:
        principal = self.principal()

        def handle() -> Response:
            data = validated(request, PreferencesPatchIn)
            if data.get("contact", external_id) != external_id:
                raise Unprocessable.for_field("contact", "contact must be the external id in the path.")
            result = services.preferences_update(
                brand=principal.brand,
                external_id=external_id,
                method=data["method"],
                recorded_by=principal.actor,
                actor=data.get("actor", "subject"),
                occurred_at=data.get("occurred_at"),
                evidence=EvidenceInput(**(data.get("evidence") or {})),
                **_changes(data),
            )
            preferences = selectors.preferences_get(brand=principal.brand, contact=result.contact)
            return Response(PreferencesOut(preferences).data)

        return idempotent(request, principal.brand, handle)


class ContactSignupApi(BrandApiView):
    required_scopes = {"POST": {Scope.CONSENT_WRITE}}

    @extend_schema(
        operation_id="contacts_signup",
        summary="A whole sign-up in one request",
        tags=["Contacts"],
        description="Creates or updates the contact (`contact`, as `PUT /contacts/{id}`), records each "
        "consent decision (`consents`, as `POST …/consents`) and changes the subscriptions named "
        "(`subscriptions`, as `PATCH …/preferences`; needs the `preferences:write` scope too), in one "
        "transaction: all of it, or nothing. `method`, `actor`, `occurred_at` and `evidence` apply to "
        "every decision. Suppression, erasure (409) and double opt-in (the row stays `pending` and the "
        "confirmation email goes out) behave as in the separate calls, and the same webhook events "
        "are sent. A refusal names the part: `contact.email`, `consents.1.notice_version`, "
        "`subscriptions.0.topic`. 201 when the contact was created, 200 otherwise.",
        request=SignupIn,
        responses={200: SignupOut, 201: SignupOut, **WRITE_ERRORS},
        parameters=[IDEMPOTENCY_KEY],
    )
    def post(self, request: Request, external_id: str) -> Response:
        principal = self.principal()

        def handle() -> Response:
            data = validated(request, SignupIn)
            subscriptions = _changes({"subscriptions": data.get("subscriptions")})["subscriptions"]
            if subscriptions and not principal.api_key.has_scopes({Scope.PREFERENCES_WRITE}):
                raise PermissionDenied(f"Changing subscriptions needs the scope {Scope.PREFERENCES_WRITE}.")
            contact_fields = dict(data.get("contact") or {})
            if "timezone" in contact_fields:
                contact_fields["timezone_name"] = contact_fields.pop("timezone")
            result = services.contact_signup(
                brand=principal.brand,
                external_id=external_id,
                method=data["method"],
                recorded_by=principal.actor,
                confirm_url_builder=confirm_url,
                contact_fields=contact_fields,
                consents=[
                    ConsentDecision(
                        purpose=row["purpose"],
                        decision=row["decision"],
                        notice_version=row.get("notice_version") or None,
                        implied_basis=row.get("implied_basis"),
                        jurisdiction=row.get("jurisdiction") or None,
                    )
                    for row in data.get("consents") or []
                ],
                subscriptions=subscriptions,
                actor=data.get("actor", "subject"),
                occurred_at=data.get("occurred_at"),
                evidence=EvidenceInput(**(data.get("evidence") or {})),
            )
            preferences = None
            if result.preferences is not None:
                read = selectors.preferences_get(brand=principal.brand, contact=result.contact)
                preferences = PreferencesOut(read).data
            body = {
                "contact": represented(ContactOut, result.contact),
                "events": [consent_event_data(event) for event in result.consent_events],
                "preferences": preferences,
            }
            return Response(body, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)

        return idempotent(request, principal.brand, handle)


ONE_CLICK_POST = "List-Unsubscribe=One-Click"

UnsubscribeHeadersOut = inline_serializer(
    name="UnsubscribeHeadersOut",
    fields={
        "List-Unsubscribe": serializers.CharField(help_text="<https://…/p/{brand}/u/{token}>"),
        "List-Unsubscribe-Post": serializers.CharField(help_text=ONE_CLICK_POST),
    },
)


class UnsubscribeHeadersApi(BrandApiView):
    """The RFC 2369 / RFC 8058 headers a brand's sender puts on a message to one contact."""

    required_scopes = {"GET": {Scope.PREFERENCES_READ}}

    @extend_schema(
        operation_id="unsubscribe_headers",
        summary="One-click unsubscribe headers for a message",
        tags=["Preferences"],
        description="`List-Unsubscribe` (one HTTPS URI with a signed, unguessable token naming the "
        "contact, topic and channel) and `List-Unsubscribe-Post` for one contact. Without `topic` "
        "the link unsubscribes from everything on the channel. Each call signs a new link; links "
        "work for LINK_UNSUBSCRIBE_DAYS (at least 90).",
        parameters=[
            OpenApiParameter("topic", str, description="The topic (list) the message belongs to"),
            OpenApiParameter("channel", str, description="Default email", enum=Channel.values),
        ],
        responses={200: UnsubscribeHeadersOut, **ERRORS},
    )
    def get(self, request: Request, external_id: str) -> Response:
        brand = self.principal().brand
        contact = consent_selectors.contact_get(brand=brand, external_id=external_id)
        channel = request.query_params.get("channel") or Channel.EMAIL.value
        if channel not in Channel.values:
            raise Unprocessable.for_field("channel", f"Unknown channel '{channel}'.")
        topic = None
        topic_slug = request.query_params.get("topic")
        if topic_slug:
            topic = selectors.topics_list(brand=brand).filter(slug=topic_slug).first()
            if topic is None:
                raise Unprocessable.for_field("topic", f"Unknown topic '{topic_slug}'.")
            if topic.transactional:
                raise Unprocessable.for_field(
                    "topic", f"Topic '{topic.slug}' is transactional: it has no unsubscribe link."
                )
            if channel not in topic.channels:
                raise Unprocessable.for_field(
                    "channel", f"Topic '{topic.slug}' is not offered on '{channel}'."
                )
        url = link_url(kind=LinkKind.UNSUBSCRIBE, brand=brand, contact=contact, topic=topic, channel=channel)
        return Response({"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": ONE_CLICK_POST})


ExportOut = inline_serializer(
    name="ContactExportOut",
    fields={
        "format": serializers.CharField(help_text="candor.export.v1"),
        "exported_at": serializers.DateTimeField(),
        "controller": inline_serializer(
            name="ExportController",
            fields={
                "name": serializers.CharField(),
                "contact_email": serializers.CharField(),
                "website": serializers.CharField(),
                "address": serializers.CharField(),
                "privacy_policy_url": serializers.CharField(),
            },
        ),
        "contact": ContactOut(),
        "preferences": PreferencesOut(),
        "consent_history": serializers.ListField(
            child=serializers.DictField(),
            help_text="Every decision, oldest first, with its notice text and evidence",
        ),
    },
)


class ContactExportApi(BrandApiView):
    """An access request (GDPR Art. 15, 20) the brand received through its own channels."""

    required_scopes = {"GET": {Scope.REQUESTS}}

    @extend_schema(
        operation_id="contacts_export",
        tags=["Contacts"],
        summary="Export a contact's data (an access request the brand received)",
        description="The same JSON document as the preference centre's 'Download my data': the "
        "profile, the preferences and every consent decision with its notice text and evidence. "
        "Needs the `requests` scope. Each export is recorded with this API key (its public prefix) "
        "as the requester and the optional `reason`.",
        parameters=[REASON],
        responses={200: ExportOut, **ERRORS},
    )
    def get(self, request: Request, external_id: str) -> Response:
        principal = self.principal()
        brand = principal.brand
        contact = consent_selectors.contact_get(brand=brand, external_id=external_id)
        if request.method == "GET":  # a HEAD hands nothing out, so it is no request to record
            access_request_record(
                brand=brand,
                contact=contact,
                requested_via=Method.API,
                actor=principal.actor,
                reason=request.query_params.get("reason", ""),
            )
        return Response(contact_export(brand=brand, contact=contact))
