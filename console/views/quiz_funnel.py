"""A quiz's funnel (issue 13): how far people got, per question, the outcomes they reached and
the consents they gave, for one version and a range of days. Owners, editors and viewers read
it; support does not (it is the brand's business figures, not a customer's record)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from brands.models import Membership
from config.errors import NotFound
from console.access import Console, brand_page
from console.charts import number, percent
from console.pages import refusal, render
from console.quiz_funnel import (
    FunnelFiltersForm,
    document_of,
    funnel_view,
    purpose_names,
    quiz_version_numbers,
)
from quizzes import markup
from quizzes.selectors import funnel_get, quiz_get, quiz_version_get

Role = Membership.Role
FUNNEL_READERS = frozenset({Role.OWNER.value, Role.EDITOR.value, Role.VIEWER.value})


@brand_page(read=FUNNEL_READERS)
def quiz_funnel(request: HttpRequest, brand_slug: str, quiz_id: str) -> HttpResponse:
    console: Console = request.console  # type: ignore[attr-defined]
    try:
        quiz = quiz_get(brand=console.brand, public_id=quiz_id)
    except NotFound:
        return refusal(request, 404, console)  # another brand's quiz is as unknown as none
    versions = quiz_version_numbers(quiz=quiz)
    live = quiz.live_version.number if quiz.live_version is not None else None
    form = FunnelFiltersForm(request.GET, versions=versions, live=live)
    context = {
        "title": markup.plain(quiz.title),
        "form": form,
        "errors": form.error_summary(),
        "funnel": None,
    }
    if not form.is_valid():
        return render(request, "console/quizzes/funnel.html", context, status=400)
    chosen = form.cleaned_data["version"]
    version = quiz_version_get(quiz=quiz, number=chosen) if chosen is not None else quiz.live_version
    funnel = funnel_get(
        quiz=quiz, version=version, since=form.cleaned_data["from"], until=form.cleaned_data["to"]
    )
    purposes = purpose_names(brand=console.brand, slugs=[share.key for share in funnel.opt_ins])
    context.update(
        funnel=funnel,
        fmt_number=number,
        fmt_percent=percent,
        **funnel_view(funnel, document_of(version), purposes),
    )
    return render(request, "console/quizzes/funnel.html", context)
