"""The quiz builder (owners and editors; support sees none of it). Viewers read the list of
quizzes, which leads them to each published quiz's funnel (console/views/quiz_funnel.py), but
not the drafts: a draft is unpublished work, as the API keeps quizzes behind its `admin` scope.

- the list of the brand's quizzes, creating one, importing one from a file;
- the editor: one screen with a plain form for each part of the draft (its title, each
  question, each option with its effects, the rules, the outcomes), each saving the whole draft
  through quizzes.services.quiz_draft_save with the staff member as the audit actor;
- the preview (console.quiz_preview), the branch map with publishing and archiving, and the
  export of the draft or a published version as the document the API serves.

Every form posts and redirects (no JavaScript needed). An editing form names the draft it was
drawn from (`draft`, the API's ETag): if the draft has changed since, nothing is saved and the
editor says so (409), instead of applying an edit to something its author did not see.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template import engines
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from brands.audit import Actor
from brands.models import Membership
from config.errors import ApplicationError, Conflict, Unprocessable
from console import quiz_editing as edit
from console import quiz_preview as preview
from console.access import EDITORS, brand_page
from console.pages import refusal, render
from console.quiz_forms import (
    IMPORT_MAX_BYTES,
    KIND_LABELS,
    TEST_LABELS,
    ArchiveForm,
    DetailsForm,
    ImportForm,
    OptionAddForm,
    OptionForm,
    OptionTargetForm,
    OutcomeAddForm,
    OutcomeForm,
    OutcomeTargetForm,
    PublishForm,
    QuestionAddForm,
    QuestionForm,
    QuestionMoveForm,
    QuestionTargetForm,
    QuizCreateForm,
    QuizForm,
    RuleAddForm,
    RuleMoveForm,
    RuleTargetForm,
    language_names,
)
from console.quiz_map import own_text, quiz_map, where
from console.quiz_messages import problem_text
from console.quiz_selectors import Catalogue, builder_catalogue, builder_quiz, builder_quizzes
from console.service_messages import refusal_errors as service_refusal_errors
from quizzes import selectors as quiz_selectors
from quizzes.api import document_etag
from quizzes.document import END, parse
from quizzes.models import Quiz, QuizStatus
from quizzes.services import publish_problems, quiz_archive, quiz_create, quiz_draft_save, quiz_publish

# The list: those who may read a quiz's funnel (owners, editors, viewers).
LIST_READERS = frozenset(
    {Membership.Role.OWNER.value, Membership.Role.EDITOR.value, Membership.Role.VIEWER.value}
)

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


def _console(request: HttpRequest) -> Any:
    return request.console  # type: ignore[attr-defined]


def _actor(request: HttpRequest) -> Actor:
    return Actor.staff(request.user)


def _see_other(url: str) -> HttpResponse:
    response = HttpResponseRedirect(url)
    response.status_code = 303
    return response


def _editor_url(quiz: Quiz, anchor: str = "") -> str:
    url = reverse("console:quiz", args=[quiz.brand.slug, quiz.public_id])
    return f"{url}#{anchor}" if anchor else url


def _quiz_or_404(request: HttpRequest, quiz_id: str) -> Quiz | None:
    return builder_quiz(brand=_console(request).brand, public_id=quiz_id)


def refusal_errors(refused: ApplicationError) -> dict[str, list[str]]:
    """A service's refusal per place, in the staff member's language where the text is known."""
    return {
        place: [problem_text(problem) for problem in problems]
        for place, problems in service_refusal_errors(refused).items()
    }


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


# --- The list --------------------------------------------------------------------------------


def _list_page(
    request: HttpRequest,
    *,
    create: QuizCreateForm | None = None,
    upload: ImportForm | None = None,
    status: int = 200,
) -> HttpResponse:
    brand = _console(request).brand
    catalogue = builder_catalogue(brand=brand)
    create = create or QuizCreateForm(
        purposes=catalogue.purposes, initial={"language": brand.default_language, "kind": "single"}
    )
    upload = upload or ImportForm()
    errors = _summary(create, "add-quiz") + _summary(upload, "import-quiz")
    context = {
        "quizzes": builder_quizzes(brand=brand),
        "create": create,
        "upload": upload,
        "errors": errors,
        "has_purposes": bool(catalogue.purposes),
        "may_edit": _console(request).role in EDITORS,
        "status_labels": _status_labels(),
    }
    return render(request, "console/quizzes/list.html", context, status=status)


def _status_labels() -> dict[str, str]:
    return {
        QuizStatus.DRAFT.value: _("Draft"),
        QuizStatus.PUBLISHED.value: _("Published"),
        QuizStatus.ARCHIVED.value: _("Archived"),
    }


def _summary(form: Any, anchor: str) -> list[tuple[str, str]]:
    """The form's errors for the error summary; one about the form as a whole links to it."""
    if form is None or not form.is_bound or not form.errors:
        return []
    return [(f"#{anchor}" if href == "#main" else href, message) for href, message in form.error_summary()]


@brand_page(read=LIST_READERS, actions={"create": EDITORS, "import": EDITORS})
def quizzes(request: HttpRequest, brand_slug: str) -> HttpResponse:
    """The brand's quizzes (viewers: to reach a funnel); owners and editors make a new one from
    a title and its first question, or from a file."""
    if request.method != "POST":
        return _list_page(request)
    brand = _console(request).brand
    if request.POST["action"] == "import":
        upload = ImportForm(request.POST, request.FILES)
        document = _uploaded_document(upload)
        if document is None:
            return _list_page(request, upload=upload, status=400)
        try:
            quiz = quiz_create(brand=brand, actor=_actor(request), document=document)
        except ApplicationError as refused:
            _file_errors_into(upload, refused, document)
            return _list_page(request, upload=upload, status=refused.status)
        messages.success(request, _("Quiz “%(title)s” imported as a new draft.") % {"title": quiz.title})
        return _see_other(_editor_url(quiz))
    catalogue = builder_catalogue(brand=brand)
    create = QuizCreateForm(request.POST, purposes=catalogue.purposes)
    if not create.is_valid():
        return _list_page(request, create=create, status=400)
    data = create.cleaned_data
    language = data["language"]
    document = edit.new_document(
        language=language,
        title={language: data["title"].strip()},
        question=edit.blank_question(
            kind=data["kind"],
            question_id="q1",
            purpose=data["purpose"],
            text={language: data["text"].strip()},
        ),
    )
    try:
        quiz = quiz_create(brand=brand, actor=_actor(request), document=document)
    except ApplicationError as refused:
        for problems in refusal_errors(refused).values():
            for problem in problems:
                create.add_error(None, problem)
        return _list_page(request, create=create, status=refused.status)
    messages.success(request, _("Quiz “%(title)s” created. Now add its questions.") % {"title": quiz.title})
    return _see_other(_editor_url(quiz))


def _uploaded_document(upload: ImportForm) -> Any:
    """The uploaded file as a JSON object, or None with the reason on the form."""
    if not upload.is_valid():
        return None
    file = upload.cleaned_data["file"]
    if file.size > IMPORT_MAX_BYTES:
        upload.add_error("file", _("The file is larger than 512 KB; a quiz document is much smaller."))
        return None
    try:
        document = json.loads(file.read().decode("utf-8"))
    except UnicodeDecodeError:
        upload.add_error("file", _("The file is not UTF-8 text; export the quiz as JSON again."))
        return None
    except json.JSONDecodeError as error:
        upload.add_error(
            "file",
            _("The file is not valid JSON: %(problem)s at line %(line)s, column %(column)s.")
            % {"problem": error.msg, "line": error.lineno, "column": error.colno},
        )
        return None
    if not isinstance(document, dict):
        upload.add_error("file", _("The file must hold one JSON object: a quiz document."))
        return None
    return document


def _file_errors_into(upload: ImportForm, refused: ApplicationError, document: Mapping[str, Any]) -> None:
    """The document's problems on the file field, each with the place in the file it concerns."""
    upload.add_error("file", _("Nothing was imported: the document does not match the quiz schema."))
    for pointer, problems in refusal_errors(refused).items():
        for problem in problems:
            place = f"{pointer} ({where(pointer, document)})" if pointer.startswith("/") else pointer
            upload.add_error("file", f"{place}: {problem}")


# --- The editor ------------------------------------------------------------------------------


@dataclass
class Bound:
    """The posted form, where it belongs on the page (slot), and its anchor."""

    slot: tuple[Any, ...]
    form: Any
    anchor: str


def _labels(document: Mapping[str, Any]) -> dict[str, Any]:
    parsed_language = document["language"]
    return {
        "kind_labels": KIND_LABELS,
        "test_labels": TEST_LABELS,
        "language_names": language_names(),
        "own": lambda texts: (texts or {}).get(parsed_language, "") or next(iter((texts or {}).values()), ""),
    }


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
    brand = _console(request).brand
    document = quiz.draft
    etag = document_etag(document)
    catalogue = builder_catalogue(brand=brand)
    forms = _editor_forms(document, etag, catalogue, bound)
    errors = _summary(bound.form, bound.anchor) if bound is not None else []
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
        "status_labels": _status_labels(),
        "has_topics": bool(catalogue.topics),
        "END": END,
        **forms,
        **_labels(document),
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
    found = _quiz_or_404(request, quiz_id)
    if found is None:
        return refusal(request, 404, _console(request))
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
            saved = quiz_draft_save(quiz=locked, actor=_actor(request), document=changed)
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
    return _see_other(_editor_url(saved, anchor))


def _import_into(request: HttpRequest, found: Quiz) -> HttpResponse:
    upload = ImportForm(request.POST, request.FILES)
    bound = Bound(slot=("import",), form=upload, anchor="import")
    document = _uploaded_document(upload)
    if document is None:
        return _editor_page(request, found, bound=bound, status=400)
    try:
        saved = quiz_draft_save(quiz=found, actor=_actor(request), document=document)
    except Conflict as refused:
        problem = _("This quiz is archived; it can no longer be edited.")
        return _editor_page(request, found, bound=bound, problem=problem, status=refused.status)
    except Unprocessable as refused:
        _file_errors_into(upload, refused, document)
        return _editor_page(request, found, bound=bound, status=refused.status)
    messages.success(request, _("The draft was replaced by the imported document."))
    return _see_other(_editor_url(saved))


# --- The branch map, publishing, archiving ---------------------------------------------------


def _map_page(
    request: HttpRequest, quiz: Quiz, *, errors: list[tuple[str, str]] | None = None, status: int = 200
) -> HttpResponse:
    found = publish_problems(quiz=quiz)
    document = quiz.draft
    drawn = quiz_map(document, found)
    context = {
        "quiz": quiz,
        "map": drawn,
        "problems": found,
        "etag": document_etag(document),
        "errors": errors or [],
        "archived": quiz.status == QuizStatus.ARCHIVED,
        "live_is_draft": quiz.live_version is not None and quiz.live_version.document == document,
        "status_labels": _status_labels(),
        "END": END,
        "outcome_titles": {o.id: own_text(o.title, parse(document)) for o in parse(document).outcomes},
        **_labels(document),
    }
    return render(request, "console/quizzes/map.html", context, status=status)


@brand_page(read=EDITORS, actions={"publish": EDITORS, "archive": EDITORS})
def quiz_map_page(request: HttpRequest, brand_slug: str, quiz_id: str) -> HttpResponse:
    """The branches of the draft with what stops it from being published; publish, archive."""
    found = _quiz_or_404(request, quiz_id)
    if found is None:
        return refusal(request, 404, _console(request))
    if request.method != "POST":
        return _map_page(request, found)
    here = reverse("console:quiz_map", args=[found.brand.slug, found.public_id])
    if request.POST["action"] == "archive":
        archive = ArchiveForm(request.POST)
        if not archive.is_valid() or archive.cleaned_data["quiz"] != found.public_id:
            return _map_page(
                request, found, errors=[("#archive", _("Say which quiz to archive."))], status=400
            )
        quiz_archive(quiz=found, actor=_actor(request))
        messages.success(request, _("Quiz archived: it can no longer be answered or edited."))
        return _see_other(here)
    form = PublishForm(request.POST)
    if not form.is_valid():
        return _map_page(request, found, errors=[("#publish", _("Publish from the branch map."))], status=400)
    if form.cleaned_data["draft"] != document_etag(found.draft):
        problem = _("The draft has changed since this page was shown; check the map again before publishing.")
        return _map_page(request, found, errors=[("#publish", problem)], status=409)
    try:
        version = quiz_publish(quiz=found, actor=_actor(request))
    except Conflict as refused:
        problem = _("This quiz is archived; it can no longer be published.")
        return _map_page(request, found, errors=[("#publish", problem)], status=refused.status)
    except Unprocessable as refused:
        errors = [
            (_problem_anchor(pointer), f"{where(pointer, found.draft)}: {message}")
            for pointer, messages_ in refusal_errors(refused).items()
            for message in messages_
        ]
        return _map_page(request, found, errors=errors, status=refused.status)
    messages.success(
        request,
        _("Version %(version)s is live on %(url)s.")
        % {"version": version.number, "url": f"/q/{found.public_id}/"},
    )
    return _see_other(here)


def _problem_anchor(pointer: str) -> str:
    parts = pointer.strip("/").split("/")
    if len(parts) >= 2 and parts[0] == "questions" and parts[1].isdigit():
        return f"#map-q-{parts[1]}"
    return "#problems"


# --- Preview ---------------------------------------------------------------------------------


def _preview_urls(quiz: Quiz) -> dict[str, str]:
    args = [quiz.brand.slug, quiz.public_id]
    preview_url = reverse("console:quiz_preview", args=args)
    return {
        "action": preview_url,
        "restart": preview_url,
        "editor": reverse("console:quiz", args=args),
        "map": reverse("console:quiz_map", args=args),
    }


@brand_page(read=EDITORS, actions={"next": EDITORS})
def quiz_preview(request: HttpRequest, brand_slug: str, quiz_id: str) -> HttpResponse:
    """The draft as a customer sees it, one question per page; nothing is stored or counted."""
    found = _quiz_or_404(request, quiz_id)
    if found is None:
        return refusal(request, 404, _console(request))
    document = parse(found.draft)
    urls = _preview_urls(found)
    token = request.POST.get("state") if request.method == "POST" else request.GET.get("state")
    if token is None and request.method != "POST":
        return preview.render(request, found, document, preview.first_run(document), urls=urls)
    run = preview.PreviewRun.loads(token or "")
    if run is not None and run.question is not None and document.question(run.question) is None:
        run = None  # the draft lost that question since
    if run is None:
        return _preview_problem(request, found, urls)
    if request.method != "POST" or run.question is None:
        return preview.render(request, found, document, run, urls=urls)
    question = document.question(run.question)
    assert question is not None
    raw = request.POST.getlist("answer") if question.kind == "multiple" else request.POST.get("answer")
    following, problem = preview.answer(document, run, raw)
    if problem is not None:
        return preview.render(request, found, document, run, urls=urls, error=problem, given=raw, status=422)
    return _see_other(f"{urls['action']}?state={following.dumps()}")


def _preview_problem(request: HttpRequest, quiz: Quiz, urls: dict[str, str]) -> HttpResponse:
    language = quiz.draft.get("language", "en")
    with translation.override(language):
        page = (
            engines["pages"]
            .get_template("console/quizzes/preview_problem.html")
            .render(
                {
                    "brand": quiz.brand,
                    "logo": "",
                    "quiz": quiz,
                    "urls": urls,
                    "message": preview.expired_message(),
                    "restart": urls["restart"],
                    "title": ("", None),
                    "host_origin": None,
                },
                request,
            )
        )
    return HttpResponse(page, status=400)


# --- Export ----------------------------------------------------------------------------------


@brand_page(read=EDITORS)
def quiz_export(request: HttpRequest, brand_slug: str, quiz_id: str) -> HttpResponse:
    """The draft (or ?version=N, a published version) as a file: the document GET
    /api/v1/quizzes/{id} serves, ready to keep in version control and import again."""
    found = _quiz_or_404(request, quiz_id)
    if found is None:
        return refusal(request, 404, _console(request))
    raw = request.GET.get("version", "")
    if raw:
        if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= 2**31 - 1:
            return refusal(request, 400, _console(request))
        version = found.versions.filter(number=int(raw)).first()
        if version is None:
            return refusal(request, 404, _console(request))
        document, name = version.document, f"{found.public_id}-v{version.number}.json"
    else:
        document, name = found.draft, f"{found.public_id}-draft.json"
    body = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["ETag"] = document_etag(document)
    return response
