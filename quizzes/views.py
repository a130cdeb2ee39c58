"""The hosted quiz page, /q/{public_id}/: one question per page, POST/redirect/GET, no JavaScript
needed, and the loader that embeds it on a brand's site (/q/embed.js).

With JavaScript (static/quizzes/step.js) a step is one request, not two: the page's script
sends the form with `Candor-Quiz-Step: 1`, and where a plain POST would redirect, the answer
is the page the redirect names, with that address in `Candor-Quiz-Page` for the browser's
history. Both ways run the same code; only the last line differs (`_go`).

A run's progress (the version, the answers so far, where the person is, their quiz token's
contact, the UTM parameters) travels in a signed, expiring token (`state`: a hidden field of
the form, and the query string of the page the POST redirects to), never in a cookie: inside
a brand's iframe our cookies are third-party ones, which browsers drop. For the same reason the
form is not protected by Django's CSRF cookie: the signed state is the per-render body token,
and a POST must come from our own origin (STANDARDS.md §8, ASVS 3.5.1).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.core import signing
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template import engines
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from brands.embed import embed_origins_allowed
from config.errors import ApplicationError
from config.middleware import hosted_page_csp
from consent.identifiers import truncate_ip
from consent.services import EvidenceInput
from preferences.branding import logo_origin
from preferences.language import language_for
from quizzes import document as quiz_document
from quizzes import markup
from quizzes.document import Document, Question
from quizzes.models import Quiz, QuizVersion, new_response_id
from quizzes.page_selectors import notice_version_shown, quiz_live, quiz_version, version_document
from quizzes.responses import answer_steps, funnel_count, response_complete, response_save
from quizzes.tokens import quiz_token_read

STATE_SALT = "candor.quiz-progress"
STEP_HEADER = "Candor-Quiz-Step"  # from the page's script: answer with the next page, not a 303
PAGE_HEADER = "Candor-Quiz-Page"  # the address of the page answered so (what the 303 would name)
STATE_SECONDS = 24 * 3600  # a run left open longer starts again
STATE_MAX_LENGTH = 64 * 1024
UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
UTM_MAX_LENGTH = 200


@dataclass(frozen=True)
class Run:
    """What the state token carries."""

    version: int
    question: str | None  # the question shown now; None once finished
    answers: dict[str, Any] = field(default_factory=dict)  # key → stored answer (None: blank)
    named: str | None = None  # an outcome a rule named on the way
    contact: int | None = None  # from a valid quiz token, never from the browser
    utm: dict[str, str] = field(default_factory=dict)
    started: float = 0.0  # epoch seconds
    # The run's Response id, chosen when it starts (quizzes.models.new_response_id): the Response
    # is made under it by "save my progress" or on completion, once; the funnel counts each of
    # the run's steps once by it. None in a run begun before runs had one.
    response: str | None = None
    saved: list[str] = field(default_factory=list)  # unused: read in runs begun before
    outcome: str | None = None  # once finished: the outcome's id ("" for none)
    host: str | None = None  # the embedding page's origin, one of the brand's embed origins

    def dumps(self) -> str:
        return signing.dumps(asdict(self), salt=STATE_SALT, compress=True)

    @classmethod
    def loads(cls, token: str) -> Run | None:
        if not token or len(token) > STATE_MAX_LENGTH:
            return None
        try:
            data = signing.loads(token, salt=STATE_SALT, max_age=STATE_SECONDS)
            return cls(**data)
        except (signing.BadSignature, TypeError):
            return None


def _see_other(url: str) -> HttpResponse:
    response = HttpResponseRedirect(url)
    response.status_code = 303
    return response


def _page_url(quiz: Quiz, state: str | None = None, **extra: str) -> str:
    query = {"state": state} if state is not None else {}
    query.update(extra)
    return f"/q/{quiz.public_id}/" + (f"?{urlencode(query)}" if query else "")


def _text(
    texts: Mapping[str, str] | None, document: Document, clean: Callable[[str], str] = markup.plain
) -> tuple[str, str | None]:
    """A brand-authored text in the page's language, else the document's, through one of
    quizzes.markup's cleaners (plain text unless named). The second value is the language to
    mark it with when it is not the page's own (WCAG 3.1.2)."""
    if not texts:
        return "", None
    language = translation.get_language() or settings.LANGUAGE_CODE
    if texts.get(language):
        return clean(texts[language]), None
    return clean(texts.get(document.language, "")), document.language


def _safe_link(link: str | None) -> str | None:
    """An outcome's link, only if it is a web address (never javascript: or data:)."""
    if not link:
        return None
    parts = urlsplit(link)
    return link if parts.scheme in ("https", "http") and parts.netloc else None


# --- Rendering ---------------------------------------------------------------------------


def frame_ancestors(quiz: Quiz) -> str:
    """The pages that may frame the quiz: our own, and the brand's embed origins."""
    return " ".join(["'self'", *embed_origins_allowed(quiz.brand.embed_origins)])


def _render(
    request: HttpRequest, quiz: Quiz, template: str, context: dict[str, Any], status: int = 200
) -> HttpResponse:
    brand = quiz.brand
    logo = logo_origin(brand)
    page = (
        engines["pages"]
        .get_template(template)
        .render({"brand": brand, "logo": brand.logo_url if logo else "", "quiz": quiz, **context}, request)
    )
    response = HttpResponse(page, status=status)
    response["Content-Language"] = translation.get_language() or settings.LANGUAGE_CODE
    own = f"{request.scheme}://{request.get_host()}"
    csp = hosted_page_csp(img_origin=logo if logo and logo != own else None)
    response["Content-Security-Policy"] = csp.replace(
        "frame-ancestors 'none'", f"frame-ancestors {frame_ancestors(quiz)}"
    )
    return response


def _choice_rows(question: Question, document: Document, chosen: Any) -> list[dict[str, Any]]:
    if question.kind in ("single", "multiple"):
        picked = set(chosen) if isinstance(chosen, list) else {chosen}
        return [
            {"value": o.id, "label": _text(o.label, document), "checked": o.id in picked}
            for o in question.options
        ]
    if question.kind == "scale":
        return [
            {"value": str(n), "label": (str(n), None), "checked": str(chosen) == str(n)}
            for n in range(question.scale_min, question.scale_max + 1)
        ]
    if question.kind == "consent":
        return [
            {"value": "yes", "label": (_("Yes"), None), "checked": chosen in ("yes", True)},
            {"value": "no", "label": (_("No"), None), "checked": chosen in ("no", False)},
        ]
    return []


def question_context(
    quiz: Quiz,
    document: Document,
    question: Question,
    *,
    answered: int,
    state: str,
    error: str | None,
    given: Any,
) -> dict[str, Any]:
    """What templates/jinja2/quizzes/question.html draws of one question, its texts cleaned and
    in the page's language; the hosted page and the console's preview (console.quiz_preview) add
    what is theirs (saving, the form's action)."""
    notice = (
        notice_version_shown(quiz=quiz, public_id=question.notice_version)
        if question.kind == "consent"
        else None
    )
    return {
        "title": _text(document.title, document),
        "question": question,
        "text": _text(question.text, document, markup.inline),
        "page_title": _text(question.text, document)[0],
        "help": _text(question.help, document, markup.help_text),
        "min_label": _text(question.scale_labels[0], document),
        "max_label": _text(question.scale_labels[1], document),
        "choices": _choice_rows(question, document, given),
        "given": given if isinstance(given, str) else "",
        "number": answered + 1,
        "notice": notice,
        "state": state,
        "error": error,
        "error_summary": [("#answer-field", error)] if error else [],
    }


def _question_page(
    request: HttpRequest,
    quiz: Quiz,
    version: QuizVersion,
    run: Run,
    *,
    state: str | None = None,
    error: str | None = None,
    given: Any = None,
    saved: bool = False,
    status: int = 200,
) -> HttpResponse:
    """The run's question; `state` is the run's token when the caller has made it already."""
    document = version_document(version)
    question = document.question(run.question or "")
    if question is None:
        raise Http404
    state = state if state is not None else run.dumps()
    context = {
        **question_context(
            quiz, document, question, answered=len(run.answers), state=state, error=error, given=given
        ),
        "saved": saved,
        "can_save": bool(run.answers),
        "action": _page_url(quiz),
        "host_origin": run.host,
    }
    return _render(request, quiz, "quizzes/question.html", context, status=status)


def _done_page(request: HttpRequest, quiz: Quiz, version: QuizVersion, run: Run) -> HttpResponse:
    document = version_document(version)
    outcome = next((o for o in document.outcomes if o.id == run.outcome), None)
    context = {
        "title": _text(document.title, document),
        "outcome": outcome,
        "outcome_title": _text(outcome.title, document) if outcome else ("", None),
        "outcome_text": _text(outcome.text, document, markup.rich) if outcome else ("", None),
        "outcome_link": _safe_link(outcome.link) if outcome else None,
        "link_label": _text(outcome.link_label, document) if outcome else ("", None),
        "host_origin": run.host,
    }
    return _render(request, quiz, "quizzes/done.html", context)


def _problem_page(request: HttpRequest, quiz: Quiz, message: str, status: int) -> HttpResponse:
    context = {"message": message, "restart": _page_url(quiz), "title": ("", None)}
    return _render(request, quiz, "quizzes/problem.html", context, status=status)


# --- Answers -----------------------------------------------------------------------------


def _raw_answer(request: HttpRequest, question: Question) -> Any:
    if question.kind == "multiple":
        return request.POST.getlist("answer")
    return request.POST.get("answer")


def _problem_message(question: Question, raw: Any) -> str:
    """What is wrong with an answer, in the page's language (quizzes.document.answer_problem
    decides whether something is wrong; the words are the page's)."""
    if raw is None or raw == "" or raw == [] or (isinstance(raw, str) and not raw.strip()):
        return _("Please answer this question.")
    messages = {
        "single": _("Choose one of the options."),
        "multiple": _("Choose from the options."),
        "scale": _("Choose a number from %(min)s to %(max)s.")
        % {"min": question.scale_min, "max": question.scale_max},
        "consent": _("Say yes or no."),
        "email": _("Enter an email address, like name@example.com."),
        "text": _("Keep it under %(count)s characters.") % {"count": question.max_length},
    }
    return messages[question.kind]


def _evidence(request: HttpRequest, quiz: Quiz) -> EvidenceInput:
    try:
        ip = truncate_ip(str(request.META.get("REMOTE_ADDR") or ""))
    except ValueError:
        ip = ""
    return EvidenceInput(
        ip=ip,
        user_agent=request.headers.get("User-Agent", "")[:512],
        page_url=f"{settings.PUBLIC_BASE_URL}/q/{quiz.public_id}/",
    )


def _same_origin(request: HttpRequest) -> bool:
    """A form POST from our own page: its Origin is ours, or "null" (what browsers send under
    Referrer-Policy: no-referrer), or absent (an older browser)."""
    origin = request.headers.get("Origin")
    if origin in (None, "null"):
        return True
    own = {f"{request.scheme}://{request.get_host()}", settings.PUBLIC_BASE_URL.rstrip("/")}
    return origin in own


# --- Views -------------------------------------------------------------------------------


def _quiz(public_id: str) -> Quiz:
    quiz = quiz_live(public_id=public_id)
    if quiz is None:
        raise Http404
    return quiz


def _in_language(request: HttpRequest, quiz: Quiz, view: Any) -> HttpResponse:
    with translation.override(language_for(brand=quiz.brand, request=request)):
        return view()


def _start(request: HttpRequest, quiz: Quiz) -> HttpResponse:
    """A first visit: count the view and show the first question. A quiz token or UTM
    parameters go into the state, and the page redirects to drop the token from the URL."""
    version = quiz.live_version
    assert version is not None  # quiz_live reads only quizzes with one
    version.quiz = quiz
    document = version_document(version)
    token = request.GET.get("token", "")
    contact = None
    if token:
        linked = quiz_token_read(token, quiz.brand, quiz=quiz)
        contact = linked.pk if linked is not None else None
    utm = {key: request.GET[key][:UTM_MAX_LENGTH] for key in UTM_KEYS if request.GET.get(key)}
    host = request.GET.get("host")
    if host not in embed_origins_allowed(quiz.brand.embed_origins):
        host = None  # the frame script then posts to no one
    run = Run(
        version=version.pk,
        question=document.first.id,
        contact=contact,
        utm=utm,
        started=time.time(),
        response=new_response_id(),
        host=host,
    )
    funnel_count(version_id=version.pk, steps=["viewed"])
    if token or utm or host:
        return _see_other(_page_url(quiz, run.dumps()))
    return _question_page(request, quiz, version, run)


def _run_and_version(request: HttpRequest, quiz: Quiz, token: str) -> tuple[Run, QuizVersion] | None:
    run = Run.loads(token)
    if run is None:
        return None
    version = quiz_version(quiz=quiz, version_id=run.version)
    return (run, version) if version is not None else None


@csrf_exempt  # no cookie in a third-party frame: the signed state and the Origin check stand in
@xframe_options_exempt  # framing is decided by the CSP's frame-ancestors, per brand
@require_http_methods(["GET", "HEAD", "POST"])
def quiz_page(request: HttpRequest, public_id: str) -> HttpResponse:
    quiz = _quiz(public_id)
    return _in_language(request, quiz, lambda: _quiz_page(request, quiz))


def _quiz_page(request: HttpRequest, quiz: Quiz) -> HttpResponse:
    if request.method == "POST":
        if not _same_origin(request):
            return _problem_page(request, quiz, _("This form was sent from another site."), 403)
        found = _run_and_version(request, quiz, request.POST.get("state", ""))
        if found is None:
            return _expired(request, quiz)
        return _answer(request, quiz, *found)
    token = request.GET.get("state")
    if token is None:
        return _start(request, quiz)
    found = _run_and_version(request, quiz, token)
    if found is None:
        return _expired(request, quiz)
    run, version = found
    if run.question is None:
        return _done_page(request, quiz, version, run)
    return _question_page(request, quiz, version, run, saved=request.GET.get("saved") == "1")


def _expired(request: HttpRequest, quiz: Quiz) -> HttpResponse:
    return _problem_page(
        request, quiz, _("This quiz page has expired or is not valid. Please start the quiz again."), 400
    )


def _go(
    request: HttpRequest, quiz: Quiz, version: QuizVersion, run: Run, *, saved: bool = False
) -> HttpResponse:
    """Where an accepted POST takes the person: the page of the run's new state. A plain form
    post is redirected there (303: POST/redirect/GET); the page's script (STEP_HEADER) gets that
    page at once, with its address in PAGE_HEADER, so a step is one request."""
    state = run.dumps()
    url = _page_url(quiz, state, **({"saved": "1"} if saved else {}))
    if request.headers.get(STEP_HEADER) != "1":
        return _see_other(url)
    if run.question is None:
        response = _done_page(request, quiz, version, run)
    else:
        response = _question_page(request, quiz, version, run, state=state, saved=saved)
    response[PAGE_HEADER] = url
    return response


def _answer(request: HttpRequest, quiz: Quiz, run: Run, version: QuizVersion) -> HttpResponse:
    document = version_document(version)
    if run.question is None:
        return _go(request, quiz, version, run)
    question = document.question(run.question)
    if question is None:
        return _expired(request, quiz)
    if request.POST.get("action") == "save":
        return _save(request, quiz, run, version)
    raw = _raw_answer(request, question)
    value, problem = quiz_document.answer_problem(question, raw)
    if problem is not None:
        return _question_page(
            request, quiz, version, run, error=_problem_message(question, raw), given=raw, status=422
        )
    answers = {**run.answers, question.id: value}
    steps = answer_steps(document=document, question_key=question.id, answer=value, first=not run.answers)
    step = quiz_document.next_step(document, question.id, value)
    named = step.outcome or run.named
    if step.question is not None:
        funnel_count(version_id=version.pk, steps=steps, run=run.response)
        return _go(request, quiz, version, replace(run, question=step.question, answers=answers, named=named))
    outcome = quiz_document.outcome_for(document, answers, named)
    try:
        completion = response_complete(
            brand=quiz.brand,
            version=version,
            answers=answers,
            outcome=outcome.id if outcome else None,
            started_at=datetime.fromtimestamp(run.started, tz=UTC),
            token_contact_id=run.contact,
            utm=run.utm,
            evidence=_evidence(request, quiz),
            response_public_id=run.response,
        )
    except ApplicationError as exc:
        # The service's words may name the contact: the page says only that it failed.
        message = _("Your answers could not be saved. Please try again later.")
        return _problem_page(request, quiz, message, exc.status)
    if not completion.replayed:
        steps += ["completed"] + ([f"outcome:{outcome.id}"] if outcome else [])
        funnel_count(version_id=version.pk, steps=steps, run=run.response)
    # The outcome stored (the run's first completion's, where this one repeats it).
    finished = Run(version=version.pk, question=None, outcome=completion.response.outcome, host=run.host)
    return _go(request, quiz, version, finished)


def _save(request: HttpRequest, quiz: Quiz, run: Run, version: QuizVersion) -> HttpResponse:
    """Store the answers to the questions already passed (the one on the page is answered when
    the person goes on), then show the same question again with "Saved"."""
    if run.answers:
        saved = response_save(
            brand=quiz.brand,
            version=version,
            answers=run.answers,
            started_at=datetime.fromtimestamp(run.started, tz=UTC),
            token_contact_id=run.contact,
            utm=run.utm,
            response_public_id=run.response,
        )
        run = replace(run, response=saved.public_id)
    return _go(request, quiz, version, run, saved=True)


# --- The embed loader ----------------------------------------------------------------------

LOADER = Path(settings.BASE_DIR) / "static" / "quizzes" / "embed.js"


@lru_cache(maxsize=1)
def loader_source() -> bytes:
    return LOADER.read_bytes()


@require_http_methods(["GET", "HEAD"])
def embed_loader(request: HttpRequest) -> HttpResponse:
    """/q/embed.js: the loader, at the address the CONTRACT names, loadable from any site."""
    response = HttpResponse(loader_source(), content_type="text/javascript; charset=utf-8")
    response["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response
