"""The form that corrects one quiz answer on the preference centre, shaped by its question:
radios for a single choice and a scale, checkboxes for a multiple choice, a text or email box."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from preferences.forms import PageForm
from quizzes.document import Document
from quizzes.document import Question as DocumentQuestion
from quizzes.told_us import Text, text_in

REQUIRED = _("Give an answer, or delete it instead.")


def _label(pair: Text) -> str | SafeString:
    text, language = pair
    # A brand text not in the page's language says which it is in (WCAG 3.1.2).
    return format_html('<span lang="{}">{}</span>', language, text) if language else text


class AnswerCorrectForm(PageForm):
    def __init__(
        self, data: Any = None, *, question: DocumentQuestion, document: Document, language: str, value: Any
    ) -> None:
        super().__init__(data, initial={"value": value})
        label = _label(text_in(question.text, document, language))
        errors = {"required": REQUIRED}
        field: forms.Field
        if question.kind in ("single", "multiple"):
            choices = [(o.id, _label(text_in(o.label, document, language))) for o in question.options]
            if question.kind == "single":
                field = forms.ChoiceField(
                    label=label, choices=choices, widget=forms.RadioSelect, error_messages=errors
                )
            else:
                field = forms.MultipleChoiceField(
                    label=label, choices=choices, widget=forms.CheckboxSelectMultiple, error_messages=errors
                )
        elif question.kind == "scale":
            low, high = question.scale_labels
            choices = []
            for number in range(question.scale_min, question.scale_max + 1):
                end = low if number == question.scale_min else high if number == question.scale_max else None
                if end:
                    text, language_of = text_in(end, document, language)
                    shown: str | SafeString = (
                        format_html('{} – <span lang="{}">{}</span>', number, language_of, text)
                        if language_of
                        else f"{number} – {text}"
                    )
                else:
                    shown = str(number)
                choices.append((str(number), shown))
            field = forms.TypedChoiceField(
                label=label, choices=choices, coerce=int, widget=forms.RadioSelect, error_messages=errors
            )
        elif question.kind == "email":
            field = forms.EmailField(
                label=label,
                max_length=254,
                error_messages={
                    **errors,
                    "invalid": _("Enter an email address in the form name@example.com."),
                },
                widget=forms.EmailInput(attrs={"autocomplete": "email", "spellcheck": "false"}),
            )
        else:
            field = forms.CharField(
                label=label, max_length=question.max_length, error_messages=errors, strip=True
            )
        self.fields["value"] = field
        self.kind = question.kind
