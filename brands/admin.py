from typing import Any

from django.contrib import admin
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest

from brands.audit import Actor
from brands.models import ApiKey, AuditEntry, Brand, Membership, Scope
from brands.services import api_key_revoke, brand_create, brand_update, membership_remove, membership_set
from config.admin import ServiceAdmin


@admin.register(Brand)
class BrandAdmin(ServiceAdmin):
    """Through `brand_create` and `brand_update`. A brand is not deleted here: its ledger, kept as
    evidence, refuses it."""

    list_display = ["slug", "name", "default_language", "jurisdiction", "created_at"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}  # a brand's site is https

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [] if obj is None else ["slug"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Brand, form: Any, change: bool) -> None:
        if not change:
            created, _ = brand_create(
                actor=Actor.operator(request.user),
                slug=obj.slug,
                name=obj.name,
                default_language=obj.default_language,
                jurisdiction=obj.jurisdiction,
            )
            obj.pk = created.pk
        brand_update(
            brand=obj,
            actor=Actor.operator(request.user),
            **{name: form.cleaned_data[name] for name in form.changed_data if name != "slug"},
        )


class ScopeFilter(admin.SimpleListFilter):
    """Keys that hold a scope (every scope of brands.models.Scope, `requests` included)."""

    title = "scope"
    parameter_name = "scope"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(scope.value, scope.value) for scope in Scope]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> QuerySet[ApiKey]:
        if self.value() in Scope.values:
            return queryset.filter(scopes__contains=[self.value()])
        return queryset


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are issued with `manage.py create_api_key` (the raw key is shown once); here they are
    inspected and revoked."""

    list_display = ["prefix", "brand", "name", "scopes", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["brand", "prefix", "key_hash", "scopes", "created_at", "last_used_at", "revoked_at"]
    fields = ["name", *readonly_fields]
    list_filter = ["brand", ScopeFilter]
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        for api_key in queryset:
            api_key_revoke(api_key=api_key, actor=Actor.operator(request.user))
        self.message_user(request, f"Revoked {queryset.count()} key(s).")


@admin.register(Membership)
class MembershipAdmin(ServiceAdmin):
    """Through `membership_set` and `membership_remove`."""

    list_display = ["user", "brand", "role", "created_at"]
    list_filter = ["brand", "role"]

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # a bulk delete would bypass the service
        return actions

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [] if obj is None else ["user", "brand"]

    def save_model(self, request: HttpRequest, obj: Membership, form: Any, change: bool) -> None:
        saved = membership_set(
            user=obj.user, brand=obj.brand, role=obj.role, actor=Actor.operator(request.user)
        )
        obj.pk = saved.pk

    def delete_model(self, request: HttpRequest, obj: Membership) -> None:
        membership_remove(membership=obj, actor=Actor.operator(request.user))


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """The audit log, read-only: entries are written by the services, in the transaction of
    each change, and the database refuses to change or delete them."""

    list_display = ["at", "brand", "action", "target_type", "target_id", "actor_kind", "actor_ref"]
    list_filter = ["brand", "action", "actor_kind", "target_type"]
    search_fields = ["target_id", "actor_ref"]
    ordering = ["-at", "-id"]
    date_hierarchy = "at"

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in AuditEntry._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
