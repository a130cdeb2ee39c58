"""The builder's preview: the draft as a customer sees it, drawn by the hosted quiz page's own
templates (templates/jinja2/quizzes/), its texts through the same cleaners (quizzes.markup),
and walked question by question with the same rules (quizzes.document), but nothing is stored
and nothing is counted: no Response, no Answer, no FunnelCount, no event. Where the person is
travels in a signed token of its own (a salt apart from the hosted page's, so neither token
works for the other); a draft changed while someone previews it is walked as it is now, and a
question that is gone starts the preview again."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.template import engines
from django.utils import translation
from django.utils.translation import gettext as _

from preferences.branding import logo_origin
from quizzes import document as quiz_document
from quizzes import markup
from quizzes.document import Document, Question
from quizzes.models import Quiz
from quizzes.views import _problem_message, _safe_link, _text, question_context

SALT = "candor.console.quiz-preview"
SECONDS = 6 * 3600
MAX_LENGTH = 64 * 1024


@dataclass(frozen=True)
class PreviewRun:
    question: str | None  # the question shown; None once finished
    answers: dict[str, Any] = field(default_factory=dict)
    named: str | None = None  # an outcome a rule named on the way
    outcome: str | None = None  # once finished ("" for none)

    def dumps(self) -> str:
        return signing.dumps(asdict(self), salt=SALT, compress=True)

    @classmethod
    def loads(cls, token: str) -> PreviewRun | None:
        if not token or len(token) > MAX_LENGTH:
            return None
        try:
            return cls(**signing.loads(token, salt=SALT, max_age=SECONDS))
        except (signing.BadSignature, TypeError):
            return None


def first_run(document: Document) -> PreviewRun:
    return PreviewRun(question=document.first.id)


def answer(document: Document, run: PreviewRun, raw: Any) -> tuple[PreviewRun, str | None]:
    """The run after an answer to the question shown, or the same run and what is wrong with the
    answer (in the page's words, as the hosted page says it)."""
    question = document.question(run.question or "")
    assert question is not None
    value, problem = quiz_document.answer_problem(question, raw)
    if problem is not None:
        return run, _problem_message(question, raw)
    answers = {**run.answers, question.id: value}
    step = quiz_document.next_step(document, question.id, value)
    named = step.outcome or run.named
    if step.question is not None and document.question(step.question) is not None:
        return PreviewRun(question=step.question, answers=answers, named=named), None
    known = {o.id for o in document.outcomes}
    try:  # an unfinished draft may name or score an outcome it does not have
        outcome = quiz_document.outcome_for(document, answers, named if named in known else None)
    except KeyError:
        outcome = None
    return PreviewRun(question=None, answers=answers, outcome=outcome.id if outcome else ""), None


def render(
    request: HttpRequest,
    quiz: Quiz,
    document: Document,
    run: PreviewRun,
    *,
    urls: dict[str, str],
    error: str | None = None,
    given: Any = None,
    status: int = 200,
) -> HttpResponse:
    """The hosted page's question (or outcome) template for the run, with a note that this is a
    preview and the console's way back: in the staff member's language, as a customer who reads
    it sees the quiz (a text the quiz lacks in it shows in the quiz's language, marked so)."""
    language = translation.get_language() or document.language
    with translation.override(language):
        if run.question is None:
            template, context = "console/quizzes/preview_done.html", _done(document, run)
        else:
            question = document.question(run.question)
            assert question is not None
            template = "console/quizzes/preview_question.html"
            context = _question(quiz, document, question, run, error=error, given=given)
            context["action"] = urls["action"]
        brand = quiz.brand
        origin = logo_origin(brand)
        page = (
            engines["pages"]
            .get_template(template)
            .render(
                {
                    "brand": brand,
                    "logo": brand.logo_url if origin else "",
                    "quiz": quiz,
                    "preview": True,
                    "urls": urls,
                    "host_origin": None,
                    **context,
                },
                request,
            )
        )
        response = HttpResponse(page, status=status)
        response["Content-Language"] = language
    response.console_img_origin = origin  # type: ignore[attr-defined]  # console.middleware
    return response


def _question(
    quiz: Quiz, document: Document, question: Question, run: PreviewRun, *, error: str | None, given: Any
) -> dict[str, Any]:
    return {
        **question_context(
            quiz, document, question, answered=len(run.answers), state=run.dumps(), error=error, given=given
        ),
        "saved": False,
        "can_save": False,  # saving progress stores a response: never in a preview
    }


def _done(document: Document, run: PreviewRun) -> dict[str, Any]:
    outcome = next((o for o in document.outcomes if o.id == run.outcome), None)
    return {
        "title": _text(document.title, document),
        "outcome": outcome,
        "outcome_title": _text(outcome.title, document) if outcome else ("", None),
        "outcome_text": _text(outcome.text, document, markup.rich) if outcome else ("", None),
        "outcome_link": _safe_link(outcome.link) if outcome else None,
        "link_label": _text(outcome.link_label, document) if outcome else ("", None),
    }


def expired_message() -> str:
    return _("This preview has expired or is not valid. Start it again.")
