"""The quiz editor (owners and editors): one screen with a plain form for each part of a quiz's
draft (its title, each question, each option with its effects, the rules, the outcomes), each
saving the whole draft through quizzes.services.quiz_draft_save with the staff member as the
audit actor; a file replaces the whole draft. Its own module because it is most of the quiz
builder (a table of editing actions, each with its form, its change and where the page shows
it); the list, the branch map, the preview, the export and the helpers the editor shares with
them are in console/views/quizzes.py.

Every form posts and redirects (no JavaScript needed). An editing form names the draft it was
drawn from (`draft`, the API's ETag): if the draft has changed since, nothing is saved and the
editor says so (409), instead of applying an edit to something its author did not see."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _

from config.errors import ApplicationError, Conflict, Unprocessable
from console import quiz_editing as edit
from console.access import EDITORS, brand_page
from console.pages import refusal, render
from console.quiz_forms import (
    TEST_LABELS,
    DetailsForm,
    ImportForm,
    OptionAddForm,
    OptionForm,
    OptionTargetForm,
    OutcomeAddForm,
    OutcomeForm,
    OutcomeTargetForm,
    QuestionAddForm,
    QuestionForm,
    QuestionMoveForm,
    QuestionTargetForm,
    QuizForm,
    RuleAddForm,
    RuleMoveForm,
    RuleTargetForm,
)
from console.quiz_map import where
from console.quiz_selectors import Catalogue, builder_catalogue
from console.views.quizzes import (
    actor,
    console_of,
    editor_url,
    file_errors_into,
    labels,
    quiz_or_404,
    refusal_errors,
    see_other,
    status_labels,
    summary,
    uploaded_document,
)
from quizzes import selectors as quiz_selectors
from quizzes.api import document_etag
from quizzes.document import END
from quizzes.models import Quiz, QuizStatus
from quizzes.services import publish_problems, quiz_draft_save

EDIT_ACTIONS = (
    "details",
    "question-add",
    "question-save",
    "question-delete",
    "question-move",
    "option-add",
    "option-save",
    "option-delete",
    "rule-add",
    "rule-delete",
    "rule-move",
    "outcome-add",
    "outcome-save",
    "outcome-delete",
    "import",
)


class Refused(Exception):
    """An edit that cannot be applied: a message for the form, and the status to answer."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message, self.status = message, status


def _service_errors_into(
    form: Any, refused: ApplicationError, base: str, raw: Mapping[str, Any], aliases: Mapping[str, str]
) -> None:
    """A service's refusal shown on the form: an error keyed by a JSON pointer under `base`
    goes next to the field it names; any other, with where it is, above the form."""
    for pointer, problems in refusal_errors(refused).items():
        name = _field_for(form, base, pointer, aliases) if pointer.startswith("/") else None
        for problem in problems:
            if name is not None:
                form.add_error(name, problem)
            elif pointer.startswith("/"):
                form.add_error(None, f"{where(pointer, raw)}: {problem}")
            else:
                form.add_error(None, problem)


def _field_for(form: Any, base: str, pointer: str, aliases: Mapping[str, str]) -> str | None:
    if pointer != base and not pointer.startswith(base + "/"):
        return None
    parts = [aliases.get(part, part) for part in pointer[len(base) :].strip("/").split("/") if part]
    if len(parts) > 1 and parts[0] == "scale" and parts[1] in ("min_label", "max_label"):
        parts = parts[1:]
    for length in range(len(parts), 0, -1):
        name = "_".join(parts[:length])
        for candidate in (name, f"{name}_{getattr(form, 'language', '')}"):
            if candidate in form.fields:
                return candidate
    return None


@dataclass
class Bound:
    """The posted form, where it belongs on the page (slot), and its anchor."""

    slot: tuple[Any, ...]
    form: Any
    anchor: str


def _question_choices(document: Mapping[str, Any]) -> list[tuple[str, str]]:
    language = document["language"]
    return [
        (q["id"], f"{n}. {q['id']} – {(q.get('text') or {}).get(language, '')}"[:120])
        for n, q in enumerate(document["questions"], start=1)
    ]


def _outcome_choices(document: Mapping[str, Any]) -> list[tuple[str, str]]:
    language = document["language"]
    return [
        (o["id"], f"{o['id']} – {(o.get('title') or {}).get(language, '')}"[:120])
        for o in document.get("outcomes", [])
    ]


def _editor_forms(
    document: Mapping[str, Any], etag: str, catalogue: Catalogue, bound: Bound | None
) -> dict[str, Any]:
    """Every form of the editor, unbound, but the posted one in its place."""
    language = document["language"]
    common = {"language": language}
    taken = bound.slot if bound else None

    def pick(slot: tuple[Any, ...], make: Callable[[], Any]) -> Any:
        return bound.form if bound is not None and taken == slot else make()

    def posted(slot: tuple[Any, ...]) -> Any:
        return bound.form if bound is not None and taken == slot else None

    details = pick(
        ("details",),
        lambda: DetailsForm(
            initial={
                "draft": etag,
                "new_language": language,
                **QuizForm.initial_texts("title", document["title"]),
            },
            **common,
        ),
    )
    outcomes = _outcome_choices(document)
    questions = []
    for index, question in enumerate(document["questions"]):
        form = posted(("question", index)) or QuestionForm(
            initial={"draft": etag, "position": index, **QuestionForm.initial_of(question)},
            purposes=_with_current(catalogue.purposes, question["purpose"]),
            notices=_with_current(catalogue.notices, question.get("notice_version", "")),
            auto_id=f"q{index}-%s",
            **common,
        )
        options = []
        for o_index, option in enumerate(question.get("options", [])):
            subscriptions = option.get("effects", {}).get("subscribe", [])
            options.append(
                {
                    "option": option,
                    "subscriptions": subscriptions,
                    "form": posted(("option", index, o_index))
                    or OptionForm(
                        initial={
                            "draft": etag,
                            "position": index,
                            "was": question["id"],
                            "option": o_index,
                            **OptionForm.initial_of(option),
                        },
                        topics=catalogue.topics,
                        outcomes=outcomes,
                        subscriptions=subscriptions,
                        auto_id=f"q{index}-o{o_index}-%s",
                        **common,
                    ),
                }
            )
        add_option = posted(("option-add", index)) or OptionAddForm(
            initial={
                "draft": etag,
                "position": index,
                "was": question["id"],
                "id": edit.next_id("o", {o["id"] for o in question.get("options", [])}),
            },
            auto_id=f"q{index}-new-option-%s",
            **common,
        )
        questions.append(
            {"index": index, "question": question, "form": form, "options": options, "add_option": add_option}
        )
    add_question = pick(
        ("question-add",),
        lambda: QuestionAddForm(
            initial={
                "draft": etag,
                "id": edit.next_id("q", {q["id"] for q in document["questions"]}),
                "purpose": document["questions"][-1]["purpose"],
                "kind": "single",
            },
            purposes=catalogue.purposes,
            **common,
        ),
    )
    add_rule = pick(
        ("rule-add",),
        lambda: RuleAddForm(
            initial={"draft": etag}, questions=_question_choices(document), outcomes=outcomes, **common
        ),
    )
    outcome_forms = [
        {
            "index": index,
            "outcome": outcome,
            "form": posted(("outcome", index))
            or OutcomeForm(
                initial={"draft": etag, "outcome": index, **OutcomeForm.initial_of(outcome)},
                auto_id=f"outcome{index}-%s",
                **common,
            ),
        }
        for index, outcome in enumerate(document.get("outcomes", []))
    ]
    add_outcome = pick(
        ("outcome-add",),
        lambda: OutcomeAddForm(
            initial={
                "draft": etag,
                "id": edit.next_id("outcome", {o["id"] for o in document.get("outcomes", [])}),
            },
            **common,
        ),
    )
    upload = pick(("import",), ImportForm)
    return {
        "details": details,
        "questions": questions,
        "add_question": add_question,
        "add_rule": add_rule,
        "outcome_forms": outcome_forms,
        "add_outcome": add_outcome,
        "upload": upload,
    }


def _with_current(choices: list[tuple[str, str]], current: str) -> list[tuple[str, str]]:
    """The choices, plus the draft's current value if the brand no longer has it (so the form
    shows what the draft says; publishing then names the problem)."""
    if not current or any(value == current for value, _label in choices):
        return choices
    return [*choices, (current, _("%(value)s (not the brand's)") % {"value": current})]


def _editor_page(
    request: HttpRequest, quiz: Quiz, *, bound: Bound | None = None, problem: str = "", status: int = 200
) -> HttpResponse:
    brand = console_of(request).brand
    document = quiz.draft
    etag = document_etag(document)
    catalogue = builder_catalogue(brand=brand)
    forms = _editor_forms(document, etag, catalogue, bound)
    errors = summary(bound.form, bound.anchor) if bound is not None else []
    if problem:
        errors = [(f"#{bound.anchor}" if bound else "#main", problem), *errors]
    rules = [
        {"index": index, "rule": rule, "when": _when_words(rule, document)}
        for index, rule in enumerate(document.get("rules", []))
    ]
    found = publish_problems(quiz=quiz)
    context = {
        "quiz": quiz,
        "document": document,
        "etag": etag,
        "rules": rules,
        "errors": errors,
        "bound_anchor": bound.anchor if bound else "",
        "problem_count": len(found),
        "archived": quiz.status == QuizStatus.ARCHIVED,
        "status_labels": status_labels(),
        "has_topics": bool(catalogue.topics),
        "END": END,
        **forms,
        **labels(document),
    }
    return render(request, "console/quizzes/editor.html", context, status=status)


def _when_words(rule: Mapping[str, Any], document: Mapping[str, Any]) -> str:
    when = rule.get("when")
    if not when:
        return _("Always")
    (test, value), *_rest = when.items()
    if test == "answered":
        return str(TEST_LABELS["answered" if value else "not_answered"])
    return f"{TEST_LABELS.get(test, test)} {value}"


@dataclass(frozen=True)
class Edit:
    """One editing action: its form, where the form sits on the page, and the change it makes."""

    form: Callable[[HttpRequest, Mapping[str, Any], Catalogue], Any]
    slot: Callable[[Any], tuple[Any, ...]]
    anchor: Callable[[Any], str]
    base: Callable[[Any, Mapping[str, Any]], str]  # the JSON pointer the form's fields live under
    change: Callable[[Any, Mapping[str, Any]], dict[str, Any]]
    done: Callable[[Any, dict[str, Any]], tuple[str, str]]  # (message, anchor) after saving
    aliases: Mapping[str, str] = field(default_factory=dict)


def _posted_index(request: HttpRequest, name: str) -> int:
    try:
        return max(0, min(int(request.POST.get(name, "0")), 500))
    except ValueError:
        return 0


def _question_at(document: Mapping[str, Any], form: Any) -> dict[str, Any]:
    """The question the form targets, as long as the draft still has it where the page showed
    it."""
    index = form.cleaned_data["position"]
    questions = document["questions"]
    if index >= len(questions) or questions[index]["id"] != form.cleaned_data["was"]:
        raise Refused(_("That question has moved or gone since the page was shown; nothing was saved."), 409)
    return questions[index]


def _option_at(document: Mapping[str, Any], form: Any) -> dict[str, Any]:
    question = _question_at(document, form)
    o_index = form.cleaned_data["option"]
    options = question.get("options", [])
    if o_index >= len(options) or options[o_index]["id"] != form.cleaned_data["option_was"]:
        raise Refused(_("That option has moved or gone since the page was shown; nothing was saved."), 409)
    return options[o_index]


def _rule_at(document: Mapping[str, Any], form: Any) -> dict[str, Any]:
    index = form.cleaned_data["rule"]
    rules = document.get("rules", [])
    if index >= len(rules):
        raise Refused(_("That rule has gone since the page was shown; nothing was saved."), 409)
    return rules[index]


def _outcome_at(document: Mapping[str, Any], form: Any) -> dict[str, Any]:
    index = form.cleaned_data["outcome"]
    outcomes = document.get("outcomes", [])
    if index >= len(outcomes) or outcomes[index]["id"] != form.cleaned_data["was"]:
        raise Refused(_("That outcome has moved or gone since the page was shown; nothing was saved."), 409)
    return outcomes[index]


def _question_form(request: HttpRequest, document: Mapping[str, Any], catalogue: Catalogue) -> QuestionForm:
    index = _posted_index(request, "position")
    questions = document["questions"]
    current = questions[index] if index < len(questions) else {"purpose": "", "notice_version": ""}
    return QuestionForm(
        request.POST,
        purposes=_with_current(catalogue.purposes, current["purpose"]),
        notices=_with_current(catalogue.notices, current.get("notice_version", "")),
        auto_id=f"q{index}-%s",
        language=document["language"],
    )


def _option_form(request: HttpRequest, document: Mapping[str, Any], catalogue: Catalogue) -> OptionForm:
    index, o_index = _posted_index(request, "position"), _posted_index(request, "option")
    questions = document["questions"]
    options = questions[index].get("options", []) if index < len(questions) else []
    subscriptions = options[o_index].get("effects", {}).get("subscribe", []) if o_index < len(options) else []
    return OptionForm(
        request.POST,
        topics=catalogue.topics,
        outcomes=_outcome_choices(document),
        subscriptions=subscriptions,
        auto_id=f"q{index}-o{o_index}-%s",
        language=document["language"],
    )


def _plain(form_class: Any, auto_id: Callable[[HttpRequest], str] | None = None) -> Any:
    def make(request: HttpRequest, document: Mapping[str, Any], catalogue: Catalogue) -> Any:
        kwargs: dict[str, Any] = {"language": document["language"]}
        if auto_id is not None:
            kwargs["auto_id"] = auto_id(request)
        return form_class(request.POST, **kwargs)

    return make


def _details_change(form: DetailsForm, document: Mapping[str, Any]) -> dict[str, Any]:
    return edit.details_set(document, language=form.cleaned_data["new_language"], title=form.title())


def _question_add(form: QuestionAddForm, document: Mapping[str, Any]) -> dict[str, Any]:
    data = form.cleaned_data
    if data["id"] in {q["id"] for q in document["questions"]}:
        form.add_error("id", _("The quiz already has a question with this id."))
        raise Refused("", 422)
    question = edit.blank_question(
        kind=data["kind"], question_id=data["id"], purpose=data["purpose"], text=form.texts("text") or {}
    )
    return edit.question_add(document, question)


def _question_save(form: QuestionForm, document: Mapping[str, Any]) -> dict[str, Any]:
    current = _question_at(document, form)
    index = form.cleaned_data["position"]
    if form.cleaned_data["id"] != current["id"] and form.cleaned_data["id"] in {
        q["id"] for q in document["questions"]
    }:
        form.add_error("id", _("The quiz already has a question with this id."))
        raise Refused("", 422)
    return edit.question_set(document, index, form.question(current))


def _question_delete(form: QuestionTargetForm, document: Mapping[str, Any]) -> dict[str, Any]:
    _question_at(document, form)
    if len(document["questions"]) == 1:
        raise Refused(_("A quiz keeps at least one question: add another before deleting this one."), 409)
    return edit.question_remove(document, form.cleaned_data["position"])


def _question_move(form: QuestionMoveForm, document: Mapping[str, Any]) -> dict[str, Any]:
    _question_at(document, form)
    step = -1 if form.cleaned_data["direction"] == "up" else 1
    return edit.question_move(document, form.cleaned_data["position"], step)


def _option_add(form: OptionAddForm, document: Mapping[str, Any]) -> dict[str, Any]:
    question = _question_at(document, form)
    if question["type"] not in ("single", "multiple"):
        raise Refused(_("Only a choice question has options."), 409)
    if form.cleaned_data["id"] in {o["id"] for o in question.get("options", [])}:
        form.add_error("id", _("The question already has an option with this id."))
        raise Refused("", 422)
    option = {"id": form.cleaned_data["id"], "label": form.texts("label") or {}}
    return edit.option_add(document, form.cleaned_data["position"], option)


def _option_save(form: OptionForm, document: Mapping[str, Any]) -> dict[str, Any]:
    question = _question_at(document, form)
    current = _option_at(document, form)
    new_id = form.cleaned_data["id"]
    if new_id != current["id"] and new_id in {o["id"] for o in question.get("options", [])}:
        form.add_error("id", _("The question already has an option with this id."))
        raise Refused("", 422)
    return edit.option_set(
        document, form.cleaned_data["position"], form.cleaned_data["option"], form.option_document()
    )


def _option_delete(form: OptionTargetForm, document: Mapping[str, Any]) -> dict[str, Any]:
    _option_at(document, form)
    return edit.option_remove(document, form.cleaned_data["position"], form.cleaned_data["option"])


def _rule_add(form: RuleAddForm, document: Mapping[str, Any]) -> dict[str, Any]:
    data = form.cleaned_data
    rule = edit.rule_of(
        source=data["source"],
        test=data["test"],
        value=data["when_value"],
        to=data["to"],
        outcome=data["outcome"] or None,
    )
    return edit.rule_add(document, rule)


def _rule_delete(form: RuleTargetForm, document: Mapping[str, Any]) -> dict[str, Any]:
    _rule_at(document, form)
    return edit.rule_remove(document, form.cleaned_data["rule"])


def _rule_move(form: RuleMoveForm, document: Mapping[str, Any]) -> dict[str, Any]:
    _rule_at(document, form)
    step = -1 if form.cleaned_data["direction"] == "up" else 1
    return edit.rule_move(document, form.cleaned_data["rule"], step)


def _outcome_add(form: OutcomeAddForm, document: Mapping[str, Any]) -> dict[str, Any]:
    if form.cleaned_data["id"] in {o["id"] for o in document.get("outcomes", [])}:
        form.add_error("id", _("The quiz already has an outcome with this id."))
        raise Refused("", 422)
    return edit.outcome_add(document, {"id": form.cleaned_data["id"], "title": form.texts("title") or {}})


def _outcome_save(form: OutcomeForm, document: Mapping[str, Any]) -> dict[str, Any]:
    current = _outcome_at(document, form)
    new_id = form.cleaned_data["id"]
    if new_id != current["id"] and new_id in {o["id"] for o in document.get("outcomes", [])}:
        form.add_error("id", _("The quiz already has an outcome with this id."))
        raise Refused("", 422)
    return edit.outcome_set(document, form.cleaned_data["outcome"], form.outcome_document())


def _outcome_delete(form: OutcomeTargetForm, document: Mapping[str, Any]) -> dict[str, Any]:
    _outcome_at(document, form)
    return edit.outcome_remove(document, form.cleaned_data["outcome"])


def _posted(name: str) -> Callable[[Any], int]:
    def read(form: Any) -> int:
        raw = str(form.data.get(name, ""))
        return int(raw) if raw.isdigit() else 0

    return read


_question_index = _posted("position")


def _option_anchor(form: Any) -> str:
    return f"q-{_question_index(form)}-o-{_option_index(form)}"


def _moved_to(form: Any, document: Mapping[str, Any]) -> int:
    step = -1 if form.cleaned_data["direction"] == "up" else 1
    return max(0, min(_question_index(form) + step, len(document["questions"]) - 1))


_option_index = _posted("option")
_outcome_index = _posted("outcome")

EDITS: dict[str, Edit] = {
    "details": Edit(
        form=_plain(DetailsForm),
        slot=lambda form: ("details",),
        anchor=lambda form: "details",
        base=lambda form, document: "",
        change=_details_change,
        done=lambda form, document: (_("Quiz details saved."), "details"),
        aliases={"title": "title", "language": "new_language"},
    ),
    "question-add": Edit(
        form=lambda request, document, catalogue: QuestionAddForm(
            request.POST, purposes=catalogue.purposes, language=document["language"]
        ),
        slot=lambda form: ("question-add",),
        anchor=lambda form: "add-question",
        base=lambda form, document: f"/questions/{len(document['questions'])}",
        change=_question_add,
        done=lambda form, document: (
            _("Question added."),
            f"q-{len(document['questions']) - 1}",
        ),
        aliases={"type": "kind"},
    ),
    "question-save": Edit(
        form=_question_form,
        slot=lambda form: ("question", _question_index(form)),
        anchor=lambda form: f"q-{_question_index(form)}",
        base=lambda form, document: f"/questions/{_question_index(form)}",
        change=_question_save,
        done=lambda form, document: (_("Question saved."), f"q-{_question_index(form)}"),
        aliases={"type": "kind"},
    ),
    "question-delete": Edit(
        form=_plain(QuestionTargetForm),
        slot=lambda form: ("button", "question-delete"),  # a button: its form is drawn nowhere
        anchor=lambda form: f"q-{_question_index(form)}",
        base=lambda form, document: f"/questions/{_question_index(form)}",
        change=_question_delete,
        done=lambda form, document: (_("Question deleted, with the rules from and to it."), "questions"),
    ),
    "question-move": Edit(
        form=_plain(QuestionMoveForm),
        slot=lambda form: ("button", "question-move"),  # a button: its form is drawn nowhere
        anchor=lambda form: f"q-{_question_index(form)}",
        base=lambda form, document: f"/questions/{_question_index(form)}",
        change=_question_move,
        done=lambda form, document: (
            _("Question moved."),
            f"q-{_moved_to(form, document)}",
        ),
    ),
    "option-add": Edit(
        form=lambda request, document, catalogue: OptionAddForm(
            request.POST,
            auto_id=f"q{_posted_index(request, 'position')}-new-option-%s",
            language=document["language"],
        ),
        slot=lambda form: ("option-add", _question_index(form)),
        anchor=lambda form: f"q-{_question_index(form)}-add-option",
        base=lambda form, document: f"/questions/{_question_index(form)}/options",
        change=_option_add,
        done=lambda form, document: (_("Option added."), f"q-{_question_index(form)}-options"),
    ),
    "option-save": Edit(
        form=_option_form,
        slot=lambda form: ("option", _question_index(form), _option_index(form)),
        anchor=lambda form: f"q-{_question_index(form)}-o-{_option_index(form)}",
        base=lambda form, document: f"/questions/{_question_index(form)}/options/{_option_index(form)}",
        change=_option_save,
        done=lambda form, document: (
            _("Option saved."),
            f"q-{_question_index(form)}-o-{_option_index(form)}",
        ),
        aliases={"effects": "effects"},
    ),
    "option-delete": Edit(
        form=_plain(OptionTargetForm),
        slot=lambda form: ("button", "option-delete"),  # a button: its form is drawn nowhere
        anchor=lambda form: f"q-{_question_index(form)}-o-{_option_index(form)}",
        base=lambda form, document: f"/questions/{_question_index(form)}/options/{_option_index(form)}",
        change=_option_delete,
        done=lambda form, document: (
            _("Option deleted, with the rules that test it."),
            f"q-{_question_index(form)}-options",
        ),
    ),
    "rule-add": Edit(
        form=lambda request, document, catalogue: RuleAddForm(
            request.POST,
            questions=_question_choices(document),
            outcomes=_outcome_choices(document),
            language=document["language"],
        ),
        slot=lambda form: ("rule-add",),
        anchor=lambda form: "add-rule",
        base=lambda form, document: f"/rules/{len(document.get('rules', []))}",
        change=_rule_add,
        done=lambda form, document: (_("Rule added."), "rules"),
        aliases={"from": "source", "when": "value"},
    ),
    "rule-delete": Edit(
        form=_plain(RuleTargetForm),
        slot=lambda form: ("button", "rule-delete"),  # a button: its form is drawn nowhere
        anchor=lambda form: "rules",
        base=lambda form, document: "/rules",
        change=_rule_delete,
        done=lambda form, document: (_("Rule deleted."), "rules"),
    ),
    "rule-move": Edit(
        form=_plain(RuleMoveForm),
        slot=lambda form: ("button", "rule-move"),  # a button: its form is drawn nowhere
        anchor=lambda form: "rules",
        base=lambda form, document: "/rules",
        change=_rule_move,
        done=lambda form, document: (_("Rule moved."), "rules"),
    ),
    "outcome-add": Edit(
        form=_plain(OutcomeAddForm),
        slot=lambda form: ("outcome-add",),
        anchor=lambda form: "add-outcome",
        base=lambda form, document: f"/outcomes/{len(document.get('outcomes', []))}",
        change=_outcome_add,
        done=lambda form, document: (_("Outcome added."), f"outcome-{len(document['outcomes']) - 1}"),
    ),
    "outcome-save": Edit(
        form=lambda request, document, catalogue: OutcomeForm(
            request.POST,
            auto_id=f"outcome{_posted_index(request, 'outcome')}-%s",
            language=document["language"],
        ),
        slot=lambda form: ("outcome", _outcome_index(form)),
        anchor=lambda form: f"outcome-{_outcome_index(form)}",
        base=lambda form, document: f"/outcomes/{_outcome_index(form)}",
        change=_outcome_save,
        done=lambda form, document: (_("Outcome saved."), f"outcome-{_outcome_index(form)}"),
    ),
    "outcome-delete": Edit(
        form=_plain(OutcomeTargetForm),
        slot=lambda form: ("button", "outcome-delete"),  # a button: its form is drawn nowhere
        anchor=lambda form: f"outcome-{_outcome_index(form)}",
        base=lambda form, document: f"/outcomes/{_outcome_index(form)}",
        change=_outcome_delete,
        done=lambda form, document: (
            _("Outcome deleted, with the scores and rules that named it."),
            "outcomes",
        ),
    ),
}


@brand_page(read=EDITORS, actions=dict.fromkeys(EDIT_ACTIONS, EDITORS))
def quiz(request: HttpRequest, brand_slug: str, quiz_id: str) -> HttpResponse:
    """The editor: the draft's parts, each with its own form; a file replaces the whole draft."""
    found = quiz_or_404(request, quiz_id)
    if found is None:
        return refusal(request, 404, console_of(request))
    if request.method != "POST":
        return _editor_page(request, found)
    action = request.POST["action"]
    if action == "import":
        return _import_into(request, found)
    spec = EDITS[action]
    catalogue = builder_catalogue(brand=found.brand)
    form = spec.form(request, found.draft, catalogue)
    bound = Bound(slot=spec.slot(form), form=form, anchor=spec.anchor(form))
    if not form.is_valid():
        return _editor_page(request, found, bound=bound, status=400)
    try:
        with transaction.atomic():
            # Locked: two editors saving at once cannot both build on the same draft.
            locked = quiz_selectors.quiz_get(brand=found.brand, public_id=found.public_id, for_update=True)
            if locked.status == QuizStatus.ARCHIVED:
                raise Refused(_("This quiz is archived; it can no longer be edited."), 409)
            if form.cleaned_data["draft"] != document_etag(locked.draft):
                raise Refused(
                    _(
                        "The draft has changed since this page was shown (someone else saved, or you did "
                        "in another tab); nothing was saved. The page now shows the draft as it is."
                    ),
                    409,
                )
            changed = spec.change(form, locked.draft)
            saved = quiz_draft_save(quiz=locked, actor=actor(request), document=changed)
    except Refused as refused:
        return _editor_page(request, found, bound=bound, problem=refused.message, status=refused.status)
    except Conflict as refused:
        return _editor_page(
            request,
            found,
            bound=bound,
            problem=_("This quiz is archived; it can no longer be edited."),
            status=refused.status,
        )
    except ApplicationError as refused:
        _service_errors_into(form, refused, spec.base(form, found.draft), found.draft, spec.aliases)
        return _editor_page(request, found, bound=bound, status=refused.status)
    message, anchor = spec.done(form, saved.draft)
    messages.success(request, message)
    return see_other(editor_url(saved, anchor))


def _import_into(request: HttpRequest, found: Quiz) -> HttpResponse:
    upload = ImportForm(request.POST, request.FILES)
    bound = Bound(slot=("import",), form=upload, anchor="import")
    document = uploaded_document(upload)
    if document is None:
        return _editor_page(request, found, bound=bound, status=400)
    try:
        saved = quiz_draft_save(quiz=found, actor=actor(request), document=document)
    except Conflict as refused:
        problem = _("This quiz is archived; it can no longer be edited.")
        return _editor_page(request, found, bound=bound, problem=problem, status=refused.status)
    except Unprocessable as refused:
        file_errors_into(upload, refused, document)
        return _editor_page(request, found, bound=bound, status=refused.status)
    messages.success(request, _("The draft was replaced by the imported document."))
    return see_other(editor_url(saved))
