"""The GET form of the webhook deliveries behind the Overview's health figures: each field
checked, a bad value a 400 page that names it (as console.filters does for the other lists)."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.utils.translation import gettext_lazy as _

from console.rows import DELIVERED_1H, FAILED_24H, WAITING
from preferences.forms import PageForm

MAX_ID = 2**63 - 1  # what a bigint column holds

FIGURE_LABELS = {
    WAITING: _("Waiting for delivery"),
    FAILED_24H: _("With a failed attempt in the last 24 hours"),
    DELIVERED_1H: _("Delivered in the last hour"),
}


class DeliveriesForm(PageForm):
    """Which figure's deliveries (`figure`), of which endpoint (`endpoint`, its public id; all
    the brand's when empty), from where (`after`, a delivery's position the page wrote)."""

    # Without a figure: the waiting deliveries (the list a plain visit of the page shows).
    figure = forms.ChoiceField(label=_("Deliveries"), choices=list(FIGURE_LABELS.items()), required=False)
    endpoint = forms.ChoiceField(label=_("Endpoint"), required=False)
    after = forms.CharField(required=False, max_length=20, widget=forms.HiddenInput)

    def __init__(self, *args: Any, endpoints: list[tuple[str, str]], **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "filter-%s")
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["endpoint"]).choices = [("", _("Any")), *endpoints]

    def clean_figure(self) -> str:
        return self.cleaned_data.get("figure") or WAITING

    def clean_after(self) -> int | None:
        value = self.cleaned_data.get("after") or ""
        if not value:
            return None
        if not (value.isascii() and value.isdigit()) or int(value) > MAX_ID:
            raise forms.ValidationError(
                _("This page position is not one the console wrote. Start again from the first page.")
            )
        return int(value)
