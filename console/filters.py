"""The GET forms of the Overview, the rows behind its figures and the audit log: each field is
checked, and a bad value is a 400 page that names it (never a 500, never a silent default).

Keyset positions travel as plain text in `after` (a time in microseconds and an id); a value
that is not one the page wrote is refused like any other field."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, cast
from uuid import UUID

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from brands.audit import AuditAction
from brands.selectors import AuditPosition
from consent.models import Decision
from console.dashboard import DEFAULT_DAYS, MAX_DAYS
from console.models import SubscriptionState, UnsubscribeSource
from console.rows import EventPosition
from preferences.forms import PageForm
from preferences.labels import CADENCE_LABELS, CHANNEL_LABELS

PERIODS = (7, 30, 90)
MAX_COUNTER = 2**63 - 1  # what a bigint column holds


def _choices(form: forms.Form, name: str, choices: list[tuple[str, Any]]) -> None:
    cast(forms.ChoiceField, form.fields[name]).choices = choices


def _blank(choices: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    return [("", _("Any")), *choices]


class PeriodForm(PageForm):
    days = forms.TypedChoiceField(label=_("Period"), coerce=int, required=False, empty_value=None)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "period-%s")
        super().__init__(*args, **kwargs)
        # Labelled in the language of this request.
        _choices(self, "days", [(str(n), gettext("Last %(days)s days") % {"days": n}) for n in PERIODS])


def _parse_position(value: str) -> tuple[int, str]:
    at_us, _dot, rest = value.partition(".")
    if not (at_us.isascii() and at_us.isdigit()) or int(at_us) > MAX_COUNTER or not rest:
        raise ValueError(value)
    return int(at_us), rest


class _KeysetForm(PageForm):
    after = forms.CharField(required=False, max_length=80, widget=forms.HiddenInput)

    def after_error(self) -> ValidationError:
        return ValidationError(
            _("This page position is not one the console wrote. Start again from the first page.")
        )


class _DaysForm(_KeysetForm):
    """`from` and `to`: UTC days, both included (the names the Overview's links use)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Named as the links name them; `from` cannot be a class attribute's name.
        self.fields["from"] = forms.DateField(
            label=_("From (UTC day)"), required=False, widget=forms.DateInput(attrs={"type": "date"})
        )
        self.fields["to"] = forms.DateField(
            label=_("To (UTC day, included)"), required=False, widget=forms.DateInput(attrs={"type": "date"})
        )

    def clean(self) -> dict[str, Any]:
        data = cast(dict[str, Any], super().clean())
        start, end = data.get("from"), data.get("to")
        if start and end and start > end:
            self.add_error("to", _("The last day must not be before the first."))
        elif start and end and (end - start).days >= MAX_DAYS:
            self.add_error("to", _("Choose at most %(days)s days.") % {"days": MAX_DAYS})
        return data


class ConsentEventsForm(_DaysForm):
    """The ledger's events behind a figure: a purpose, a decision, an unsubscribe source, days."""

    purpose = forms.ChoiceField(label=_("Purpose"), required=False)
    decision = forms.ChoiceField(
        label=_("Decision"),
        required=False,
        choices=_blank(
            [
                (Decision.GRANTED.value, _("Granted")),
                (Decision.WITHDRAWN.value, _("Withdrawn")),
                (Decision.EXPIRED.value, _("Expired")),
            ]
        ),
    )
    source = forms.ChoiceField(label=_("Unsubscribe source"), required=False)

    def __init__(
        self, *args: Any, purposes: list[tuple[str, str]], sources: list[tuple[str, Any]], **kwargs: Any
    ):
        kwargs.setdefault("auto_id", "filter-%s")
        super().__init__(*args, **kwargs)
        _choices(self, "purpose", _blank(purposes))
        _choices(self, "source", _blank(sources))

    def clean_after(self) -> EventPosition | None:
        value = self.cleaned_data.get("after") or ""
        if not value:
            return None
        try:
            at_us, rest = _parse_position(value)
            return EventPosition(at_us=at_us, id=UUID(hex=rest).int)
        except ValueError:
            raise self.after_error() from None

    @staticmethod
    def data_of(query: Any) -> dict[str, str]:
        """The query as form data; a figure's `day` is that day alone (from and to)."""
        data = query.dict()
        day = data.pop("day", "")
        if day:
            data.setdefault("from", day)
            data.setdefault("to", day)
        return dict(data)

    def period(self, today: date) -> tuple[date, date]:
        """The days asked for; without them, the Overview's default period up to today."""
        end = self.cleaned_data.get("to") or today
        start = self.cleaned_data.get("from") or end - timedelta(days=DEFAULT_DAYS - 1)
        return max(min(start, end), end - timedelta(days=MAX_DAYS - 1)), end


class ContactsForm(_KeysetForm):
    """The counted contacts behind a figure: a purpose's consents, or subscriptions by topic,
    channel, state and cadence."""

    purpose = forms.ChoiceField(label=_("Purpose"), required=False)
    consent = forms.ChoiceField(
        label=_("Consent"),
        required=False,
        choices=_blank([("granted", _("Granted")), ("not_granted", _("Not granted"))]),
    )
    topic = forms.ChoiceField(label=_("Topic"), required=False)
    channel = forms.ChoiceField(
        label=_("Channel"), required=False, choices=_blank(list(CHANNEL_LABELS.items()))
    )
    subscription = forms.ChoiceField(label=_("Subscription"), required=False)
    cadence = forms.ChoiceField(
        label=_("Cadence"), required=False, choices=_blank(list(CADENCE_LABELS.items()))
    )

    def __init__(
        self,
        *args: Any,
        purposes: list[tuple[str, str]],
        topics: list[tuple[str, str]],
        states: list[tuple[str, Any]],
        **kwargs: Any,
    ):
        kwargs.setdefault("auto_id", "filter-%s")
        super().__init__(*args, **kwargs)
        _choices(self, "purpose", _blank(purposes))
        _choices(self, "topic", _blank(topics))
        _choices(self, "subscription", _blank(states))

    def clean_after(self) -> int | None:
        value = self.cleaned_data.get("after") or ""
        if not value:
            return None
        if not (value.isascii() and value.isdigit()) or int(value) > MAX_COUNTER:
            raise self.after_error()
        return int(value)

    def clean(self) -> dict[str, Any]:
        data = cast(dict[str, Any], super().clean())
        consents = bool(data.get("purpose") or data.get("consent"))
        subscriptions = any(data.get(name) for name in ("topic", "channel", "subscription", "cadence"))
        if consents and subscriptions:
            self.add_error("purpose", _("Choose either a purpose's consents or subscriptions, not both."))
        elif consents and not (data.get("purpose") and data.get("consent")):
            self.add_error(
                "purpose" if not data.get("purpose") else "consent",
                _("Choose both a purpose and whether its consent is granted."),
            )
        return data

    @property
    def shows_consents(self) -> bool:
        return bool(self.cleaned_data.get("purpose"))


class AuditFilterForm(_DaysForm):
    """The audit log's filters, as GET /api/v1/audit has them, with days for times."""

    action = forms.ChoiceField(
        label=_("Action"), required=False, choices=_blank([(a.value, a.value) for a in AuditAction])
    )
    actor = forms.CharField(
        label=_("Actor"),
        required=False,
        max_length=150,
        help_text=_("Exactly as the log names them: a username, a key's prefix, os:<user>."),
    )
    target_type = forms.CharField(label=_("Object type"), required=False, max_length=40)
    target_id = forms.CharField(label=_("Object"), required=False, max_length=255)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "filter-%s")
        super().__init__(*args, **kwargs)

    def clean_after(self) -> AuditPosition | None:
        value = self.cleaned_data.get("after") or ""
        if not value:
            return None
        try:
            at_us, rest = _parse_position(value)
            if not (rest.isascii() and rest.isdigit()) or int(rest) > MAX_COUNTER:
                raise ValueError(rest)
            return AuditPosition(at_us=at_us, id=int(rest))
        except ValueError:
            raise self.after_error() from None

    def clean(self) -> dict[str, Any]:
        data = cast(dict[str, Any], super().clean())
        if data.get("target_id") and not data.get("target_type"):
            self.add_error("target_type", _("Name the object's type as well."))
        return data


class AuditExportForm(AuditFilterForm):
    format = forms.ChoiceField(
        label=_("Format"), choices=[("csv", "CSV"), ("jsonl", _("JSON lines"))], required=False
    )

    def clean_format(self) -> str:
        return self.cleaned_data.get("format") or "csv"


def source_choices(labels: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(source, labels[source]) for source in UnsubscribeSource.values]


def state_choices(labels: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(state, labels[state]) for state in SubscriptionState.values]
