"""Correcting and deleting a quiz answer from the preference centre (/p/<brand>/told-us/…).

Thin views on the centre's session (preferences.views._pages.centre_view): the form, one
service (quizzes.statements), a 303 back to the answers. Another contact's or brand's answer,
or one already deleted, is the ordinary 404.
"""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from config.errors import NotFound, Unprocessable
from config.middleware import hosted_csrf_protect
from preferences.views._pages import Page, _render, _saved, _see_other, centre_view
from quizzes.statements import answer_correct, answer_delete
from quizzes.told_us import told_us_get
from quizzes.told_us_forms import AnswerCorrectForm

HERE = "told-us"


@hosted_csrf_protect
@require_http_methods(["GET", "HEAD", "POST"])
@centre_view
def answer_correct_view(request: HttpRequest, page: Page, quiz: str, key: str) -> HttpResponse:
    language = translation.get_language() or settings.LANGUAGE_CODE
    item = told_us_get(
        brand=page.brand, contact=page.contact, quiz_public_id=quiz, question_key=key, language=language
    )
    if item is None:
        raise Http404
    form = AnswerCorrectForm(
        request.POST if request.method == "POST" else None,
        question=item.asked,
        document=item.document,
        language=language,
        value=item.latest.value,
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                answer_correct(
                    brand=page.brand,
                    contact=page.contact,
                    quiz_public_id=quiz,
                    question_key=key,
                    value=form.cleaned_data["value"],
                )
            except NotFound:
                raise Http404 from None
            except Unprocessable:  # the form checks what the quiz checks; a race with a retake
                form.add_error("value", _("We couldn't save that answer. Please check it and try again."))
            else:
                _saved(request, _("Saved. Your answer is corrected."), here=HERE)
                return _see_other(f"{page.home}#{item.html_id}")
        status = 422
    context = {
        "item": item,
        "form": form,
        "error_summary": form.error_summary(),
    }
    return _render(request, "quizzes/told_us_correct.html", context, brand=page.brand, status=status)


@hosted_csrf_protect
@require_POST
@centre_view
def answer_delete_view(request: HttpRequest, page: Page, quiz: str, key: str) -> HttpResponse:
    try:
        answer_delete(brand=page.brand, contact=page.contact, quiz_public_id=quiz, question_key=key)
    except NotFound:
        raise Http404 from None
    _saved(request, _("Deleted: your answer, and what we had taken from it."), here=HERE)
    return _see_other(f"{page.home}#told-us")
