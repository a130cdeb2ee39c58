"""CRM and marketing connectors: /api/v1/connectors… (the admin scope)."""

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
from config.api import ERRORS, IDEMPOTENCY_KEY, PROBLEM, decode_cursor, keyset_page, parse_limit
from config.errors import Unprocessable
from sync.delivery import selectors as delivery_selectors
from sync.delivery.connectors import selectors, services
from sync.delivery.connectors.serializers import (
    ConnectorIn,
    ConnectorListOut,
    ConnectorOut,
    ConnectorPatchIn,
    ConnectorTestOut,
)
from sync.delivery.serializers import DeliveryListOut
from sync.models import Delivery

ADMIN = {Scope.ADMIN.value}
CURSOR = OpenApiParameter("cursor", str, description="next_cursor of the previous page")
LIMIT = OpenApiParameter("limit", int, description="1–500, default 50")
TAGS = ["Connectors"]


def _validated(request: Request, serializer_class: type[serializers.Serializer]) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        raise ParseError("The request body must be a JSON object.")
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class ConnectorListApi(BrandApiView):
    required_scopes = {"GET": ADMIN, "POST": ADMIN}

    @extend_schema(
        operation_id="connectors_list",
        summary="List connectors",
        tags=TAGS,
        description="The brand's CRM and marketing connectors, oldest first. Credentials are never shown.",
        parameters=[CURSOR, LIMIT],
        responses={200: ConnectorListOut, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        cursor = request.query_params.get("cursor")
        limit = parse_limit(request.query_params.get("limit"))
        rows = selectors.connectors_list(
            brand=self.principal().brand, after_id=decode_cursor(cursor) if cursor else 0, limit=limit
        )
        page, following = keyset_page(rows, limit)
        return Response(ConnectorListOut({"connectors": page, "next_cursor": following}).data)

    @extend_schema(
        operation_id="connectors_create",
        summary="Connect a vendor account",
        tags=TAGS,
        description="Connect a vendor account (Klaviyo or Mailchimp for now). The credentials are checked "
        "against the vendor and the mapping against what the account holds (an unknown list is a "
        "422 naming it); they are stored encrypted and never shown again. The connector receives "
        "the consent and preference changes made from now on, as the vendor's own consent calls.",
        request=ConnectorIn,
        responses={201: ConnectorOut, **ERRORS, 409: PROBLEM},
        parameters=[IDEMPOTENCY_KEY],
    )
    def post(self, request: Request) -> Response:
        brand = self.principal().brand

        def handle() -> Response:
            data = _validated(request, ConnectorIn)
            connector = services.connector_create(brand=brand, actor=self.audit_actor(), **data)
            connector = selectors.connector_get(brand=brand, public_id=connector.public_id)
            return Response(ConnectorOut(connector).data, status=status.HTTP_201_CREATED)

        return idempotent(request, brand, handle)


class ConnectorApi(BrandApiView):
    required_scopes = {"GET": ADMIN, "PATCH": ADMIN, "DELETE": ADMIN}

    @extend_schema(
        operation_id="connectors_get",
        summary="Get a connector",
        tags=TAGS,
        description="One connector: vendor, name, mapping, host and status. Never its credentials.",
        responses={200: ConnectorOut, **ERRORS},
    )
    def get(self, request: Request, connector_id: str) -> Response:
        connector = selectors.connector_get(brand=self.principal().brand, public_id=connector_id)
        return Response(ConnectorOut(connector).data)

    @extend_schema(
        operation_id="connectors_update",
        summary="Change a connector",
        tags=TAGS,
        description="Change the name, mapping, host or credentials (checked against the vendor "
        'again), or disable and re-enable it with `{"status": …}`.',
        request=ConnectorPatchIn,
        responses={200: ConnectorOut, **ERRORS, 409: PROBLEM},
        parameters=[IDEMPOTENCY_KEY],
    )
    def patch(self, request: Request, connector_id: str) -> Response:
        brand = self.principal().brand

        def handle() -> Response:
            connector = selectors.connector_get(brand=brand, public_id=connector_id)
            data = _validated(request, ConnectorPatchIn)
            services.connector_update(connector=connector, actor=self.audit_actor(), **data)
            return Response(ConnectorOut(selectors.connector_get(brand=brand, public_id=connector_id)).data)

        return idempotent(request, brand, handle)

    @extend_schema(
        operation_id="connectors_delete",
        summary="Delete a connector",
        tags=TAGS,
        description="Removes the connector with its delivery log; nothing more is pushed to the vendor.",
        responses={204: None, **ERRORS},
    )
    def delete(self, request: Request, connector_id: str) -> Response:
        connector = selectors.connector_get(brand=self.principal().brand, public_id=connector_id)
        services.connector_delete(connector=connector, actor=self.audit_actor())
        return Response(status=status.HTTP_204_NO_CONTENT)


class ConnectorTestApi(BrandApiView):
    required_scopes = {"POST": ADMIN}

    @extend_schema(
        operation_id="connectors_test",
        summary="Check a connector's credentials",
        tags=TAGS,
        description="Asks the vendor whether the stored credentials work and lists what the "
        "account holds (Klaviyo: its lists; Mailchimp: its audiences, and the mapped ones' interests and "
        "permissions as <list>:interest:<id> and <list>:permission:<id>). A refusal is reported as "
        "`ok: false`. Changes nothing.",
        request=None,
        responses={200: ConnectorTestOut, **ERRORS, 409: PROBLEM},
        parameters=[IDEMPOTENCY_KEY],
    )
    def post(self, request: Request, connector_id: str) -> Response:
        brand = self.principal().brand

        def handle() -> Response:
            connector = selectors.connector_get(brand=brand, public_id=connector_id)
            view = services.connector_test(connector=connector)
            return Response(
                ConnectorTestOut({"ok": view.ok, "detail": view.detail, "lists": view.lists}).data
            )

        return idempotent(request, brand, handle)


class ConnectorDeliveriesApi(BrandApiView):
    required_scopes = {"GET": ADMIN}

    @extend_schema(
        operation_id="connectors_deliveries",
        summary="A connector's delivery log",
        tags=TAGS,
        description="The connector's delivery log, newest first, each delivery with every attempt "
        "(the vendor's answer, without credentials).",
        parameters=[CURSOR, LIMIT, OpenApiParameter("status", str, enum=["pending", "succeeded", "failed"])],
        responses={200: DeliveryListOut, **ERRORS},
    )
    def get(self, request: Request, connector_id: str) -> Response:
        connector = selectors.connector_get(brand=self.principal().brand, public_id=connector_id)
        cursor = request.query_params.get("cursor")
        limit = parse_limit(request.query_params.get("limit"))
        wanted = request.query_params.get("status") or None
        if wanted not in (None, *Delivery.Status.values):
            raise Unprocessable.for_field("status", f"Use one of {', '.join(Delivery.Status.values)}.")
        rows = delivery_selectors.deliveries_list(
            endpoint=connector.endpoint,
            before_id=decode_cursor(cursor) if cursor else None,
            limit=limit,
            status=wanted,
        )
        page, following = keyset_page(rows, limit)
        return Response(DeliveryListOut({"deliveries": page, "next_cursor": following}).data)
