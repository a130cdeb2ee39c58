"""Webhook endpoints in the operators' admin: written through the endpoint services, so the
admin checks and normalises a URL exactly as the API does. The signing secret is never shown
here: the brand gets a new one from POST /api/v1/endpoints/{id}/rotate-secret."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from brands.audit import Actor
from config.admin import ServiceAdmin
from sync.delivery.endpoints import endpoint_create, endpoint_delete, endpoint_update
from sync.models import Endpoint

EDITABLE = ["url", "description", "event_types", "include_personal_data", "pseudonymous_contacts"]


@admin.register(Endpoint)
class EndpointAdmin(ServiceAdmin):
    list_display = ["public_id", "brand", "url", "status", "created_at"]
    list_filter = ["brand", "status"]
    fields = ["brand", *EDITABLE, "status", "disabled_reason", "disabled_at", "failing_since"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        shown = ["disabled_reason", "disabled_at", "failing_since"]
        return [*shown, "status"] if obj is None else [*shown, "brand"]

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # a bulk delete would bypass the service
        return actions

    def save_model(self, request: HttpRequest, obj: Endpoint, form: Any, change: bool) -> None:
        if not change:
            created = endpoint_create(
                brand=obj.brand,
                actor=Actor.operator(request.user),
                **{name: form.cleaned_data[name] for name in EDITABLE},
            )
            obj.pk, obj.url = created.pk, created.url
            return
        stored = Endpoint.objects.get(pk=obj.pk)
        changed = {
            name: form.cleaned_data[name] for name in form.changed_data if name in [*EDITABLE, "status"]
        }
        endpoint_update(endpoint=stored, actor=Actor.operator(request.user), **changed)

    def delete_model(self, request: HttpRequest, obj: Endpoint) -> None:
        endpoint_delete(endpoint=obj, actor=Actor.operator(request.user))
