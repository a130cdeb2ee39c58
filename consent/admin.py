from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from consent.models import ConsentEvent, ConsentState, Contact, Notice, NoticeVersion, Purpose


class ReadOnlyAdmin(admin.ModelAdmin):
    """The ledger is evidence: staff may look, never touch."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ConsentEvent)
class ConsentEventAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "brand",
        "contact",
        "sequence",
        "purpose",
        "decision",
        "method",
        "occurred_at",
    ]
    list_filter = ["brand", "decision", "method"]
    list_select_related = ["brand", "contact", "purpose"]
    search_fields = ["contact__external_id", "id"]


@admin.register(ConsentState)
class ConsentStateAdmin(ReadOnlyAdmin):
    list_display = ["contact", "purpose", "decision", "occurred_at", "expires_at"]
    list_select_related = ["contact", "purpose"]
    list_filter = ["brand", "decision"]


@admin.register(NoticeVersion)
class NoticeVersionAdmin(ReadOnlyAdmin):
    list_display = ["public_id", "notice", "language", "version", "published_at"]
    list_select_related = ["notice__purpose"]


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ["external_id", "brand", "locale", "jurisdiction", "created_at"]
    list_filter = ["brand"]
    search_fields = ["external_id"]
    readonly_fields = [
        "email_hmac",
        "ledger_sequence",
        "ledger_head",
        "event_sequence",
        "erased_at",
    ]


@admin.register(Purpose)
class PurposeAdmin(admin.ModelAdmin):
    list_display = ["slug", "brand", "legal_basis", "consent_type"]
    list_filter = ["brand"]


admin.site.register(Notice)
