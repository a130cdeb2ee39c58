"""Thin API views: parse, call one service or selector, serialize."""

from __future__ import annotations

from operator import attrgetter
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import ParseError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer

from brands.api import BrandApiView
from brands.idempotency import idempotent
from brands.models import Scope
from config.api import (
    ERRORS,
    IDEMPOTENCY_KEY,
    PROBLEM,
    decode_cursor,
    encode_cursor,
    keyset_page,
    parse_limit,
)
from config.errors import Unprocessable
from config.serializers import represented, reused
from consent import erasure, receipts, selectors, services
from consent.checkpoints import checkpoint_create, checkpoint_document
from consent.models import Method
from consent.serializers import (
    CheckpointListOut,
    CheckpointOut,
    ConsentEventOut,
    ConsentHistoryOut,
    ConsentIn,
    ContactIn,
    ContactOut,
    CurrentConsentsOut,
    PurposeOut,
    ReceiptOut,
    RightsRequestIn,
    consent_event_data,
    current_consents_data,
)

# A write the contact's state can refuse: erased, or suppressed (consent.services.Suppressed).
WRITE_ERRORS = {**ERRORS, 409: PROBLEM}
REASON = OpenApiParameter(
    "reason",
    str,
    description="Why (the request's reference or channel); instead of the body's `reason`",
)


def validated(request: Request, serializer_class: type[Serializer]) -> dict[str, Any]:
    """The request body validated by `serializer_class`; a ValidationError (400, naming each
    field) otherwise, the same as `is_valid(raise_exception=True)`."""
    if not isinstance(request.data, dict):
        raise ParseError("The request body must be a JSON object.")
    return dict(reused(serializer_class).run_validation(request.data))


class PurposeListApi(BrandApiView):
    required_scopes = {"GET": {Scope.CONSENT_READ}}

    @extend_schema(
        operation_id="purposes_list",
        summary="List the brand's purposes",
        tags=["Purposes"],
        description=(
            "Every purpose the brand asks consent for, with its legal basis and the current notice "
            "version in each language. A grant must name the `notice_version` id the person was "
            "shown."
        ),
        responses={200: PurposeOut(many=True), **ERRORS},
    )
    def get(self, request: Request) -> Response:
        purposes = selectors.purposes_list(brand=self.principal().brand)
        return Response(PurposeOut(purposes, many=True).data)


class ContactApi(BrandApiView):
    required_scopes = {
        "GET": {Scope.CONSENT_READ},
        "PUT": {Scope.CONSENT_WRITE},
        "DELETE": {Scope.REQUESTS},
    }

    @extend_schema(
        operation_id="contacts_get",
        summary="Get a contact",
        tags=["Contacts"],
        description=(
            "The contact known by your own id: normalised email and phone, locale, time zone, "
            "jurisdiction, and whether the address is suppressed (erased earlier)."
        ),
        responses={200: ContactOut, **ERRORS},
    )
    def get(self, request: Request, external_id: str) -> Response:
        contact = selectors.contact_get(brand=self.principal().brand, external_id=external_id)
        return Response(represented(ContactOut, contact))

    @extend_schema(
        operation_id="contacts_put",
        summary="Create or update a contact",
        tags=["Contacts"],
        description="Create the contact, or change the fields given (omitted fields keep their value; "
        "null clears email or phone). 201 when created, 200 when updated.",
        request=ContactIn,
        responses={200: ContactOut, 201: ContactOut, **WRITE_ERRORS},
        parameters=[IDEMPOTENCY_KEY],
    )
    def put(self, request: Request, external_id: str) -> Response:
        brand = self.principal().brand

        def handle() -> Response:
            data = validated(request, ContactIn)
            if "timezone" in data:
                data["timezone_name"] = data.pop("timezone")
            contact, created = services.contact_upsert(brand=brand, external_id=external_id, **data)
            return Response(represented(ContactOut, contact), status=201 if created else 200)

        return idempotent(request, brand, handle)

    @extend_schema(
        operation_id="contacts_erase",
        tags=["Contacts"],
        summary="Erase a contact (an erasure request the brand received)",
        description="The same erasure as the preference centre's: the ledger records a withdrawal of "
        "every grant, the address goes on the suppression list as a keyed pseudonym, every other "
        "personal field and row goes, and `contact.erased` is sent to the feed and every endpoint. "
        "Needs the `requests` scope and a `reason` (in the body or the query). The request is "
        "recorded with this API key (its public prefix) as the requester. 204 when done; the "
        "external id then answers 404.",
        request=RightsRequestIn,
        parameters=[REASON, IDEMPOTENCY_KEY],
        responses={204: None, **ERRORS},
    )
    def delete(self, request: Request, external_id: str) -> Response:
        principal = self.principal()

        def handle() -> Response:
            data = validated(request, RightsRequestIn) if request.data else {}
            reason = data["reason"] if "reason" in data else request.query_params.get("reason")
            reason = services.rights_request_reason_checked(reason, required=True)
            contact = selectors.contact_get(brand=principal.brand, external_id=external_id)
            erasure.contact_erase(
                brand=principal.brand,
                contact=contact,
                requested_via=Method.API,
                recorded_by=principal.actor,
                actor=principal.actor,
                reason=reason,
            )
            return Response(status=status.HTTP_204_NO_CONTENT)

        return idempotent(request, principal.brand, handle)


class ContactConsentsApi(BrandApiView):
    required_scopes = {"GET": {Scope.CONSENT_READ}, "POST": {Scope.CONSENT_WRITE}}

    @extend_schema(
        operation_id="consents_current",
        summary="Current consent per purpose",
        tags=["Consent"],
        description=(
            "One row per purpose the contact has decided on: `granted`, `withdrawn`, `pending` "
            "(awaiting double opt-in) or `expired`. Only `granted` is valid for processing."
        ),
        responses={200: CurrentConsentsOut, **ERRORS},
    )
    def get(self, request: Request, external_id: str) -> Response:
        consents = selectors.consents_current(brand=self.principal().brand, external_id=external_id)
        return Response(current_consents_data(external_id, consents))

    @extend_schema(
        operation_id="consents_record",
        summary="Record a consent decision",
        tags=["Consent"],
        description=(
            "Appends one decision to the contact's tamper-evident ledger and answers the ledger "
            "event (201). `granted` needs the `notice_version` the person was shown; `withdrawn` "
            "does not. An older decision (by `occurred_at`) never overrides a newer one. Send an "
            "`Idempotency-Key` to retry safely."
        ),
        request=ConsentIn,
        responses={201: ConsentEventOut, **WRITE_ERRORS},
        parameters=[IDEMPOTENCY_KEY],
    )
    def post(self, request: Request, external_id: str) -> Response:
        principal = self.principal()

        def handle() -> Response:
            data = validated(request, ConsentIn)
            evidence = data.get("evidence") or {}
            event = services.consent_record(
                brand=principal.brand,
                external_id=external_id,
                purpose_slug=data["purpose"],
                decision=data["decision"],
                notice_version_id=data.get("notice_version") or None,
                method=data["method"],
                actor=data.get("actor", "subject"),
                recorded_by=principal.actor,
                occurred_at=data.get("occurred_at"),
                evidence=services.EvidenceInput(**evidence),
                implied_basis=data.get("implied_basis"),
                jurisdiction=data.get("jurisdiction") or None,
            )
            return Response(consent_event_data(event), status=status.HTTP_201_CREATED)

        return idempotent(request, principal.brand, handle)


class ConsentHistoryApi(BrandApiView):
    required_scopes = {"GET": {Scope.CONSENT_READ}}

    @extend_schema(
        operation_id="consents_history",
        summary="A contact's consent history",
        tags=["Consent"],
        description=(
            "The contact's ledger events, oldest first, each with its hash and the previous event's "
            "hash. Page with `cursor` (the reply's `next_cursor`)."
        ),
        parameters=[
            OpenApiParameter("cursor", str, description="next_cursor of the previous page"),
            OpenApiParameter("limit", int, description="1–500, default 50"),
        ],
        responses={200: ConsentHistoryOut, **ERRORS},
    )
    def get(self, request: Request, external_id: str) -> Response:
        cursor = request.query_params.get("cursor")
        after = decode_cursor(cursor) if cursor else 0
        limit = parse_limit(request.query_params.get("limit"))
        contact = selectors.contact_get(brand=self.principal().brand, external_id=external_id)
        events = list(selectors.consent_history(contact=contact, after_sequence=after, limit=limit + 1))
        page, more = events[:limit], len(events) > limit
        next_cursor = encode_cursor(page[-1].sequence) if more else None
        body = {"contact": contact.external_id, "events": page, "next_cursor": next_cursor}
        return Response(ConsentHistoryOut(body).data)


class ConsentReceiptApi(BrandApiView):
    required_scopes = {"GET": {Scope.CONSENT_READ}}

    @extend_schema(
        operation_id="consents_receipt",
        summary="Get a consent receipt",
        tags=["Consent"],
        description=(
            "The receipt for one ledger event: Kantara Consent Receipt v1.1 signed as a compact JWS "
            "(ES256; keys at `/.well-known/candor/{brand}/jwks.json`), or with `format=dpv` a DPV "
            "JSON-LD record."
        ),
        parameters=[
            OpenApiParameter(
                "format",
                str,
                enum=["kantara", "dpv"],
                description="kantara (signed, default) or dpv (JSON-LD)",
            )
        ],
        responses={200: ReceiptOut, **ERRORS},
    )
    def get(self, request: Request, event_id: str) -> Response:
        event = selectors.consent_event_get(brand=self.principal().brand, event_id=event_id)
        fmt = request.query_params.get("format", "kantara")
        if fmt == "dpv":
            return Response(receipts.dpv_record(event), content_type="application/ld+json")
        if fmt != "kantara":
            raise Unprocessable.for_field("format", "format must be 'kantara' or 'dpv'.")
        return Response(receipts.signed_receipt(event))


class CheckpointListApi(BrandApiView):
    required_scopes = {"GET": {Scope.CONSENT_READ}, "POST": {Scope.ADMIN}}

    @extend_schema(
        operation_id="ledger_checkpoints_list",
        tags=["Ledger"],
        summary="Signed checkpoints of the ledger, newest first",
        parameters=[
            OpenApiParameter("cursor", str, description="next_cursor of the previous page"),
            OpenApiParameter("limit", int, description="1–500, default 50"),
        ],
        responses={200: CheckpointListOut, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        brand = self.principal().brand
        cursor = request.query_params.get("cursor")
        before = decode_cursor(cursor) if cursor else None
        limit = parse_limit(request.query_params.get("limit"))
        rows = selectors.checkpoints_list(brand=brand, before_number=before, limit=limit + 1)
        page, following = keyset_page(rows, limit, key=attrgetter("number"))
        body = {
            "checkpoints": [checkpoint_document(row, brand_slug=brand.slug) for row in page],
            "next_cursor": following,
        }
        return Response(CheckpointListOut(body).data)

    @extend_schema(
        operation_id="ledger_checkpoints_create",
        tags=["Ledger"],
        summary="Sign a checkpoint of the ledger now",
        description="Signs the Merkle root over every chain head of the brand as it is now, stores "
        "it and sends it as a `ledger.checkpoint` event. Needs the `admin` scope.",
        request=None,
        responses={201: CheckpointOut, **ERRORS},
        parameters=[IDEMPOTENCY_KEY],
    )
    def post(self, request: Request) -> Response:
        brand = self.principal().brand

        def handle() -> Response:
            checkpoint = checkpoint_create(brand=brand)
            assert checkpoint is not None  # only_if_changed is off: always signed
            return Response(checkpoint_document(checkpoint, brand_slug=brand.slug), status=201)

        return idempotent(request, brand, handle)


class CheckpointLatestApi(BrandApiView):
    required_scopes = {"GET": {Scope.CONSENT_READ}}

    @extend_schema(
        operation_id="ledger_checkpoints_latest",
        tags=["Ledger"],
        summary="The latest signed checkpoint of the ledger",
        responses={200: CheckpointOut, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        brand = self.principal().brand
        checkpoint = selectors.checkpoint_latest(brand=brand)
        return Response(checkpoint_document(checkpoint, brand_slug=brand.slug))
