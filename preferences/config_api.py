"""The brand's configuration through the API (the `admin` scope): the theme, purposes and their
notices, topics. Every write goes through the services the admin uses."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import ParseError
from rest_framework.request import Request
from rest_framework.response import Response

from brands.api import BrandApiView
from brands.idempotency import idempotent
from brands.models import Brand, Scope
from brands.selectors import brand_get
from brands.services import brand_update
from config.api import ERRORS, IDEMPOTENCY_KEY, PROBLEM
from config.errors import NotFound, Unprocessable
from consent import api as consent_api
from consent import selectors as consent_selectors
from consent import services as consent_services
from consent.api import validated
from consent.models import Purpose
from preferences import selectors, topics
from preferences.brand_config import brand_config_apply, brand_config_export
from preferences.config_serializers import (
    ApplySummaryOut,
    BrandConfigIn,
    BrandConfigOut,
    NoticeIn,
    NoticeVersionOut,
    NoticeVersionsOut,
    PurposeConfigOut,
    PurposeCreateIn,
    PurposePatchIn,
    ThemeIn,
    ThemeOut,
    TopicCreateIn,
    TopicOut,
    TopicPatchIn,
)

ADMIN = {Scope.ADMIN.value}
SLUG = OpenApiParameter("slug", str, OpenApiParameter.PATH)


def _purpose_config(brand: Brand, slug: str) -> dict[str, Any]:
    config = consent_selectors.purpose_config_get(brand=brand, slug=slug)
    current_ids = {version.pk for version in config.current_versions}
    return dict(PurposeConfigOut(config, context={"current_ids": current_ids}).data)


def _purpose_ref(brand: Brand, field: str, slug: str | None) -> Purpose | None:
    """A purpose a body names by slug: 422 (not 404) when the brand has none by that slug."""
    if slug is None:
        return None
    try:
        return consent_selectors.purpose_get(brand=brand, slug=slug)
    except NotFound:
        raise Unprocessable.for_field(field, f"No purpose '{slug}'.") from None


def _topic_fields(brand: Brand, data: dict[str, Any]) -> dict[str, Any]:
    """The validated body as topic_create's or topic_update's arguments."""
    for field in ("purpose", "sms_purpose"):
        if field in data:
            data[field] = _purpose_ref(brand, field, data[field])
    return data


# --- Purposes ------------------------------------------------------------------------


class PurposeListApi(consent_api.PurposeListApi):
    """GET is consent_api's (the `consent:read` list, unchanged); POST adds a purpose."""

    required_scopes = {**consent_api.PurposeListApi.required_scopes, "POST": ADMIN}

    @extend_schema(
        operation_id="purposes_create",
        summary="Add a purpose",
        tags=["Configuration"],
        description=(
            "A new reason to process data, with its legal basis. It has no notice text yet: publish "
            "one per language with `POST /api/v1/purposes/{slug}/notice` before asking anyone. "
            "Purposes are never deleted: the ledger names them."
        ),
        request=PurposeCreateIn,
        responses={201: PurposeConfigOut, **ERRORS},
        parameters=[IDEMPOTENCY_KEY],
    )
    def post(self, request: Request) -> Response:
        brand = self.principal().brand

        def handle() -> Response:
            data = validated(request, PurposeCreateIn)
            if consent_selectors.purpose_exists(brand=brand, slug=data["slug"]):
                raise Unprocessable.for_field("slug", f"The brand already has a purpose '{data['slug']}'.")
            purpose = consent_services.purpose_create(brand=brand, actor=self.audit_actor(), **data)
            return Response(_purpose_config(brand, purpose.slug), status=status.HTTP_201_CREATED)

        return idempotent(request, brand, handle)


class PurposeApi(BrandApiView):
    required_scopes = {"GET": ADMIN, "PATCH": ADMIN}

    @extend_schema(
        operation_id="purposes_get",
        summary="Get a purpose's configuration",
        tags=["Configuration"],
        description="Every field of the purpose, with the current notice version in each language.",
        responses={200: PurposeConfigOut, **ERRORS},
    )
    def get(self, request: Request, slug: str) -> Response:
        return Response(_purpose_config(self.principal().brand, slug))

    @extend_schema(
        operation_id="purposes_update",
        summary="Change a purpose",
        tags=["Configuration"],
        description=(
            "Change the fields given. The slug never changes, and a purpose is never deleted: the "
            "ledger names it. Decisions already recorded keep what they were recorded with."
        ),
        request=PurposePatchIn,
        responses={200: PurposeConfigOut, **ERRORS},
        parameters=[IDEMPOTENCY_KEY],
    )
    def patch(self, request: Request, slug: str) -> Response:
        brand = self.principal().brand

        def handle() -> Response:
            purpose = consent_selectors.purpose_get(brand=brand, slug=slug)
            data = validated(request, PurposePatchIn)
            consent_services.purpose_update(purpose=purpose, actor=self.audit_actor(), **data)
            return Response(_purpose_config(brand, slug))

        return idempotent(request, brand, handle)


class NoticeApi(BrandApiView):
    required_scopes = {"GET": ADMIN, "POST": ADMIN}

    @extend_schema(
        operation_id="notices_list",
        summary="Every version of a purpose's notice",
        tags=["Configuration"],
        description=(
            "Every version ever published, by language and version. `current` marks the one shown "
            "now in its language; earlier ones stay, because consents recorded under them name them."
        ),
        responses={200: NoticeVersionsOut, **ERRORS},
    )
    def get(self, request: Request, slug: str) -> Response:
        brand = self.principal().brand
        config = consent_selectors.purpose_config_get(brand=brand, slug=slug)
        versions = consent_selectors.notice_versions_list(purpose=config.purpose)
        current_ids = {version.pk for version in config.current_versions}
        body = NoticeVersionsOut(
            {"purpose": slug, "versions": versions}, context={"current_ids": current_ids}
        ).data
        return Response(body)

    @extend_schema(
        operation_id="notices_publish",
        summary="Publish a notice text",
        tags=["Configuration"],
        description=(
            "Editing a notice publishes a new version in that language (201); the earlier versions "
            "stay as they were. Sending the text of the current version again publishes nothing "
            "and answers 200 with it, so a configuration can be applied again safely."
        ),
        request=NoticeIn,
        responses={200: NoticeVersionOut, 201: NoticeVersionOut, **ERRORS},
        parameters=[IDEMPOTENCY_KEY],
    )
    def post(self, request: Request, slug: str) -> Response:
        brand = self.principal().brand

        def handle() -> Response:
            purpose = consent_selectors.purpose_get(brand=brand, slug=slug)
            data = validated(request, NoticeIn)
            version, published = consent_services.notice_text_set(
                purpose=purpose, actor=self.audit_actor(), **data
            )
            body = NoticeVersionOut(version, context={"current_ids": {version.pk}}).data
            return Response(body, status=status.HTTP_201_CREATED if published else status.HTTP_200_OK)

        return idempotent(request, brand, handle)


# --- Topics --------------------------------------------------------------------------


def _topic_out(brand: Brand, slug: str) -> dict[str, Any]:
    return dict(TopicOut(selectors.topic_get(brand=brand, slug=slug)).data)


class TopicListApi(BrandApiView):
    required_scopes = {"GET": ADMIN, "POST": ADMIN}

    @extend_schema(
        operation_id="topics_list",
        summary="List the brand's topics",
        tags=["Configuration"],
        description="Every topic in the order the hosted page shows them, with its channels and cadences.",
        responses={200: TopicOut(many=True), **ERRORS},
    )
    def get(self, request: Request) -> Response:
        topics = selectors.topics_list(brand=self.principal().brand).select_related("purpose", "sms_purpose")
        return Response(TopicOut(topics, many=True).data)

    @extend_schema(
        operation_id="topics_create",
        summary="Add a topic",
        tags=["Configuration"],
        description=(
            "Something the brand talks about, on the channels and at the cadences offered. A "
            "topic that is not transactional names the purpose a subscription needs."
        ),
        request=TopicCreateIn,
        responses={201: TopicOut, **ERRORS},
        parameters=[IDEMPOTENCY_KEY],
    )
    def post(self, request: Request) -> Response:
        brand = self.principal().brand

        def handle() -> Response:
            data = _topic_fields(brand, validated(request, TopicCreateIn))
            if selectors.topic_exists(brand=brand, slug=data["slug"]):
                raise Unprocessable.for_field("slug", f"The brand already has a topic '{data['slug']}'.")
            topic = topics.topic_create(brand=brand, actor=self.audit_actor(), **data)
            return Response(_topic_out(brand, topic.slug), status=status.HTTP_201_CREATED)

        return idempotent(request, brand, handle)


class TopicApi(BrandApiView):
    required_scopes = {"GET": ADMIN, "PATCH": ADMIN, "DELETE": ADMIN}

    @extend_schema(
        operation_id="topics_get",
        summary="Get a topic",
        tags=["Configuration"],
        description="The topic with its channels, cadences, purposes and translations.",
        responses={200: TopicOut, **ERRORS},
    )
    def get(self, request: Request, slug: str) -> Response:
        return Response(_topic_out(self.principal().brand, slug))

    @extend_schema(
        operation_id="topics_update",
        summary="Change a topic",
        tags=["Configuration"],
        description="Change the fields given. The slug never changes; contacts' choices stay as they are.",
        request=TopicPatchIn,
        responses={200: TopicOut, **ERRORS},
        parameters=[IDEMPOTENCY_KEY],
    )
    def patch(self, request: Request, slug: str) -> Response:
        brand = self.principal().brand

        def handle() -> Response:
            topic = selectors.topic_get(brand=brand, slug=slug)
            data = _topic_fields(brand, validated(request, TopicPatchIn))
            topics.topic_update(topic=topic, actor=self.audit_actor(), **data)
            return Response(_topic_out(brand, slug))

        return idempotent(request, brand, handle)

    @extend_schema(
        operation_id="topics_delete",
        summary="Delete a topic nobody has used",
        tags=["Configuration"],
        description=(
            "Only a topic no contact has chosen about, no hold names and no one-click unsubscribe "
            "waits for; otherwise 409 and the topic stays."
        ),
        responses={204: None, 409: PROBLEM, **ERRORS},
        parameters=[IDEMPOTENCY_KEY],
    )
    def delete(self, request: Request, slug: str) -> Response:
        brand = self.principal().brand

        def handle() -> Response:
            topics.topic_delete(topic=selectors.topic_get(brand=brand, slug=slug), actor=self.audit_actor())
            return Response(status=status.HTTP_204_NO_CONTENT)

        return idempotent(request, brand, handle)


# --- Theme ---------------------------------------------------------------------------


class ThemeApi(BrandApiView):
    required_scopes = {"GET": ADMIN, "PATCH": ADMIN}

    @extend_schema(
        operation_id="theme_get",
        summary="Get the brand's theme",
        tags=["Configuration"],
        description=(
            "What the hosted pages and receipts show of the brand: its name, language, colour, "
            "logo, typeface, and the controller's contact details."
        ),
        responses={200: ThemeOut, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        return Response(ThemeOut(brand_get(brand_id=self.principal().brand.pk)).data)

    @extend_schema(
        operation_id="theme_update",
        summary="Change the brand's theme",
        tags=["Configuration"],
        description="Change the fields given. An empty string clears a URL, the email or the address.",
        request=ThemeIn,
        responses={200: ThemeOut, **ERRORS},
        parameters=[IDEMPOTENCY_KEY],
    )
    def patch(self, request: Request) -> Response:
        brand = self.principal().brand

        def handle() -> Response:
            data = validated(request, ThemeIn)
            updated = brand_update(brand=brand, actor=self.audit_actor(), **data)
            return Response(ThemeOut(updated).data)

        return idempotent(request, brand, handle)


# --- The whole configuration ---------------------------------------------------------

PRUNE = OpenApiParameter(
    "prune", bool, description="true: delete the brand's topics the document does not name (only unused ones)"
)
DRY_RUN = OpenApiParameter("dry_run", bool, description="true: check and report, write nothing")


def _flag(request: Request, name: str) -> bool:
    value = request.query_params.get(name, "false")
    if value not in ("true", "false"):
        raise Unprocessable.for_field(name, "Use true or false.")
    return value == "true"


class BrandConfigApi(BrandApiView):
    required_scopes = {"GET": ADMIN, "PUT": ADMIN}

    @extend_schema(
        operation_id="config_get",
        summary="The brand's whole configuration",
        tags=["Configuration"],
        description=(
            "The theme, every purpose with its current notice text per language, and every topic: "
            "the document `PUT /api/v1/config` and `manage.py apply_brand_config` take (the "
            "same as `manage.py export_brand_config`). Putting it back changes nothing."
        ),
        responses={200: BrandConfigOut, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        return Response(BrandConfigOut(brand_config_export(brand=self.principal().brand)).data)

    @extend_schema(
        operation_id="config_apply",
        summary="Apply a whole configuration",
        tags=["Configuration"],
        description=(
            "Make the brand's configuration what the document says, in one transaction: what "
            "already matches is left alone, and a notice text equal to the current version "
            "publishes nothing, so the same document can be put again and again. A field left out "
            "keeps its value. Purposes are never deleted; topics the document does not name are "
            "listed in `not_named`, and deleted with `prune=true` (only those nobody has used). "
            "Errors name their place in the document (`purposes[0].notices.de.text`) and change "
            "nothing."
        ),
        request=BrandConfigIn,
        responses={200: ApplySummaryOut, **ERRORS},
        parameters=[PRUNE, DRY_RUN, IDEMPOTENCY_KEY],
    )
    def put(self, request: Request) -> Response:
        brand = self.principal().brand
        prune, dry_run = _flag(request, "prune"), _flag(request, "dry_run")

        def handle() -> Response:
            if not isinstance(request.data, dict):
                raise ParseError("The request body must be a JSON object.")
            with transaction.atomic():
                summary = brand_config_apply(
                    brand=brand, actor=self.audit_actor(), document=request.data, prune=prune
                )
                transaction.set_rollback(dry_run)
            return Response(ApplySummaryOut({**summary.__dict__, "dry_run": dry_run}).data)

        return idempotent(request, brand, handle)
