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
from sync.delivery.connectors import backfill, reconcile, selectors, services
from sync.delivery.connectors.serializers import (
    BackfillOut,
    ConnectorIn,
    ConnectorListOut,
    ConnectorOut,
    ConnectorPatchIn,
    ConnectorTestOut,
    ReconcileOut,
)
from sync.delivery.serializers import DeliveryListOut
from sync.models import BackfillRun, Delivery

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


RUNNING = "409 `connector-run-running` (urn:candor:problem:connector-run-running) while one is running."


def _backfill_out(run: BackfillRun) -> dict[str, Any]:
    data = dict(BackfillOut(run).data)
    eta = backfill.backfill_eta(run)
    data["eta"] = BackfillOut().fields["eta"].to_representation(eta) if eta else None
    return data


class ConnectorBackfillApi(BrandApiView):
    required_scopes = {"GET": ADMIN, "POST": ADMIN}

    @extend_schema(
        operation_id="connectors_backfill_start",
        summary="Push every existing contact to the vendor",
        tags=TAGS,
        description="Starts a backfill: every contact the brand has now is pushed to the vendor "
        "with its current state, in the vendor's batch size and within its rate limits, resumed "
        "after a crash where it stopped. Contacts created later reach the vendor as every change "
        "does. Live deliveries go on meanwhile (both push current state: idempotent). " + RUNNING,
        request=None,
        responses={202: BackfillOut, **ERRORS, 409: PROBLEM},
        parameters=[IDEMPOTENCY_KEY],
    )
    def post(self, request: Request, connector_id: str) -> Response:
        brand = self.principal().brand

        def handle() -> Response:
            connector = selectors.connector_get(brand=brand, public_id=connector_id)
            run = backfill.backfill_start(connector=connector, actor=self.audit_actor())
            return Response(_backfill_out(run), status=status.HTTP_202_ACCEPTED)

        return idempotent(request, brand, handle)

    @extend_schema(
        operation_id="connectors_backfill_get",
        summary="The latest backfill's progress",
        tags=TAGS,
        description="The latest backfill: status, counts and an ETA while it runs.",
        responses={200: BackfillOut, **ERRORS},
    )
    def get(self, request: Request, connector_id: str) -> Response:
        connector = selectors.connector_get(brand=self.principal().brand, public_id=connector_id)
        return Response(_backfill_out(selectors.backfill_latest(connector=connector)))


class ConnectorReconcileApi(BrandApiView):
    required_scopes = {"GET": ADMIN, "POST": ADMIN}

    @extend_schema(
        operation_id="connectors_reconcile_start",
        summary="Compare the vendor with Candor and repair the drift",
        tags=TAGS,
        description="Starts a reconcile run (one also runs on a schedule, CONNECTOR_RECONCILE_EVERY). "
        "Per contact and vendor slot it compares what the vendor holds with what Candor expects "
        "and repairs by one rule, opt-out winning: a vendor unsubscribe Candor does not have is "
        "recorded in the ledger (method connector); a vendor subscribe without consent behind it "
        "is turned off in the vendor; a contact the vendor does not know is pushed. " + RUNNING,
        request=None,
        responses={202: ReconcileOut, **ERRORS, 409: PROBLEM},
        parameters=[IDEMPOTENCY_KEY],
    )
    def post(self, request: Request, connector_id: str) -> Response:
        brand = self.principal().brand

        def handle() -> Response:
            connector = selectors.connector_get(brand=brand, public_id=connector_id)
            run = reconcile.reconcile_start(connector=connector, trigger="api", actor=self.audit_actor())
            return Response(ReconcileOut(run).data, status=status.HTTP_202_ACCEPTED)

        return idempotent(request, brand, handle)

    @extend_schema(
        operation_id="connectors_reconcile_get",
        summary="The latest reconcile report",
        tags=TAGS,
        description="The latest run: drift and repairs by kind, and a few contacts' external ids per kind.",
        responses={200: ReconcileOut, **ERRORS},
    )
    def get(self, request: Request, connector_id: str) -> Response:
        connector = selectors.connector_get(brand=self.principal().brand, public_id=connector_id)
        return Response(ReconcileOut(selectors.reconcile_latest(connector=connector)).data)
