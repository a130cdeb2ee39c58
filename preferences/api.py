"""Thin API views: parse, call one service or selector, serialize."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from brands.idempotency import idempotent
from brands.models import Scope
from config.errors import Unprocessable
from consent import selectors as consent_selectors
from consent.api import ERRORS, IDEMPOTENCY_KEY, BrandApiView, validated
from consent.services import EvidenceInput
from preferences import selectors, services
from preferences.models import HoldStartedBy
from preferences.serializers import PreferencesOut, PreferencesPatchIn


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
        description="Change only what the body names: rows by topic and channel (status, cadence; "
        "`notice_version` when subscribing to a purpose not yet granted), `unsubscribed_all` per "
        'channel, holds to start (`until`, `reason`) or end (`{"id", "ended": true}`). '
        "All of it applies, or nothing does. Answers the preferences as they now read.",
        request=PreferencesPatchIn,
        responses={200: PreferencesOut, **ERRORS},
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
