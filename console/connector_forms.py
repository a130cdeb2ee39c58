"""Forms of the owners' connector pages: each action names the connector it acts on."""

from __future__ import annotations

from django import forms

from preferences.forms import PageForm
from sync.models import Connector, Delivery


class ConnectorTargetForm(PageForm):
    """Each action form on a connector's page names the connector, as an endpoint's forms name
    their endpoint: a form left open from another connector's page is refused rather than acting
    on this one."""

    connector = forms.CharField(
        widget=forms.HiddenInput, max_length=Connector._meta.get_field("public_id").max_length
    )


class ConnectorRedeliverForm(ConnectorTargetForm):
    delivery = forms.CharField(
        widget=forms.HiddenInput, max_length=Delivery._meta.get_field("public_id").max_length
    )
