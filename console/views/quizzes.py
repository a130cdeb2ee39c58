"""The quiz builder (owners and editors; support sees none of it). Viewers read the list of
quizzes, which leads them to each published quiz's funnel (console/views/quiz_funnel.py), but
not the drafts: a draft is unpublished work, as the API keeps quizzes behind its `admin` scope.

- the list of the brand's quizzes, creating one, importing one from a file;
- the preview (console.quiz_preview), the branch map with publishing and archiving, and the
  export of the draft or a published version as the document the API serves;
- the helpers the editor (console/views/quiz_editor.py) shares with these pages.

Every form posts and redirects (no JavaScript needed).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.contrib import messages
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
    ImportForm,
    PublishForm,
    QuizCreateForm,
    language_names,
)
from console.quiz_map import own_text, quiz_map, where
from console.quiz_messages import problem_text
from console.quiz_selectors import builder_catalogue, builder_quiz, builder_quizzes
from console.service_messages import refusal_errors as service_refusal_errors
from quizzes.api import document_etag
from quizzes.document import END, parse
from quizzes.models import Quiz, QuizStatus
from quizzes.services import publish_problems, quiz_archive, quiz_create, quiz_publish

# The list: those who may read a quiz's funnel (owners, editors, viewers).
LIST_READERS = frozenset(
    {Membership.Role.OWNER.value, Membership.Role.EDITOR.value, Membership.Role.VIEWER.value}
)


def console_of(request: HttpRequest) -> Any:
    return request.console  # type: ignore[attr-defined]


def actor(request: HttpRequest) -> Actor:
    return Actor.staff(request.user)


def see_other(url: str) -> HttpResponse:
    response = HttpResponseRedirect(url)
    response.status_code = 303
    return response


def editor_url(quiz: Quiz, anchor: str = "") -> str:
    url = reverse("console:quiz", args=[quiz.brand.slug, quiz.public_id])
    return f"{url}#{anchor}" if anchor else url


def quiz_or_404(request: HttpRequest, quiz_id: str) -> Quiz | None:
    return builder_quiz(brand=console_of(request).brand, public_id=quiz_id)


def refusal_errors(refused: ApplicationError) -> dict[str, list[str]]:
    """A service's refusal per place, in the staff member's language where the text is known."""
    return {
        place: [problem_text(problem) for problem in problems]
        for place, problems in service_refusal_errors(refused).items()
    }


def labels(document: Mapping[str, Any]) -> dict[str, Any]:
    parsed_language = document["language"]
    return {
        "kind_labels": KIND_LABELS,
        "test_labels": TEST_LABELS,
        "language_names": language_names(),
        "own": lambda texts: (texts or {}).get(parsed_language, "") or next(iter((texts or {}).values()), ""),
    }


# --- The list --------------------------------------------------------------------------------


def _list_page(
    request: HttpRequest,
    *,
    create: QuizCreateForm | None = None,
    upload: ImportForm | None = None,
    status: int = 200,
) -> HttpResponse:
    brand = console_of(request).brand
    catalogue = builder_catalogue(brand=brand)
    create = create or QuizCreateForm(
        purposes=catalogue.purposes, initial={"language": brand.default_language, "kind": "single"}
    )
    upload = upload or ImportForm()
    errors = summary(create, "add-quiz") + summary(upload, "import-quiz")
    context = {
        "quizzes": builder_quizzes(brand=brand),
        "create": create,
        "upload": upload,
        "errors": errors,
        "has_purposes": bool(catalogue.purposes),
        "may_edit": console_of(request).role in EDITORS,
        "status_labels": status_labels(),
    }
    return render(request, "console/quizzes/list.html", context, status=status)


def status_labels() -> dict[str, str]:
    return {
        QuizStatus.DRAFT.value: _("Draft"),
        QuizStatus.PUBLISHED.value: _("Published"),
        QuizStatus.ARCHIVED.value: _("Archived"),
    }


def summary(form: Any, anchor: str) -> list[tuple[str, str]]:
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
    brand = console_of(request).brand
    if request.POST["action"] == "import":
        upload = ImportForm(request.POST, request.FILES)
        document = uploaded_document(upload)
        if document is None:
            return _list_page(request, upload=upload, status=400)
        try:
            quiz = quiz_create(brand=brand, actor=actor(request), document=document)
        except ApplicationError as refused:
            file_errors_into(upload, refused, document)
            return _list_page(request, upload=upload, status=refused.status)
        messages.success(request, _("Quiz “%(title)s” imported as a new draft.") % {"title": quiz.title})
        return see_other(editor_url(quiz))
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
        quiz = quiz_create(brand=brand, actor=actor(request), document=document)
    except ApplicationError as refused:
        for problems in refusal_errors(refused).values():
            for problem in problems:
                create.add_error(None, problem)
        return _list_page(request, create=create, status=refused.status)
    messages.success(request, _("Quiz “%(title)s” created. Now add its questions.") % {"title": quiz.title})
    return see_other(editor_url(quiz))


def uploaded_document(upload: ImportForm) -> Any:
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


def file_errors_into(upload: ImportForm, refused: ApplicationError, document: Mapping[str, Any]) -> None:
    """The document's problems on the file field, each with the place in the file it concerns."""
    upload.add_error("file", _("Nothing was imported: the document does not match the quiz schema."))
    for pointer, problems in refusal_errors(refused).items():
        for problem in problems:
            place = f"{pointer} ({where(pointer, document)})" if pointer.startswith("/") else pointer
            upload.add_error("file", f"{place}: {problem}")


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
        "status_labels": status_labels(),
        "END": END,
        "outcome_titles": {o.id: own_text(o.title, parse(document)) for o in parse(document).outcomes},
        **labels(document),
    }
    return render(request, "console/quizzes/map.html", context, status=status)


@brand_page(read=EDITORS, actions={"publish": EDITORS, "archive": EDITORS})
def quiz_map_page(request: HttpRequest, brand_slug: str, quiz_id: str) -> HttpResponse:
    """The branches of the draft with what stops it from being published; publish, archive."""
    found = quiz_or_404(request, quiz_id)
    if found is None:
        return refusal(request, 404, console_of(request))
    if request.method != "POST":
        return _map_page(request, found)
    here = reverse("console:quiz_map", args=[found.brand.slug, found.public_id])
    if request.POST["action"] == "archive":
        archive = ArchiveForm(request.POST)
        if not archive.is_valid() or archive.cleaned_data["quiz"] != found.public_id:
            return _map_page(
                request, found, errors=[("#archive", _("Say which quiz to archive."))], status=400
            )
        quiz_archive(quiz=found, actor=actor(request))
        messages.success(request, _("Quiz archived: it can no longer be answered or edited."))
        return see_other(here)
    form = PublishForm(request.POST)
    if not form.is_valid():
        return _map_page(request, found, errors=[("#publish", _("Publish from the branch map."))], status=400)
    if form.cleaned_data["draft"] != document_etag(found.draft):
        problem = _("The draft has changed since this page was shown; check the map again before publishing.")
        return _map_page(request, found, errors=[("#publish", problem)], status=409)
    try:
        version = quiz_publish(quiz=found, actor=actor(request))
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
    return see_other(here)


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
    found = quiz_or_404(request, quiz_id)
    if found is None:
        return refusal(request, 404, console_of(request))
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
    return see_other(f"{urls['action']}?state={following.dumps()}")


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
    found = quiz_or_404(request, quiz_id)
    if found is None:
        return refusal(request, 404, console_of(request))
    raw = request.GET.get("version", "")
    if raw:
        if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= 2**31 - 1:
            return refusal(request, 400, console_of(request))
        version = found.versions.filter(number=int(raw)).first()
        if version is None:
            return refusal(request, 404, console_of(request))
        document, name = version.document, f"{found.public_id}-v{version.number}.json"
    else:
        document, name = found.draft, f"{found.public_id}-draft.json"
    body = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["ETag"] = document_etag(document)
    return response
