"""Forms of the hosted pages. They parse and validate; the views call the services.

Every field has a visible label; a field in error gets `aria-invalid` and is described by its
message (`<id>-error`) and hint (`<id>-hint`), which templates/elements/field.html renders.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from consent import validators
from preferences.labels import PROFILE_LABELS
from preferences.models import SubscriptionStatus
from preferences.page_selectors import Centre, ChannelChoice
from preferences.services import CUSTOMER_HOLD_WEEKS, SubscriptionChange

SUBSCRIBED = SubscriptionStatus.SUBSCRIBED.value
UNSUBSCRIBED = SubscriptionStatus.UNSUBSCRIBED.value


class PageForm(forms.Form):
    """Accessible error wiring for forms rendered through templates/elements/field.html."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            if field.help_text:
                field.widget.attrs["aria-describedby"] = f"{self[name].auto_id}-hint"

    def full_clean(self) -> None:
        super().full_clean()
        for name in self.errors:
            if name not in self.fields:
                continue
            widget = self.fields[name].widget
            described = f"{widget.attrs.get('aria-describedby', '')} {self[name].auto_id}-error"
            widget.attrs["aria-describedby"] = described.strip()
            widget.attrs["aria-invalid"] = "true"

    def error_summary(self) -> list[tuple[str, str]]:
        """(anchor, message) for the error summary; each links to its field."""
        items: list[tuple[str, str]] = []
        for name, errors in self.errors.items():
            anchor = "#main"
            if name in self.fields:
                radios = isinstance(self.fields[name].widget, forms.RadioSelect)
                anchor = f"#{self[name].auto_id}_0" if radios else f"#{self[name].auto_id}"
            items.extend((anchor, str(message)) for message in errors)
        return items


# --- Email me a new link -----------------------------------------------------------------------


class LinkRequestForm(PageForm):
    email = forms.EmailField(
        label=_("Your email address"),
        max_length=254,
        help_text=_("We'll send a new link to this address if it is one we know."),
        widget=forms.EmailInput(attrs={"autocomplete": "email", "spellcheck": "false"}),
        error_messages={
            "required": _("Enter your email address."),
            "invalid": _("Enter an email address in the form name@example.com."),
        },
    )


# --- Step-up codes (preferences.step_up) -------------------------------------------------------


class StepUpCodeForm(PageForm):
    code = forms.CharField(
        label=_("Code from the email"),
        max_length=20,
        help_text=_("The 6 digits in the email we just sent. The code works once."),
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "spellcheck": "false"}
        ),
        error_messages={"required": _("Enter the code from the email.")},
    )

    def __init__(self, *args: Any, verify: Callable[[str], Any], **kwargs: Any) -> None:
        """`verify(code)`: the service's check (preferences.step_up.step_up_verify), which
        uses the code up when it is right; its result is `self.verified`."""
        super().__init__(*args, **kwargs)
        self._verify = verify
        self.verified: Any = None

    def clean_code(self) -> str:
        from preferences.step_up import StepUpRefused

        code = str(self.cleaned_data["code"])
        try:
            self.verified = self._verify(code)
        except StepUpRefused as exc:
            raise forms.ValidationError(STEP_UP_REFUSALS[exc.reason], code=exc.reason) from None
        return code


STEP_UP_REFUSALS = {
    "wrong": _("That code isn't right. Check the email and try again."),
    "expired": _("That code has expired. Send yourself a new one."),
    "exhausted": _("Too many wrong tries. Send yourself a new code."),
    "none": _("That code has been used or replaced. Send yourself a new one."),
}


# --- Pause -----------------------------------------------------------------------------------


def hold_choices() -> list[tuple[int, Any]]:
    labels = {
        1: _("1 week"),
        2: _("2 weeks"),
        4: _("4 weeks"),
        8: _("8 weeks"),
    }
    return [(weeks, labels[weeks]) for weeks in CUSTOMER_HOLD_WEEKS]


class HoldForm(PageForm):
    weeks = forms.TypedChoiceField(
        label=_("Pause for"),
        choices=hold_choices,
        coerce=int,
        widget=forms.RadioSelect,
        error_messages={
            "required": _("Choose how long to pause for."),
            "invalid_choice": _("Choose 1, 2, 4 or 8 weeks."),
        },
    )


# --- What you've told us ---------------------------------------------------------------------


class EmailFactForm(PageForm):
    value = forms.EmailField(
        label=PROFILE_LABELS["email"],
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "spellcheck": "false"}),
        error_messages={
            "required": _("Enter your email address."),
            "invalid": _("Enter an email address in the form name@example.com."),
        },
    )


class PhoneFactForm(PageForm):
    value = forms.CharField(
        label=PROFILE_LABELS["phone"],
        max_length=32,
        help_text=_("With the country code, e.g. +49 151 23456789."),
        widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel"}),
        error_messages={"required": _("Enter your phone number.")},
    )

    def clean_value(self) -> str:
        try:
            return validators.phone_e164(self.cleaned_data["value"])
        except ValueError:
            raise forms.ValidationError(
                _("Enter a phone number with its country code, e.g. +49 151 23456789.")
            ) from None


class LocaleFactForm(PageForm):
    value = forms.ChoiceField(
        label=PROFILE_LABELS["locale"],
        choices=settings.LANGUAGES,
        widget=forms.RadioSelect,
        error_messages={"required": _("Choose a language.")},
    )


class TimezoneFactForm(PageForm):
    value = forms.CharField(
        label=PROFILE_LABELS["timezone"],
        max_length=64,
        help_text=_("A time zone such as Europe/Berlin or America/Toronto."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        error_messages={"required": _("Enter your time zone.")},
    )

    def clean_value(self) -> str:
        try:
            return validators.time_zone(self.cleaned_data["value"].strip())
        except ValueError:
            raise forms.ValidationError(_("Enter a time zone such as Europe/Berlin.")) from None


class JurisdictionFactForm(PageForm):
    value = forms.CharField(
        label=PROFILE_LABELS["jurisdiction"],
        max_length=10,
        help_text=_("A two-letter country code such as DE or FR, or a region such as US-CA."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        error_messages={"required": _("Enter a country or region code.")},
    )

    def clean_value(self) -> str:
        try:
            return validators.jurisdiction_code(self.cleaned_data["value"].strip().upper())
        except ValueError:
            raise forms.ValidationError(_("Enter a code such as DE, FR or US-CA.")) from None


FACT_FORMS: dict[str, type[PageForm]] = {
    "email": EmailFactForm,
    "phone": PhoneFactForm,
    "locale": LocaleFactForm,
    "timezone": TimezoneFactForm,
    "jurisdiction": JurisdictionFactForm,
}


# --- Your subscriptions ----------------------------------------------------------------------


@dataclass(frozen=True)
class SubmittedRow:
    checked: bool
    cadence: str


class SubscriptionsForm(PageForm):
    """One checkbox per topic and channel, one cadence choice where the topic offers several, and
    per purpose the id of the notice shown with it (recorded if ticking a box grants consent).

    Only rows whose reading the person changed become changes, so saving an untouched form
    writes nothing.
    """

    def __init__(self, data: Any = None, *, centre: Centre) -> None:
        self.centre = centre
        super().__init__(data)
        for row in centre.rows:
            self.fields[row.field] = forms.BooleanField(required=False)
            if len(row.cadence_options) > 1:
                self.fields[row.cadence_field] = forms.ChoiceField(
                    choices=row.cadence_options,
                    required=False,
                    error_messages={"invalid_choice": _("Choose one of the offered frequencies.")},
                )
        for topic in centre.service:
            for row in topic.rows:
                if row.active and len(row.cadence_options) > 1:
                    self.fields[row.cadence_field] = forms.ChoiceField(
                        choices=row.cadence_options, required=False
                    )
        for group in centre.groups:
            self.fields[f"notice.{group.purpose.slug}"] = forms.CharField(required=False, max_length=32)
        self._changes: list[SubscriptionChange] = []

    def _submitted(self, row: ChannelChoice) -> SubmittedRow:
        cadence = self.cleaned_data.get(row.cadence_field) or row.cadence
        return SubmittedRow(checked=bool(self.cleaned_data.get(row.field)), cadence=cadence)

    def submitted(self) -> dict[str, SubmittedRow]:
        """What the form said per row (for re-rendering it as sent after an error)."""
        data = self.data
        out = {}
        for row in [*self.centre.rows, *(r for t in self.centre.service for r in t.rows)]:
            out[row.field] = SubmittedRow(
                checked=data.get(row.field) in ("on", "true", "1"),
                cadence=str(data.get(row.cadence_field) or row.cadence),
            )
        return out

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        changes: list[SubscriptionChange] = []
        stale: dict[str, str] = {}  # purposes whose notice changed since the page was shown
        for group in self.centre.groups:
            shown = cleaned.get(f"notice.{group.purpose.slug}") or None
            for topic in group.topics:
                for row in topic.rows:
                    submitted = self._submitted(row)
                    if submitted.checked and not row.active:
                        if not group.granted and shown not in group.current_notice_ids:
                            stale.setdefault(group.purpose.slug, group.heading)
                            continue
                        changes.append(
                            SubscriptionChange(
                                topic=row.topic.slug,
                                channel=row.channel,
                                status=SUBSCRIBED,
                                cadence=submitted.cadence,
                                notice_version=shown,
                            )
                        )
                    elif not submitted.checked and row.active:
                        changes.append(
                            SubscriptionChange(topic=row.topic.slug, channel=row.channel, status=UNSUBSCRIBED)
                        )
                    elif submitted.checked and submitted.cadence != row.cadence:
                        changes.append(
                            SubscriptionChange(
                                topic=row.topic.slug, channel=row.channel, cadence=submitted.cadence
                            )
                        )
        for heading in stale.values():
            message = _(
                "The text about “%(purpose)s” changed while you had this page open. "
                "Please read it again, then save."
            )
            self.add_error(None, message % {"purpose": heading})
        for topic in self.centre.service:
            for row in topic.rows:
                cadence = cleaned.get(row.cadence_field)
                if row.active and cadence and cadence != row.cadence:
                    changes.append(
                        SubscriptionChange(topic=row.topic.slug, channel=row.channel, cadence=cadence)
                    )
        self._changes = changes
        return cleaned

    def changes(self) -> list[SubscriptionChange]:
        return list(self._changes)

    def error_summary(self) -> list[tuple[str, str]]:
        items: list[tuple[str, str]] = []
        for name, errors in self.errors.items():
            anchor = "#subscriptions"
            for row in self.centre.rows:
                if name in (row.field, row.cadence_field):
                    anchor = f"#{row.html_id}"
            items.extend((anchor, str(message)) for message in errors)
        return items
