"""Forms of the support desk (console.views.contacts): finding a contact, pausing their
marketing, ending a pause, sending a fresh link. They parse and validate; the views call the
services."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from preferences.forms import PageForm
from preferences.models import Hold

LOOKUP_EXTERNAL_ID = "external_id"
LOOKUP_EMAIL = "email"
HOLD_DAYS_MAX = 365
HOLD_DAYS_DEFAULT = 14


class LookupForm(PageForm):
    by = forms.ChoiceField(
        label=_("Look up by"),
        choices=[(LOOKUP_EXTERNAL_ID, _("External id")), (LOOKUP_EMAIL, _("Exact email address"))],
        initial=LOOKUP_EXTERNAL_ID,
        widget=forms.RadioSelect,
        error_messages={"required": _("Choose how to look the contact up.")},
    )
    value = forms.CharField(
        label=_("External id or email address"),
        max_length=255,
        help_text=_("The whole id or address, exactly: there is no partial search."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        error_messages={"required": _("Enter the external id or the email address.")},
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "lookup-%s")
        super().__init__(*args, **kwargs)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("by") == LOOKUP_EMAIL and data.get("value"):
            try:
                forms.EmailField().clean(data["value"])
            except forms.ValidationError:
                self.add_error("value", _("Enter an email address in the form name@example.com."))
        return data


class HoldStartForm(PageForm):
    """Pause marketing for a number of days, or until the end of a date (in the console's time
    zone), with the reason the customer gave."""

    days = forms.IntegerField(
        label=_("Pause for how many days"),
        min_value=1,
        max_value=HOLD_DAYS_MAX,
        required=False,
        initial=HOLD_DAYS_DEFAULT,
        help_text=_("Or give the last day of the pause below instead."),
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
        error_messages={
            "invalid": _("Enter a whole number of days."),
            "min_value": _("Pause for at least 1 day."),
            "max_value": _("Pause for at most 365 days."),
        },
    )
    until = forms.DateField(
        label=_("Or pause until the end of"),
        required=False,
        help_text=_("A date, such as 2027-01-31."),
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"invalid": _("Enter a date, such as 2027-01-31.")},
    )
    reason = forms.CharField(
        label=_("Reason"),
        max_length=Hold._meta.get_field("reason").max_length,
        help_text=_("Why marketing is paused, for the customer's record and the audit log."),
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={
            "required": _("Give the reason for the pause."),
            "max_length": _("Keep the reason under 500 characters."),
        },
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "hold-%s")
        super().__init__(*args, **kwargs)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        days, until = data.get("days"), data.get("until")
        if "days" in self.errors or "until" in self.errors:
            return data
        if days is not None and until is not None:
            self.add_error("days", _("Give a number of days or a date, not both."))
        elif days is None and until is None:
            self.add_error("days", _("Give a number of days or a date."))
        elif until is not None and until < timezone.localdate():
            self.add_error("until", _("The date must be today or later."))
        return data

    def ends_at(self, now: datetime) -> datetime:
        """When the pause ends: `days` from now, or the start of the day after `until`."""
        if self.cleaned_data["days"] is not None:
            return now + timedelta(days=self.cleaned_data["days"])
        next_day = self.cleaned_data["until"] + timedelta(days=1)
        return timezone.make_aware(datetime.combine(next_day, time.min))


class HoldEndForm(PageForm):
    hold = forms.CharField(widget=forms.HiddenInput, max_length=32)


class SendLinkForm(PageForm):
    # The way the link travels; email is the only one today (a text message may follow).
    channel = forms.ChoiceField(widget=forms.HiddenInput, choices=[("email", "email")])
