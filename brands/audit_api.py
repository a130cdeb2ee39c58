"""GET /api/v1/audit: the brand's audit log (the `admin` scope), and the one document shape an
entry has everywhere it leaves Candor (the API, `manage.py export_audit`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from brands.api import BrandApiView
from brands.audit import ActorKind, AuditAction
from brands.models import AuditEntry, Scope
from brands.selectors import AuditPosition, audit_entries_list
from config.api import ERRORS, decode_cursor_parts, encode_cursor, parse_limit
from config.errors import Unprocessable
from config.serializers import AwareDateTimeField

ACTIONS_DOC = "\n".join(f"- `{action.value}`: {action.doc}" for action in AuditAction)


def iso_z(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def audit_entry_document(entry: AuditEntry) -> dict[str, Any]:
    """An entry as the API answers it and `export_audit` writes it."""
    return {
        "id": entry.id,
        "at": iso_z(entry.at),
        "actor": {"kind": entry.actor_kind, "ref": entry.actor_ref, "name": entry.actor_name},
        "action": entry.action,
        "target": {"type": entry.target_type, "id": entry.target_id},
        "before": entry.before,
        "after": entry.after,
        "reason": entry.reason,
        "transaction": entry.txid,
    }


# --- The reply's shape, for the OpenAPI document -------------------------------------------


class AuditActorOut(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ActorKind.choices)
    ref = serializers.CharField(
        help_text="A key's public prefix, a username, `os:<user>` for a command, or the part of Candor"
    )
    name = serializers.CharField(help_text="The key's name, `admin`, or the command")


class AuditTargetOut(serializers.Serializer):
    type = serializers.CharField(help_text="brand, purpose, topic, api_key, endpoint, user…")
    id = serializers.CharField(help_text="Its public identifier: slug, public id, key prefix, user id")


class AuditEntryOut(serializers.Serializer):
    id = serializers.IntegerField()
    at = serializers.CharField(help_text="When (UTC, Z)")
    actor = AuditActorOut()
    action = serializers.ChoiceField(choices=[action.value for action in AuditAction])
    target = AuditTargetOut()
    before = serializers.JSONField(allow_null=True, help_text="The fields that changed, as they were")
    after = serializers.JSONField(allow_null=True, help_text="The fields that changed, as they are now")
    reason = serializers.CharField(allow_blank=True)
    transaction = serializers.IntegerField(help_text="Entries written by one change share it")


class AuditListOut(serializers.Serializer):
    entries = AuditEntryOut(many=True)
    next_cursor = serializers.CharField(allow_null=True, help_text="Pass as `cursor` for older entries")


class AuditQueryIn(serializers.Serializer):
    """The query's filters (the cursor and limit are read as everywhere else)."""

    action = serializers.CharField(required=False)
    target_type = serializers.CharField(required=False, max_length=40)
    target_id = serializers.CharField(required=False, max_length=255)
    actor_kind = serializers.ChoiceField(required=False, choices=ActorKind.values)
    actor = serializers.CharField(required=False, max_length=150)
    since = AwareDateTimeField(required=False)
    until = AwareDateTimeField(required=False)

    def validate_action(self, value: str) -> list[str]:
        actions = [item.strip() for item in value.split(",") if item.strip()]
        unknown = sorted(set(actions) - {action.value for action in AuditAction})
        if unknown or not actions:
            raise serializers.ValidationError(
                f"Unknown action(s): {', '.join(unknown) or '(none given)'}. "
                f"Known: {', '.join(action.value for action in AuditAction)}."
            )
        return actions

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "target_id" in attrs and "target_type" not in attrs:
            raise serializers.ValidationError({"target_id": ["Give target_type with target_id."]})
        if "since" in attrs and "until" in attrs and attrs["since"] >= attrs["until"]:
            raise serializers.ValidationError({"until": ["until must be later than since."]})
        for name, value in attrs.items():
            if isinstance(value, str) and "\x00" in value:
                raise serializers.ValidationError({name: [f"{name} must not contain NUL characters."]})
        return attrs


def _text(name: str, description: str) -> OpenApiParameter:
    return OpenApiParameter(name, str, description=description)


class AuditListApi(BrandApiView):
    required_scopes = {"GET": {Scope.ADMIN.value}}

    @extend_schema(
        operation_id="audit_list",
        summary="The brand's audit log",
        tags=["Configuration"],
        description=(
            "Every configuration change and staff action, newest first: who (`actor`), what "
            "(`action`), on what (`target`), the changed fields `before` and `after`, and when. "
            "Append-only: nothing here is ever changed or removed. Secrets, key hashes and "
            "tokens never appear. Filters combine; a bad one is a 422 naming it.\n\n"
            "Actions:\n\n" + ACTIONS_DOC
        ),
        parameters=[
            _text("action", "One action or several, comma-separated (e.g. `topic.updated,topic.deleted`)"),
            _text("target_type", "Only entries about this kind of object (`topic`, `endpoint`…)"),
            _text("target_id", "With target_type: one object's history (a slug, public id or key prefix)"),
            OpenApiParameter("actor_kind", str, enum=ActorKind.values, description="Only this kind of actor"),
            _text("actor", "Only this actor's entries: its `ref` (a key prefix such as `cnd_1a2b3c4d`…)"),
            OpenApiParameter("since", datetime, description="From this time on (inclusive; RFC 3339)"),
            OpenApiParameter("until", datetime, description="Before this time (exclusive; RFC 3339)"),
            _text("cursor", "next_cursor of the previous page"),
            OpenApiParameter("limit", int, description="1–500, default 100"),
        ],
        responses={200: AuditListOut, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        query = AuditQueryIn(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        filters = query.validated_data
        limit = parse_limit(request.query_params.get("limit"), default=100)
        cursor = request.query_params.get("cursor")
        after = None
        if cursor:
            at_us, entry_id = decode_cursor_parts(cursor, count=2)
            after = AuditPosition(at_us=at_us, id=entry_id)
        try:
            page = audit_entries_list(
                brand=self.principal().brand,
                actions=filters.get("action", ()),
                target_type=filters.get("target_type"),
                target_id=filters.get("target_id"),
                actor_kind=filters.get("actor_kind"),
                actor_ref=filters.get("actor"),
                since=filters.get("since"),
                until=filters.get("until"),
                after=after,
                limit=limit,
            )
        except OverflowError:  # a cursor beyond any date a database holds
            raise Unprocessable.for_field("cursor", "This cursor is not one this API issued.") from None
        body = {
            "entries": [audit_entry_document(entry) for entry in page.entries],
            "next_cursor": encode_cursor(page.next.at_us, page.next.id) if page.next else None,
        }
        return Response(body)
