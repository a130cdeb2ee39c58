from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from brands.audit import Actor
from config.admin import ServiceAdmin
from consent.erasure import contact_erase
from consent.models import (
    ConsentEvent,
    ConsentState,
    Contact,
    Method,
    NoticeVersion,
    Purpose,
    RightsRequest,
    Suppression,
)
from consent.services import contact_upsert, notice_version_publish, purpose_create, purpose_update


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


class NoticeVersionForm(forms.ModelForm):
    purpose = forms.ModelChoiceField(
        queryset=Purpose.objects.select_related("brand").order_by("brand__slug", "slug")
    )

    class Meta:
        model = NoticeVersion
        fields = ["language", "title", "text"]


@admin.register(NoticeVersion)
class NoticeVersionAdmin(ServiceAdmin):
    """Publishing is adding a new version, through `notice_version_publish` (its refusal, a
    language the pages do not speak, say, shows on the form); existing versions are never edited."""

    form = NoticeVersionForm
    list_display = ["public_id", "notice", "language", "version", "published_at"]
    list_select_related = ["notice__purpose"]
    list_filter = ["notice__brand", "language"]

    add_fields = ["purpose", "language", "title", "text"]
    view_fields = [
        "public_id",
        "notice",
        "language",
        "version",
        "title",
        "text",
        "content_hash",
        "published_at",
    ]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:  # type: ignore[override]
        return self.add_fields if obj is None else self.view_fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [] if obj is None else self.view_fields

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: NoticeVersion, form: Any, change: bool) -> None:
        published = notice_version_publish(
            actor=Actor.operator(request.user),
            purpose=form.cleaned_data["purpose"],
            language=form.cleaned_data["language"],
            title=form.cleaned_data["title"],
            text=form.cleaned_data["text"],
        )
        obj.pk, obj.public_id = published.pk, published.public_id


# Contact fields staff may set → contact_upsert's keywords.
_CONTACT_KEYWORDS = {
    "email": "email",
    "phone": "phone",
    "locale": "locale",
    "timezone": "timezone_name",
    "jurisdiction": "jurisdiction",
}


@admin.register(Contact)
class ContactAdmin(ServiceAdmin):
    """Adding or correcting a contact goes through `contact_upsert`: its checks, normalisation,
    email pseudonym and suppression apply here too."""

    list_display = ["external_id", "brand", "locale", "jurisdiction", "suppressed", "erased_at", "created_at"]
    list_filter = ["brand", "suppressed"]
    search_fields = ["external_id"]
    readonly_fields = [
        "email_hmac",
        "ledger_sequence",
        "ledger_head",
        "event_sequence",
        "suppressed",
        "erased_at",
    ]
    actions = ["erase"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is not None and obj.erased_at is not None:  # a pseudonymous shell stays one
            return [field.name for field in Contact._meta.concrete_fields]
        if obj is not None:  # the brand's own id names the contact in every API call and event
            return ["brand", "external_id", *self.readonly_fields]
        return list(self.readonly_fields)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Deleting a contact is erasing it: the "erase" action, through the service.
        return False

    def save_model(self, request: HttpRequest, obj: Contact, form: Any, change: bool) -> None:
        names = form.changed_data if change else form.cleaned_data
        given = {name: form.cleaned_data[name] for name in names if name in _CONTACT_KEYWORDS}
        saved, _created = contact_upsert(
            brand=obj.brand,
            external_id=obj.external_id,
            **{_CONTACT_KEYWORDS[name]: value for name, value in given.items()},
        )
        obj.pk = saved.pk

    @admin.action(description="Erase the selected contacts (keeps the ledger and a suppression entry)")
    def erase(self, request: HttpRequest, queryset: QuerySet[Contact]) -> None:
        """An erasure request that reached staff (by email, by phone): through the service."""
        erased = 0
        for contact in queryset.select_related("brand"):
            report = contact_erase(
                brand=contact.brand,
                contact=contact,
                requested_via=Method.AGENT,
                recorded_by=f"admin:{request.user.get_username()}",
                actor=f"agent:{request.user.get_username()}",
            )
            erased += not report.already_erased
        self.message_user(request, f"Erased {erased} contact(s).", messages.SUCCESS)


@admin.register(Suppression)
class SuppressionAdmin(ReadOnlyAdmin):
    """Pseudonyms only; an entry leaves when the person opts in again."""

    list_display = ["email_hmac", "brand", "reason", "created_at"]
    list_filter = ["brand", "reason"]
    search_fields = ["email_hmac"]


@admin.register(RightsRequest)
class RightsRequestAdmin(ReadOnlyAdmin):
    """Access and erasure requests carried out, and who made them."""

    list_display = ["requested_at", "brand", "contact", "kind", "requested_via", "actor"]
    list_filter = ["brand", "kind", "requested_via"]


@admin.register(Purpose)
class PurposeAdmin(ServiceAdmin):
    """Through `purpose_create` (which gives the purpose its notice) and `purpose_update`."""

    list_display = ["slug", "brand", "legal_basis", "consent_type", "sale_or_sharing"]
    list_filter = ["brand"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # The slug and brand name the purpose in every ledger row and API client.
        return [] if obj is None else ["brand", "slug"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Its notice and the notice's versions (kept forever, as evidence) point at it.
        return False

    def save_model(self, request: HttpRequest, obj: Purpose, form: Any, change: bool) -> None:
        if change:
            purpose_update(
                purpose=obj,
                actor=Actor.operator(request.user),
                **{name: form.cleaned_data[name] for name in form.changed_data},
            )
            return
        created = purpose_create(
            brand=obj.brand,
            actor=Actor.operator(request.user),
            slug=obj.slug,
            name=obj.name,
            description=obj.description,
            legal_basis=obj.legal_basis,
            consent_type=obj.consent_type,
            lifetime_days=obj.lifetime_days,
            dpv_purpose=obj.dpv_purpose,
            sale_or_sharing=obj.sale_or_sharing,
            third_parties=obj.third_parties,
            personal_data=obj.personal_data,
        )
        obj.pk = created.pk
