"""Webhook endpoints: /api/v1/endpoints… (the admin scope)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ParseError
from rest_framework.request import Request
from rest_framework.response import Response

from brands.api import BrandApiView
from brands.idempotency import idempotent
from brands.models import Scope
from config.api import (
    ERRORS,
    IDEMPOTENCY_KEY,
    PROBLEM,
    decode_cursor,
    keyset_page,
    parse_limit,
)
from config.errors import Conflict, Unprocessable
from sync.delivery import endpoints, redelivery, selectors
from sync.delivery.serializers import (
    DeliveryListOut,
    DeliveryOut,
    EndpointIn,
    EndpointListOut,
    EndpointOut,
    EndpointPatchIn,
    EndpointWithSecretOut,
    RedeliverIn,
    RedeliverOut,
)
from sync.models import Delivery

ENDPOINT_ADMIN = {Scope.ADMIN.value}
CURSOR = OpenApiParameter("cursor", str, description="next_cursor of the previous page")
LIMIT = OpenApiParameter("limit", int, description="1–500, default 50")


def _validated(request: Request, serializer_class: type[serializers.Serializer]) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        raise ParseError("The request body must be a JSON object.")
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class EndpointListApi(BrandApiView):
    required_scopes = {"GET": ENDPOINT_ADMIN, "POST": ENDPOINT_ADMIN}

    @extend_schema(
        operation_id="endpoints_list",
        summary="List webhook endpoints",
        tags=["Webhooks"],
        description="The brand's webhook endpoints, oldest first. Secrets are never shown here.",
        parameters=[CURSOR, LIMIT],
        responses={200: EndpointListOut, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        cursor = request.query_params.get("cursor")
        limit = parse_limit(request.query_params.get("limit"))
        rows = selectors.endpoints_list(
            brand=self.principal().brand, after_id=decode_cursor(cursor) if cursor else 0, limit=limit
        )
        page, following = keyset_page(rows, limit)
        body = {"endpoints": page, "next_cursor": following}
        return Response(EndpointListOut(body).data)

    @extend_schema(
        operation_id="endpoints_create",
        summary="Register a webhook endpoint",
        tags=["Webhooks"],
        description="Register a webhook receiver. The reply holds its signing `secret`, shown this "
        "once. It receives events written from now on (not earlier ones: page the feed for those), "
        "signed per Standard Webhooks.",
        request=EndpointIn,
        responses={201: EndpointWithSecretOut, **ERRORS},
        parameters=[IDEMPOTENCY_KEY],
    )
    def post(self, request: Request) -> Response:
        brand = self.principal().brand

        def handle() -> Response:
            data = _validated(request, EndpointIn)
            endpoint = endpoints.endpoint_create(brand=brand, actor=self.audit_actor(), **data)
            return Response(EndpointWithSecretOut(endpoint).data, status=status.HTTP_201_CREATED)

        return idempotent(request, brand, handle)


class EndpointApi(BrandApiView):
    required_scopes = {"GET": ENDPOINT_ADMIN, "PATCH": ENDPOINT_ADMIN, "DELETE": ENDPOINT_ADMIN}

    @extend_schema(
        operation_id="endpoints_get",
        summary="Get a webhook endpoint",
        tags=["Webhooks"],
        description=(
            "One endpoint: URL, event filter, status (`active` or `disabled`) and why it was "
            "disabled. The secret is not shown."
        ),
        responses={200: EndpointOut, **ERRORS},
    )
    def get(self, request: Request, endpoint_id: str) -> Response:
        endpoint = selectors.endpoint_get(brand=self.principal().brand, public_id=endpoint_id)
        return Response(EndpointOut(endpoint).data)

    @extend_schema(
        operation_id="endpoints_update",
        summary="Change a webhook endpoint",
        tags=["Webhooks"],
        description=(
            "Change the URL, description, event filter or personal-data setting, or re-enable a "
            'disabled endpoint with `{"status": "active"}` (it then catches up from where it '
            "stopped, within the feed's retention)."
        ),
        request=EndpointPatchIn,
        responses={200: EndpointOut, **ERRORS},
        parameters=[IDEMPOTENCY_KEY],
    )
    def patch(self, request: Request, endpoint_id: str) -> Response:
        brand = self.principal().brand

        def handle() -> Response:
            endpoint = selectors.endpoint_get(brand=brand, public_id=endpoint_id)
            data = _validated(request, EndpointPatchIn)
            endpoint = endpoints.endpoint_update(endpoint=endpoint, actor=self.audit_actor(), **data)
            endpoint = selectors.endpoint_get(brand=brand, public_id=endpoint_id)  # with its flags
            return Response(EndpointOut(endpoint).data)

        return idempotent(request, brand, handle)

    @extend_schema(
        operation_id="endpoints_delete",
        summary="Delete a webhook endpoint",
        tags=["Webhooks"],
        description="Removes the endpoint; no further deliveries are attempted.",
        responses={204: None, **ERRORS},
    )
    def delete(self, request: Request, endpoint_id: str) -> Response:
        endpoint = selectors.endpoint_get(brand=self.principal().brand, public_id=endpoint_id)
        endpoints.endpoint_delete(endpoint=endpoint, actor=self.audit_actor())
        return Response(status=status.HTTP_204_NO_CONTENT)


class EndpointSecretRotateApi(BrandApiView):
    required_scopes = {"POST": ENDPOINT_ADMIN}

    @extend_schema(
        operation_id="endpoints_rotate_secret",
        summary="Rotate an endpoint's signing secret",
        tags=["Webhooks"],
        description="A new signing secret, shown this once. For 24 hours every webhook carries "
        "two signatures, one with each secret, so the receiver can switch when it is ready.",
        request=None,
        responses={200: EndpointWithSecretOut, **ERRORS},
        parameters=[IDEMPOTENCY_KEY],
    )
    def post(self, request: Request, endpoint_id: str) -> Response:
        brand = self.principal().brand

        def handle() -> Response:
            endpoint = selectors.endpoint_get(brand=brand, public_id=endpoint_id)
            endpoints.endpoint_secret_rotate(endpoint=endpoint, actor=self.audit_actor())
            endpoint = selectors.endpoint_get(brand=brand, public_id=endpoint_id)  # with its flags
            return Response(EndpointWithSecretOut(endpoint).data)

        return idempotent(request, brand, handle)


class EndpointDeliveriesApi(BrandApiView):
    required_scopes = {"GET": ENDPOINT_ADMIN}

    @extend_schema(
        operation_id="endpoints_deliveries",
        summary="An endpoint's delivery log",
        tags=["Webhooks"],
        description="The endpoint's delivery log, newest first, each delivery with every attempt.",
        parameters=[
            CURSOR,
            LIMIT,
            OpenApiParameter("status", str, enum=["pending", "succeeded", "failed"]),
            OpenApiParameter(
                "overdue",
                bool,
                description="true: only the opt-outs not acknowledged within 15 business days "
                "(the endpoint's opt_outs_overdue)",
            ),
        ],
        responses={200: DeliveryListOut, **ERRORS},
    )
    def get(self, request: Request, endpoint_id: str) -> Response:
        endpoint = selectors.endpoint_get(brand=self.principal().brand, public_id=endpoint_id)
        cursor = request.query_params.get("cursor")
        limit = parse_limit(request.query_params.get("limit"))
        wanted = request.query_params.get("status") or None
        if wanted not in (None, *Delivery.Status.values):
            raise Unprocessable.for_field("status", f"Use one of {', '.join(Delivery.Status.values)}.")
        overdue = request.query_params.get("overdue", "false")
        if overdue not in ("true", "false"):
            raise Unprocessable.for_field("overdue", "Use true or false.")
        rows = selectors.deliveries_list(
            endpoint=endpoint,
            before_id=decode_cursor(cursor) if cursor else None,
            limit=limit,
            status=wanted,
            overdue=overdue == "true",
        )
        page, following = keyset_page(rows, limit)
        body = {"deliveries": page, "next_cursor": following}
        return Response(DeliveryListOut(body).data)


class EndpointRedeliverApi(BrandApiView):
    required_scopes = {"POST": ENDPOINT_ADMIN}

    @extend_schema(
        operation_id="endpoints_redeliver",
        summary="Send deliveries again",
        tags=["Webhooks"],
        description="Send again, with the same webhook-id and body: one delivery "
        '(`{"delivery": "dlv_…"}`) or every delivery made since a time (`{"since": "…Z"}`), '
        "whatever its status, each with a fresh retry schedule. The audit log records it "
        "(`endpoint.redelivered`).",
        request=RedeliverIn,
        responses={202: RedeliverOut, **ERRORS, 409: PROBLEM},
        parameters=[IDEMPOTENCY_KEY],
    )
    def post(self, request: Request, endpoint_id: str) -> Response:
        brand = self.principal().brand

        def handle() -> Response:
            endpoint = selectors.endpoint_get(brand=brand, public_id=endpoint_id)
            data = _validated(request, RedeliverIn)
            if "delivery" in data:
                delivery = selectors.delivery_get(endpoint=endpoint, public_id=data["delivery"])
                count = redelivery.deliveries_redeliver(
                    endpoint=endpoint, delivery=delivery, actor=self.audit_actor()
                )
                if not count:
                    raise Conflict("This delivery is being attempted right now; try again shortly.")
            else:
                count = redelivery.deliveries_redeliver(
                    endpoint=endpoint, since=data["since"], actor=self.audit_actor()
                )
            return Response({"redelivered": count}, status=status.HTTP_202_ACCEPTED)

        return idempotent(request, brand, handle)


class EndpointTestApi(BrandApiView):
    required_scopes = {"POST": ENDPOINT_ADMIN}

    @extend_schema(
        operation_id="endpoints_test",
        summary="Send a test webhook",
        tags=["Webhooks"],
        description="Queue a `webhook.test` message for this endpoint only, whatever its event filter; "
        "it is not a feed event. Follow it in the delivery log. The audit log records it "
        "(`endpoint.test_sent`).",
        request=None,
        responses={202: DeliveryOut, **ERRORS, 409: PROBLEM},
        parameters=[IDEMPOTENCY_KEY],
    )
    def post(self, request: Request, endpoint_id: str) -> Response:
        brand = self.principal().brand

        def handle() -> Response:
            endpoint = selectors.endpoint_get(brand=brand, public_id=endpoint_id)
            delivery = endpoints.endpoint_test_send(endpoint=endpoint, actor=self.audit_actor())
            return Response(DeliveryOut(delivery).data, status=status.HTTP_202_ACCEPTED)

        return idempotent(request, brand, handle)
