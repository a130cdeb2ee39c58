"""The hosted quiz page without JavaScript: one question per page, POST/redirect/GET, progress in a
signed token (no cookie), answers checked, the outcome at the end, funnel counts, identity only
through a signed quiz token, and 404 for what cannot be answered."""

from __future__ import annotations

import copy
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from brands.models import Brand
from consent.models import ConsentEvent, Contact
from consent.services import contact_upsert
from quizzes.models import Answer, FunnelCount, Quiz, QuizVersion, Response
from quizzes.services import quiz_archive, quiz_create, quiz_publish
from quizzes.tokens import quiz_token_issue
from tests.actors import TEST_ACTOR

pytestmark = pytest.mark.django_db


def page(quiz: Quiz) -> str:
    return f"/q/{quiz.public_id}/"


def state_of(html: str) -> str:
    found = re.search(r'name="state" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def steps(version: QuizVersion) -> dict[str, int]:
    return dict(FunnelCount.objects.filter(version=version).values_list("step", "count"))


def answer(client: Client, quiz: Quiz, state: str, value: Any = None, **extra: Any) -> Any:
    data: dict[str, Any] = {"state": state, **extra}
    if value is not None:
        data["answer"] = value
    return client.post(page(quiz), data)


def follow(client: Client, response: Any) -> Any:
    assert response.status_code == 303, response.content.decode()[:500]
    return client.get(response["Location"])


def run_through(client: Client, quiz: Quiz, first: Any, *answers: Any) -> Any:
    shown = first
    for value in answers:
        shown = follow(client, answer(client, quiz, state_of(shown.content.decode()), value))
    return shown


def test_the_first_question_is_shown_and_the_view_counted_without_a_cookie(
    client: Client, quiz: Quiz, live_version: QuizVersion
):
    shown = client.get(page(quiz))
    html = shown.content.decode()
    assert shown.status_code == 200
    assert "<h1><span>What is your goal?</span></h1>" in html
    assert 'type="radio" name="answer" id="answer-1" value="marathon"' in html
    assert "Question 1" in html
    assert "Save my progress" not in html  # nothing answered yet to save
    assert not shown.cookies
    assert shown["Referrer-Policy"] == "no-referrer"
    assert shown["Cache-Control"] == "no-store"
    assert steps(live_version) == {"viewed": 1}


def test_a_whole_run_by_post_redirect_get_shows_the_outcome_and_counts_each_step(
    client: Client, quiz: Quiz, live_version: QuizVersion
):
    first = client.get(page(quiz))
    level = follow(client, answer(client, quiz, state_of(first.content.decode()), "marathon"))
    assert "How fit are you today?" in level.content.decode()
    assert "Question 2" in level.content.decode()
    kit = follow(client, answer(client, quiz, state_of(level.content.decode()), "4"))
    assert "What do you own already?" in kit.content.decode()
    news = follow(client, answer(client, quiz, state_of(kit.content.decode())))  # optional: left blank
    html = news.content.decode()
    assert "May we send you training tips by email?" in html
    assert "Text for email-marketing in en." in html  # the notice shown with a consent question
    done = follow(client, answer(client, quiz, state_of(html), "yes"))
    html = done.content.decode()
    assert done.status_code == 200
    assert "<h1><span>Race plan</span></h1>" in html
    assert 'href="https://shop.example/race"' in html

    assert_the_anonymous_run_landed(live_version)


def assert_the_anonymous_run_landed(live_version: QuizVersion) -> None:
    """What an anonymous run (marathon, 4, kit left blank, yes) writes and counts, whichever way
    its steps went: one completed response, its answers, every step counted once, and no
    consent (nobody to record it for)."""
    response = Response.objects.get()
    assert (response.contact_id, response.outcome, response.completed_at is not None) == (None, "racer", True)
    assert sorted(Answer.objects.values_list("question__key", "value")) == [
        ("goal", "marathon"),
        ("level", 4),
        ("news", True),
    ]
    assert steps(live_version) == {
        "viewed": 1,
        "started": 1,
        "answered:goal": 1,
        "answered:level": 1,
        "answered:kit": 1,
        "answered:news": 1,
        "opted_in:email-marketing": 1,
        "completed": 1,
        "outcome:racer": 1,
    }
    assert not ConsentEvent.objects.exists()


def test_a_branch_skips_questions(client: Client, quiz: Quiz, live_version: QuizVersion):
    shown = run_through(client, quiz, client.get(page(quiz)), "fit")
    assert "May we send you training tips by email?" in shown.content.decode()
    done = run_through(client, quiz, shown, "no")
    assert "<h1><span>Start easy</span></h1>" in done.content.decode()
    assert '<p class="quiz__outcome-text"><span>' not in done.content.decode()
    assert "Three short runs a week." in done.content.decode()


@pytest.mark.parametrize(
    ("value", "message"),
    [(None, "Please answer this question."), ("triathlon", "Choose one of the options.")],
)
def test_a_wrong_answer_comes_back_with_an_error_summary_and_nothing_moves(
    client: Client, quiz: Quiz, live_version: QuizVersion, value: str | None, message: str
):
    first = client.get(page(quiz))
    state = state_of(first.content.decode())
    refused = answer(client, quiz, state, value)
    html = refused.content.decode()
    assert refused.status_code == 422
    assert f'<li><a href="#answer-field">{message}</a></li>' in html
    assert 'aria-describedby="answer-error"' in html
    assert "<title>Error: What is your goal? – Acme Ltd</title>" in html
    assert state_of(html) == state
    assert steps(live_version) == {"viewed": 1}
    assert not Response.objects.exists()


def test_a_scale_out_of_range_says_the_range(client: Client, quiz: Quiz, live_version: QuizVersion):
    level = run_through(client, quiz, client.get(page(quiz)), "marathon")
    refused = answer(client, quiz, state_of(level.content.decode()), "9")
    assert refused.status_code == 422
    assert "Choose a number from 1 to 5." in refused.content.decode()


def test_archived_draft_and_unknown_quizzes_answer_404(
    client: Client, brand: Brand, quiz: Quiz, quiz_document
):
    assert client.get(page(quiz)).status_code == 404  # never published
    quiz_publish(quiz=quiz, actor=TEST_ACTOR)
    assert client.get(page(quiz)).status_code == 200
    quiz_archive(quiz=quiz, actor=TEST_ACTOR)
    assert client.get(page(quiz)).status_code == 404
    assert client.get("/q/qz_nothing/").status_code == 404
    assert client.post(page(quiz), {"state": "x"}).status_code == 404


def test_a_forged_or_expired_state_is_refused_and_nothing_written(
    client: Client, quiz: Quiz, live_version: QuizVersion
):
    state = state_of(client.get(page(quiz)).content.decode())
    forged = answer(client, quiz, state[:-3] + "abc", "marathon")
    assert forged.status_code == 400
    assert "Start the quiz again" in forged.content.decode()
    assert client.get(page(quiz), {"state": "nonsense"}).status_code == 400
    assert steps(live_version) == {"viewed": 1}


def test_a_post_from_another_site_is_refused(client: Client, quiz: Quiz, live_version: QuizVersion):
    state = state_of(client.get(page(quiz)).content.decode())
    refused = client.post(
        page(quiz), {"state": state, "answer": "marathon"}, HTTP_ORIGIN="https://evil.example"
    )
    assert refused.status_code == 403
    assert steps(live_version) == {"viewed": 1}


def quiz_token(brand: Brand, contact: Contact, quiz: Quiz | None = None) -> str:
    return quiz_token_issue(brand=brand, contact=contact, quiz=quiz).token


def test_a_quiz_token_links_the_response_and_leaves_the_url(
    client: Client, brand: Brand, quiz: Quiz, live_version: QuizVersion, contact: Contact
):
    opened = client.get(page(quiz), {"token": quiz_token(brand, contact, quiz), "utm_source": "mail"})
    assert opened.status_code == 303
    assert "token" not in parse_qs(urlsplit(opened["Location"]).query)
    first = client.get(opened["Location"])
    run_through(client, quiz, first, "marathon", "4", None, "yes")
    response = Response.objects.get()
    assert (response.contact_id, response.utm) == (contact.pk, {"utm_source": "mail"})
    assert list(ConsentEvent.objects.values_list("contact", "method", "decision")) == [
        (contact.pk, "quiz", "granted")
    ]


@pytest.mark.parametrize("whose", ["other-brand", "other-quiz", "a-bare-id"])
def test_no_valid_token_means_an_anonymous_response(
    client: Client,
    brand: Brand,
    other_brand: Brand,
    quiz: Quiz,
    live_version: QuizVersion,
    contact: Contact,
    whose,
):
    if whose == "other-brand":  # the same person, known to another brand
        outsider, _ = contact_upsert(
            brand=other_brand, external_id=contact.external_id, email="ada@example.com"
        )
        token = quiz_token(other_brand, outsider)
    elif whose == "other-quiz":
        token = quiz_token(brand, contact, quiz_create(brand=brand, actor=TEST_ACTOR, document=quiz.draft))
    else:
        token = str(contact.pk)
    opened = client.get(page(quiz), {"token": token, "contact": contact.pk})
    run_through(client, quiz, client.get(opened["Location"]), "marathon", "4", None, "yes")
    assert Response.objects.get().contact_id is None
    assert not ConsentEvent.objects.exists()


def test_save_my_progress_stores_the_answers_so_far_without_completing(
    client: Client, brand: Brand, quiz: Quiz, live_version: QuizVersion, contact: Contact
):
    opened = client.get(page(quiz), {"token": quiz_token(brand, contact)})
    level = run_through(client, quiz, client.get(opened["Location"]), "marathon")
    assert "Save my progress" in level.content.decode()
    saved = follow(client, answer(client, quiz, state_of(level.content.decode()), action="save"))
    html = saved.content.decode()
    assert "Saved. Your answers so far are stored." in html
    assert "How fit are you today?" in html
    response = Response.objects.get()
    assert (response.contact_id, response.completed_at) == (contact.pk, None)
    assert list(Answer.objects.values_list("question__key", "value")) == [("goal", "marathon")]
    run_through(client, quiz, saved, "4", None, "yes")
    response.refresh_from_db()
    assert response.completed_at is not None
    assert sorted(Answer.objects.values_list("question__key", flat=True)) == ["goal", "level", "news"]


def test_german_page_words_and_quiz_texts_fall_back_to_the_documents_language(
    client: Client, quiz: Quiz, live_version: QuizVersion
):
    first = client.get(page(quiz), HTTP_ACCEPT_LANGUAGE="de")
    html = first.content.decode()
    assert '<html lang="de">' in html
    assert "<h1><span>Was ist dein Ziel?</span></h1>" in html
    assert "Frage 1" in html
    assert "Weiter" in html
    posted = answer(client, quiz, state_of(html), "marathon")
    level = client.get(posted["Location"], HTTP_ACCEPT_LANGUAGE="de")
    # No German text for this question: the document's English, marked as English.
    assert '<h1><span lang="en">How fit are you today?</span></h1>' in level.content.decode()


def test_brand_text_never_runs_as_markup(client: Client, brand: Brand, quiz_document: dict[str, Any]):
    """quizzes.markup decides what survives (tests/quizzes/test_markup.py): here, a tag outside
    the question's subset is dropped and a script goes with its content."""
    document = copy.deepcopy(quiz_document)
    document["questions"][0]["text"]["en"] = "Your <b>goal</b>?<script>alert(1)</script>"
    quiz = quiz_create(brand=brand, actor=TEST_ACTOR, document=document)
    version = quiz_publish(quiz=quiz, actor=TEST_ACTOR)
    html = client.get(page(quiz)).content.decode()
    assert "<h1><span>Your goal?</span></h1>" in html
    assert "alert(1)" not in html
    done = run_through(client, quiz, client.get(page(quiz)), "marathon", "4", None, "yes")
    assert "Race plan" in done.content.decode()
    assert version.pk


def test_an_outcome_link_is_linked_only_when_it_is_a_web_address():
    from quizzes.views import _safe_link

    assert _safe_link("https://shop.example/race") == "https://shop.example/race"
    assert _safe_link("javascript:alert(1)") is None
    assert _safe_link("data:text/html,hi") is None
    assert _safe_link("https:///nohost") is None
    assert _safe_link(None) is None


@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("de", ["Frage 1", "Weiter", "Bitte beantworten Sie diese Frage.", "Es gibt ein Problem"]),
        ("fr", ["Question 1", "Continuer", "Veuillez répondre à cette question.", "Il y a un problème"]),
    ],
)
def test_the_page_and_its_errors_in_german_and_french(
    client: Client, quiz: Quiz, live_version: QuizVersion, language: str, words: list[str]
):
    state = state_of(client.get(page(quiz), HTTP_ACCEPT_LANGUAGE=language).content.decode())
    refused = client.post(page(quiz), {"state": state}, HTTP_ACCEPT_LANGUAGE=language)
    html = refused.content.decode()
    assert f'<html lang="{language}">' in html
    for word in words:
        assert word in html
