"""Admin plumbing shared by every app: staff edits that go through the services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from config.errors import ApplicationError

_REFUSAL = "_candor_service_refusal"


class ServiceAdmin(admin.ModelAdmin):
    """A model admin whose save_model and delete_model call the app's services, so the admin
    gets their validation and bookkeeping and writes nothing else.

    The form checks the model's own validators first, as any admin form does. When the service
    still refuses (a rule only it knows, or a race), the view's transaction rolls back, so
    nothing is written, and the page says why: the form again with the service's errors, or,
    for a deletion, the change page with a message.
    """

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ApplicationError as exc:
            if request.method != "POST" or hasattr(request, _REFUSAL):
                raise
            setattr(request, _REFUSAL, exc)  # get_form puts it on the form shown again
            return super().changeform_view(request, object_id, form_url, extra_context)

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> type[forms.ModelForm]:
        form_class: Any = super().get_form(request, obj, change, **kwargs)
        refusal: ApplicationError | None = getattr(request, _REFUSAL, None)
        if refusal is None:
            return form_class
        errors = refusal.errors or {"__all__": [refusal.detail]}

        class Refused(form_class):
            def clean(self) -> dict[str, Any]:
                cleaned: dict[str, Any] = super().clean()
                for name, field_errors in errors.items():
                    self.add_error(name if name in self.fields else None, field_errors)
                return cleaned

        return Refused

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        try:
            return super().delete_view(request, object_id, extra_context)
        except ApplicationError as exc:
            self.message_user(request, exc.detail, messages.ERROR)
            opts = self.opts
            change_url = reverse(
                f"admin:{opts.app_label}_{opts.model_name}_change",
                args=[object_id],
                current_app=self.admin_site.name,
            )
            return HttpResponseRedirect(change_url)
