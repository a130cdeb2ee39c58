from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from brands.models import ApiKey, Brand, Membership
from brands.services import api_key_revoke


@admin.register(Brand)
class BrandAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "default_language", "jurisdiction", "created_at"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are issued with `manage.py create_api_key` (the raw key is shown once); here they are
    inspected and revoked."""

    list_display = ["prefix", "brand", "name", "scopes", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["brand", "prefix", "key_hash", "scopes", "created_at", "last_used_at", "revoked_at"]
    fields = ["name", *readonly_fields]
    list_filter = ["brand"]
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        for api_key in queryset:
            api_key_revoke(api_key=api_key)
        self.message_user(request, f"Revoked {queryset.count()} key(s).")


admin.register(Membership)(admin.ModelAdmin)
