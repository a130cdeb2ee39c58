"""Forms of the owners' integration pages: API keys and webhook endpoints."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from brands.models import ApiKey, Scope
from preferences.forms import PageForm
from sync.models import Endpoint, EventType

SCOPE_CHOICES = [(scope.value, scope.value) for scope in Scope]
EVENT_TYPE_CHOICES = [(value, value) for value in EventType.values]


class ApiKeyCreateForm(PageForm):
    name = forms.CharField(
        label=_("Name"),
        max_length=ApiKey._meta.get_field("name").max_length,
        help_text=_("Say who uses it, so you know what stops working if you revoke it."),
    )
    scopes = forms.MultipleChoiceField(
        label=_("Scopes"),
        choices=SCOPE_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("admin includes every other scope."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "key-%s")
        super().__init__(*args, **kwargs)


class ApiKeyRevokeForm(PageForm):
    key = forms.CharField(widget=forms.HiddenInput, max_length=ApiKey._meta.get_field("prefix").max_length)


class EndpointForm(PageForm):
    url = forms.CharField(
        label=_("URL"),
        max_length=Endpoint._meta.get_field("url").max_length,
        help_text=_("An https:// address on the public internet that receives the signed webhooks."),
        widget=forms.URLInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    description = forms.CharField(
        label=_("Description"), max_length=Endpoint._meta.get_field("description").max_length, required=False
    )
    event_types = forms.MultipleChoiceField(
        label=_("Event types"),
        choices=EVENT_TYPE_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=_("None chosen: every type."),
    )
    include_personal_data = forms.BooleanField(
        label=_("Send email addresses and phone numbers in events"), required=False
    )
    pseudonymous_contacts = forms.BooleanField(
        label=_("Name contacts by a pseudonym of this endpoint's own, not the external id"), required=False
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "endpoint-%s")
        super().__init__(*args, **kwargs)

    @classmethod
    def of(cls, endpoint: Endpoint) -> EndpointForm:
        return cls(
            initial={
                "url": endpoint.url,
                "description": endpoint.description,
                "event_types": list(endpoint.event_types),
                "include_personal_data": endpoint.include_personal_data,
                "pseudonymous_contacts": endpoint.pseudonymous_contacts,
            }
        )


class EndpointTargetForm(PageForm):
    """Each action form on an endpoint's page names the endpoint it acts on, as the members
    page's forms name their membership: a form left open from another endpoint's page is
    refused rather than acting on this one."""

    endpoint = forms.CharField(widget=forms.HiddenInput, max_length=32)


class RedeliverForm(EndpointTargetForm):
    delivery = forms.CharField(widget=forms.HiddenInput, max_length=32)
