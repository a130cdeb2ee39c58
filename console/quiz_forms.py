"""The quiz builder's forms: what an editor types for one part of a quiz (its title, a question,
an option and its effects, a rule, an outcome), checked, and turned into that part of the quiz
document (quizzes/document.py). console.quiz_editing puts the part into the draft; the service
(quizzes.services.quiz_draft_save) checks the whole against the JSON Schema again.

Every editing form carries the draft's tag (`draft`, the API's ETag) as it was when the page was
drawn: an edit made to a draft that has changed since is refused rather than applied to
something the editor did not see. Forms of the same kind repeat on the editor page, so each
takes an `auto_id` that keeps its ids unique there (q3-text_en), while the field names stay
the same (one form is posted at a time).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any, cast

from django import forms
from django.conf import settings
from django.core.validators import URLValidator
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from preferences.forms import PageForm
from preferences.labels import CADENCE_LABELS, CHANNEL_LABELS
from quizzes.document import END

ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,49}$"
TEXT_MAX = 2000
IMPORT_MAX_BYTES = 512 * 1024  # the largest quiz the schema allows fits with room to spare
TRAIT_LINE = re.compile(r"^\s*([a-z0-9][a-z0-9_-]{0,49})\s*=\s*(.*?)\s*$")
HTTPS_URL = URLValidator(schemes=["https"])
ID_INVALID = _("Use 1–50 lowercase letters, digits, - and _, starting with a letter or digit.")

KIND_LABELS: dict[str, Promise] = {
    "single": _("Single choice"),
    "multiple": _("Multiple choice"),
    "scale": _("Scale"),
    "text": _("Short text"),
    "email": _("Email capture"),
    "consent": _("Consent"),
}
# A rule's condition, by the kind of question it fits (quizzes.document.holds).
TEST_LABELS: dict[str, Promise] = {
    "": _("Always"),
    "is": _("The answer is the option"),
    "includes": _("The answers include the option"),
    "at_least": _("The number is at least"),
    "at_most": _("The number is at most"),
    "answered": _("The question was answered"),
    "not_answered": _("The question was left blank"),
}


def language_names() -> dict[str, str]:
    return {code: str(name) for code, name in settings.LANGUAGES}


def ordered_languages(language: str) -> list[str]:
    """The quiz's own language first, then the others the hosted pages speak."""
    return [language, *[code for code, _name in settings.LANGUAGES if code != language]]


def _id_field(label: Any, **kwargs: Any) -> forms.RegexField:
    return forms.RegexField(
        regex=ID_PATTERN,
        max_length=50,
        label=label,
        help_text=kwargs.pop(
            "help_text", _("Lowercase letters, digits, - and _; the API and the answers name it by this.")
        ),
        error_messages={
            "invalid": _("Use 1–50 lowercase letters, digits, - and _, starting with a letter or digit.")
        },
        **kwargs,
    )


class QuizForm(PageForm):
    """A form that changes the draft: `draft` is the tag of the draft the page showed."""

    draft = forms.CharField(widget=forms.HiddenInput, max_length=100)

    def __init__(self, *args: Any, language: str = "en", **kwargs: Any) -> None:
        self.language = language
        super().__init__(*args, **kwargs)

    def add_texts(self, key: str, label: Promise, *, required: bool, textarea: bool = False) -> None:
        """One field per language for a text of the document (`{key}_{code}`): the quiz's own
        language first, required when the text is; the others optional."""
        names = language_names()
        for code in ordered_languages(self.language):
            own = code == self.language
            widget = (
                forms.Textarea(attrs={"rows": 2, "lang": code})
                if textarea
                else forms.TextInput(attrs={"lang": code})
            )
            self.fields[f"{key}_{code}"] = forms.CharField(
                label=_("%(text)s (%(language)s)") % {"text": label, "language": names[code]},
                required=own and required,
                max_length=TEXT_MAX,
                widget=widget,
                error_messages={"required": _("Give this text in the quiz's language.")},
            )
        # PageForm wired hints when the fields were made; these are new.
        self._wire_hints()

    def _wire_hints(self) -> None:
        for name, field in self.fields.items():
            if field.help_text:
                field.widget.attrs["aria-describedby"] = f"{self[name].auto_id}-hint"

    def texts(self, key: str) -> dict[str, str] | None:
        """The text as the document holds it (language → text); None when none was given."""
        found = {
            code: self.cleaned_data[f"{key}_{code}"].strip()
            for code in ordered_languages(self.language)
            if self.cleaned_data.get(f"{key}_{code}", "").strip()
        }
        return found or None

    @staticmethod
    def initial_texts(key: str, texts: Mapping[str, str] | None) -> dict[str, str]:
        return {f"{key}_{code}": value for code, value in (texts or {}).items()}

    def text_field_names(self, key: str) -> list[str]:
        return [f"{key}_{code}" for code in ordered_languages(self.language)]


def _position() -> forms.IntegerField:
    return forms.IntegerField(widget=forms.HiddenInput, min_value=0, max_value=500)


def _was() -> forms.CharField:
    return forms.CharField(widget=forms.HiddenInput, max_length=50)


# --- Creating a quiz -----------------------------------------------------------------------


class QuizCreateForm(PageForm):
    title = forms.CharField(label=_("Title"), max_length=200)
    language = forms.ChoiceField(
        label=_("Language of the quiz"),
        help_text=_("Every text is written in this language first; German and French are optional."),
    )
    kind = forms.ChoiceField(label=_("Type of the first question"), choices=list(KIND_LABELS.items()))
    purpose = forms.ChoiceField(
        label=_("Purpose its answers serve"),
        help_text=_("What the brand may do with the answers; a trait leaves Candor only with this consent."),
    )
    text = forms.CharField(label=_("First question"), max_length=TEXT_MAX)

    def __init__(self, *args: Any, purposes: list[tuple[str, str]], **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "new-%s")
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["language"]).choices = list(language_names().items())
        cast(forms.ChoiceField, self.fields["purpose"]).choices = purposes


class ImportForm(PageForm):
    file = forms.FileField(
        label=_("Quiz file (JSON)"),
        help_text=_("A quiz document as the export or GET /api/v1/quizzes/{id} gives it; at most 512 KB."),
        error_messages={
            "required": _("Choose a quiz file to import."),
            "empty": _("The file is empty."),
            "invalid": _("Choose a quiz file to import."),
        },
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "import-%s")
        super().__init__(*args, **kwargs)


# --- The quiz's details --------------------------------------------------------------------


class DetailsForm(QuizForm):
    new_language = forms.ChoiceField(
        label=_("Language of the quiz"),
        help_text=_("The language every text must have; changing it needs the title in the new one."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "details-%s")
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["new_language"]).choices = list(language_names().items())
        self.add_texts("title", _("Title"), required=False)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        chosen = cleaned.get("new_language")
        if chosen and not str(cleaned.get(f"title_{chosen}", "")).strip():
            self.add_error(f"title_{chosen}", _("Give the title in the quiz's language."))
        return cleaned

    def title(self) -> dict[str, str]:
        return {
            code: self.cleaned_data[f"title_{code}"].strip()
            for code in language_names()
            if self.cleaned_data.get(f"title_{code}", "").strip()
        }


# --- Questions -----------------------------------------------------------------------------


class QuestionAddForm(QuizForm):
    id = _id_field(_("Question id"))
    kind = forms.ChoiceField(label=_("Type"), choices=list(KIND_LABELS.items()))
    purpose = forms.ChoiceField(
        label=_("Purpose its answers serve"),
        help_text=_("What the brand may do with the answers; a trait leaves Candor only with this consent."),
    )

    def __init__(self, *args: Any, purposes: list[tuple[str, str]], **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "add-question-%s")
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["purpose"]).choices = purposes
        self.add_texts("text", _("Question"), required=True)


class QuestionTargetForm(QuizForm):
    position = _position()
    was = _was()


class QuestionMoveForm(QuestionTargetForm):
    direction = forms.ChoiceField(choices=[("up", "up"), ("down", "down")], widget=forms.HiddenInput)


class QuestionForm(QuestionTargetForm):
    id = _id_field(_("Question id"))
    kind = forms.ChoiceField(label=_("Type"), choices=list(KIND_LABELS.items()))
    purpose = forms.ChoiceField(
        label=_("Purpose its answers serve"),
        help_text=_("What the brand may do with the answers; a trait leaves Candor only with this consent."),
    )
    required = forms.BooleanField(label=_("An answer is required"), required=False)
    scale_min = forms.IntegerField(label=_("Lowest number"), min_value=-100, max_value=100, required=False)
    scale_max = forms.IntegerField(label=_("Highest number"), min_value=-100, max_value=100, required=False)
    max_length = forms.IntegerField(
        label=_("Longest answer (characters)"), min_value=1, max_value=2000, required=False
    )
    trait = forms.RegexField(
        regex=ID_PATTERN,
        max_length=50,
        required=False,
        label=_("Trait the answer sets"),
        help_text=_("Scale and short-text questions: the trait's key, e.g. fitness. Empty: none."),
        error_messages={
            "invalid": _("Use 1–50 lowercase letters, digits, - and _, starting with a letter or digit.")
        },
    )
    notice_version = forms.ChoiceField(
        label=_("Notice shown"),
        required=False,
        help_text=_("Consent questions: the notice version people read before they agree."),
    )

    def __init__(
        self,
        *args: Any,
        purposes: list[tuple[str, str]],
        notices: list[tuple[str, str]],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["purpose"]).choices = purposes
        cast(forms.ChoiceField, self.fields["notice_version"]).choices = [("", _("None yet")), *notices]
        self.add_texts("text", _("Question"), required=True)
        self.add_texts("help", _("Hint"), required=False)
        self.add_texts("min_label", _("Label of the lowest number"), required=False)
        self.add_texts("max_label", _("Label of the highest number"), required=False)

    def question(self, kept: Mapping[str, Any]) -> dict[str, Any]:
        """The question as the document holds it; `kept` is the question as it was (its
        options stay: they are edited one by one)."""
        data = self.cleaned_data
        kind = data["kind"]
        question: dict[str, Any] = {"id": data["id"], "type": kind, "purpose": data["purpose"]}
        question["text"] = self.texts("text") or {}
        if help_text := self.texts("help"):
            question["help"] = help_text
        if not data["required"]:
            question["required"] = False
        if "options" in kept:
            question["options"] = copy_options(kept["options"])
        if kind == "scale":
            # A question just turned into a scale has no bounds on the page yet: it keeps the
            # ones it had, or gets 1 to 5, which the next save can change.
            had = kept.get("scale", {"min": 1, "max": 5})
            scale: dict[str, Any] = {
                "min": had["min"] if data["scale_min"] is None else data["scale_min"],
                "max": had["max"] if data["scale_max"] is None else data["scale_max"],
            }
            for key in ("min_label", "max_label"):
                if label := self.texts(key):
                    scale[key] = label
            question["scale"] = scale
        if kind == "text" and data["max_length"] is not None:
            question["max_length"] = data["max_length"]
        if kind in ("scale", "text") and data["trait"]:
            question["trait"] = data["trait"]
        if kind == "consent":
            question["notice_version"] = data["notice_version"]
        return question

    @staticmethod
    def initial_of(question: Mapping[str, Any]) -> dict[str, Any]:
        scale = question.get("scale", {})
        return {
            "id": question["id"],
            "was": question["id"],
            "kind": question["type"],
            "purpose": question["purpose"],
            "required": question.get("required", True),
            "scale_min": scale.get("min"),
            "scale_max": scale.get("max"),
            "max_length": question.get("max_length"),
            "trait": question.get("trait", ""),
            "notice_version": question.get("notice_version", ""),
            **QuizForm.initial_texts("text", question.get("text")),
            **QuizForm.initial_texts("help", question.get("help")),
            **QuizForm.initial_texts("min_label", scale.get("min_label")),
            **QuizForm.initial_texts("max_label", scale.get("max_label")),
        }


def copy_options(options: list[Any]) -> list[Any]:
    return copy.deepcopy(options)


# --- Options -------------------------------------------------------------------------------


class OptionAddForm(QuestionTargetForm):
    id = _id_field(_("Option id"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_texts("label", _("Option"), required=True)


class OptionTargetForm(QuestionTargetForm):
    option = forms.IntegerField(widget=forms.HiddenInput, min_value=0, max_value=500)
    option_was = _was()


class OptionForm(OptionTargetForm):
    id = _id_field(_("Option id"))
    traits = forms.CharField(
        label=_("Traits it sets"),
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("One per line, as key = value, e.g. goal = run a marathon."),
    )
    topic = forms.ChoiceField(
        label=_("Subscribe to the topic"),
        required=False,
        help_text=_("Choosing this option subscribes the person to this topic (with its consent)."),
    )
    channel = forms.ChoiceField(
        label=_("On the channel"),
        required=False,
        choices=[("", _("The topic's first channel")), *CHANNEL_LABELS.items()],
    )
    cadence = forms.ChoiceField(
        label=_("At the cadence"),
        required=False,
        choices=[("", _("The topic's default")), *CADENCE_LABELS.items()],
    )

    def __init__(
        self,
        *args: Any,
        topics: list[tuple[str, str]],
        outcomes: list[tuple[str, str]],
        subscriptions: list[Mapping[str, Any]],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.add_texts("label", _("Option"), required=True)
        cast(forms.ChoiceField, self.fields["topic"]).choices = [("", _("None")), *topics]
        self.subscriptions = list(subscriptions)
        for s_index, _subscription in enumerate(self.subscriptions):
            self.fields[f"unsubscribe_{s_index}"] = forms.BooleanField(label=_("Remove"), required=False)
        self.outcome_ids = [outcome_id for outcome_id, _title in outcomes]
        for outcome_id, title in outcomes:
            self.fields[f"score_{outcome_id}"] = forms.IntegerField(
                label=_("Points for “%(outcome)s”") % {"outcome": title},
                required=False,
                min_value=-100,
                max_value=100,
            )

    def clean_traits(self) -> dict[str, str]:
        traits: dict[str, str] = {}
        for number, line in enumerate(self.cleaned_data["traits"].splitlines(), start=1):
            if not line.strip():
                continue
            found = TRAIT_LINE.match(line)
            if found is None or not found.group(2):
                raise forms.ValidationError(
                    _("Line %(number)s: write key = value; a key is lowercase letters, digits, - and _.")
                    % {"number": number}
                )
            if len(found.group(2)) > 200:
                raise forms.ValidationError(
                    _("Line %(number)s: keep a value under 200 characters.") % {"number": number}
                )
            traits[found.group(1)] = found.group(2)
        if len(traits) > 20:
            raise forms.ValidationError(_("An option sets at most 20 traits."))
        return traits

    def option_document(self) -> dict[str, Any]:
        data = self.cleaned_data
        effects: dict[str, Any] = {}
        if data["traits"]:
            effects["traits"] = data["traits"]
        subscribe = [
            dict(s) for s_index, s in enumerate(self.subscriptions) if not data.get(f"unsubscribe_{s_index}")
        ]
        if data["topic"]:
            added: dict[str, Any] = {"topic": data["topic"]}
            if data["channel"]:
                added["channel"] = data["channel"]
            if data["cadence"]:
                added["cadence"] = data["cadence"]
            subscribe.append(added)
        if subscribe:
            effects["subscribe"] = subscribe
        scores = {
            outcome_id: data[f"score_{outcome_id}"]
            for outcome_id in self.outcome_ids
            if data.get(f"score_{outcome_id}") not in (None, 0)
        }
        if scores:
            effects["scores"] = scores
        option: dict[str, Any] = {"id": data["id"], "label": self.texts("label") or {}}
        if effects:
            option["effects"] = effects
        return option

    @staticmethod
    def initial_of(option: Mapping[str, Any]) -> dict[str, Any]:
        effects = option.get("effects", {})
        return {
            "id": option["id"],
            "option_was": option["id"],
            "traits": "\n".join(f"{key} = {value}" for key, value in effects.get("traits", {}).items()),
            **{f"score_{key}": points for key, points in effects.get("scores", {}).items()},
            **QuizForm.initial_texts("label", option.get("label")),
        }


# --- Rules ---------------------------------------------------------------------------------


class RuleAddForm(QuizForm):
    source = forms.ChoiceField(label=_("After the question"))
    test = forms.ChoiceField(label=_("When"), required=False, choices=list(TEST_LABELS.items()))
    value = forms.CharField(
        label=_("Option id or number"),
        required=False,
        max_length=50,
        help_text=_(
            "For “the answer is”, “the answers include”: an option's id; for “at least”, “at most”: a number."
        ),
    )
    to = forms.ChoiceField(label=_("Go to"))
    outcome = forms.ChoiceField(
        label=_("With the outcome"), required=False, help_text=_("Only on a rule that ends the quiz.")
    )

    def __init__(
        self,
        *args: Any,
        questions: list[tuple[str, str]],
        outcomes: list[tuple[str, str]],
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("auto_id", "rule-%s")
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["source"]).choices = questions
        cast(forms.ChoiceField, self.fields["to"]).choices = [*questions, (END, _("The end"))]
        cast(forms.ChoiceField, self.fields["outcome"]).choices = [("", _("By score")), *outcomes]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        test, value = cleaned.get("test", ""), str(cleaned.get("value", "")).strip()
        if test in ("is", "includes"):
            if not re.match(ID_PATTERN, value):
                self.add_error("value", _("Give the id of one of the question's options."))
            cleaned["when_value"] = value
        elif test in ("at_least", "at_most"):
            try:
                cleaned["when_value"] = int(value)
            except ValueError:
                self.add_error("value", _("Give a whole number on the scale."))
        elif test == "answered":
            cleaned["when_value"] = True
        elif test == "not_answered":
            cleaned["test"], cleaned["when_value"] = "answered", False
        else:
            cleaned["when_value"] = None
        if cleaned.get("outcome") and cleaned.get("to") != END:
            self.add_error("outcome", _("An outcome is named only on a rule that ends the quiz."))
        return cleaned


class RuleTargetForm(QuizForm):
    rule = forms.IntegerField(widget=forms.HiddenInput, min_value=0, max_value=500)


class RuleMoveForm(RuleTargetForm):
    direction = forms.ChoiceField(choices=[("up", "up"), ("down", "down")], widget=forms.HiddenInput)


# --- Outcomes ------------------------------------------------------------------------------


class OutcomeAddForm(QuizForm):
    id = _id_field(_("Outcome id"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "add-outcome-%s")
        super().__init__(*args, **kwargs)
        self.add_texts("title", _("Outcome title"), required=True)


class OutcomeTargetForm(QuizForm):
    outcome = forms.IntegerField(widget=forms.HiddenInput, min_value=0, max_value=500)
    was = _was()


class OutcomeForm(OutcomeTargetForm):
    id = _id_field(_("Outcome id"))
    link = forms.CharField(
        label=_("Link"),
        required=False,
        max_length=500,
        help_text=_("Optional: a product or an article, as an https:// address."),
        validators=[HTTPS_URL],
        error_messages={"invalid": _("Use an absolute https:// URL.")},
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["link"].error_messages["invalid"] = _("Use an absolute https:// URL.")
        self.add_texts("title", _("Outcome title"), required=True)
        self.add_texts("text", _("What it tells the person"), required=False, textarea=True)
        self.add_texts("link_label", _("Link text"), required=False)

    def outcome_document(self) -> dict[str, Any]:
        outcome: dict[str, Any] = {"id": self.cleaned_data["id"], "title": self.texts("title") or {}}
        if text := self.texts("text"):
            outcome["text"] = text
        if self.cleaned_data["link"]:
            outcome["link"] = self.cleaned_data["link"]
        if label := self.texts("link_label"):
            outcome["link_label"] = label
        return outcome

    @staticmethod
    def initial_of(outcome: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "id": outcome["id"],
            "was": outcome["id"],
            "link": outcome.get("link", ""),
            **QuizForm.initial_texts("title", outcome.get("title")),
            **QuizForm.initial_texts("text", outcome.get("text")),
            **QuizForm.initial_texts("link_label", outcome.get("link_label")),
        }


# --- Publishing ----------------------------------------------------------------------------


class PublishForm(QuizForm):
    """Publish exactly the draft the map showed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "publish-%s")
        super().__init__(*args, **kwargs)


class ArchiveForm(PageForm):
    quiz = forms.CharField(widget=forms.HiddenInput, max_length=32)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "archive-%s")
        super().__init__(*args, **kwargs)
