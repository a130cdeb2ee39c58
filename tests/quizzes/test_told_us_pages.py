"""The preference centre's "What you've told us" quiz answers: what it shows, correcting and
deleting by form (no JavaScript), another contact's answer as the ordinary 404, and a query
count that does not grow with the number of answers."""

from __future__ import annotations

import re
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from brands.models import Brand
from consent.models import Contact, NoticeVersion, Purpose
from consent.services import contact_upsert
from quizzes.models import Answer, QuizVersion
from quizzes.services import quiz_create, quiz_publish
from sync.models import Event
from tests.actors import TEST_ACTOR
from tests.preferences.pages import assert_hosted_headers, open_centre
from tests.quizzes.test_completion import twenty_questions
from tests.quizzes.told_us_support import T0, T1, complete

pytestmark = pytest.mark.django_db

HOME = "/p/acme/"


def html_of(response: Any) -> str:
    return response.content.decode()


def answers_part(html: str) -> str:
    start = html.index('id="quiz-answers"')
    return html[start : html.index('id="your-data"')]


def csrf(client, url: str) -> str:
    html = html_of(client.get(url))
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert match is not None
    return match.group(1)


def test_the_centre_lists_each_answer_with_why_when_and_its_history(
    client, live_version: QuizVersion, contact: Contact, personalisation: Purpose
):
    with time_machine.travel(T0, tick=False):
        complete(live_version, contact)
        complete(live_version, contact, {"goal": "fit", "level": 2, "news": True})  # a retake
    open_centre(client, contact.brand, contact)
    part = answers_part(html_of(client.get(HOME)))
    quiz = live_version.quiz.public_id
    # The retake stands; the first run is its history. Option labels, "2 of 5", the purpose.
    assert part.count('<div class="fact"') == 3
    assert "<dt><span>What is your goal?</span></dt>" in part
    assert '<p class="fact__value"><span>Get fit</span></p>' in part
    assert '<p class="fact__value"><span>2 of 5</span></p>' in part
    assert '<p class="fact__value"><span>Running shoes</span></p>' in part
    assert "Why we asked: personalisation (en). Told us on Dec. 1, 2026." in part
    assert part.count("1 earlier answer") == 2  # goal and level; kit was answered once
    assert "Dec. 1, 2026: <span>Run a marathon</span>" in part
    assert f'href="/p/acme/told-us/{quiz}/goal"' in part
    assert f'action="/p/acme/told-us/{quiz}/goal/delete"' in part
    assert "May we send you training tips" not in part  # a consent answer lives in the ledger


def test_the_centre_shows_answers_in_the_persons_language(
    client, live_version: QuizVersion, contact: Contact, personalisation: Purpose
):
    contact_upsert(brand=contact.brand, external_id="cust-1", locale="de")
    with time_machine.travel(T0, tick=False):
        complete(live_version, contact)
    open_centre(client, contact.brand, contact)
    part = answers_part(html_of(client.get(HOME)))
    assert "<dt><span>Was ist dein Ziel?</span></dt>" in part
    assert '<p class="fact__value"><span>Einen Marathon laufen</span></p>' in part
    # Not translated by the brand: shown in the quiz's language, marked as such (WCAG 3.1.2).
    assert '<dt><span lang="en">How fit are you today?</span></dt>' in part
    assert "Warum wir gefragt haben" in part
    assert "Korrigieren" in part
    assert "Löschen" in part


def test_without_answers_the_centre_says_where_they_will_appear(client, contact: Contact, live_version):
    open_centre(client, contact.brand, contact)
    assert "Answers you give in our quizzes will appear here" in answers_part(html_of(client.get(HOME)))


def test_correcting_an_answer_by_form(client, live_version: QuizVersion, contact: Contact):
    with time_machine.travel(T0, tick=False):
        complete(live_version, contact)
    open_centre(client, contact.brand, contact)
    url = f"/p/acme/told-us/{live_version.quiz.public_id}/goal"
    page = client.get(url)
    html = html_of(page)
    assert page.status_code == 200
    assert_hosted_headers(page)
    assert '<legend class="field__label">What is your goal?</legend>' in html
    assert re.search(r'<input type="radio" name="value" value="marathon"[^>]* checked', html)
    token = csrf(client, url)

    refused = client.post(url, {"csrfmiddlewaretoken": token, "value": "nope"})
    assert refused.status_code == 422
    assert 'class="error-summary"' in html_of(refused)
    assert 'href="#id_value_0"' in html_of(refused)
    assert Answer.objects.filter(question__key="goal").count() == 1

    with time_machine.travel(T1, tick=False):
        done = client.post(url, {"csrfmiddlewaretoken": token, "value": "fit"})
    assert (done.status_code, done["Location"]) == (
        303,
        f"/p/acme/#answer-{live_version.quiz.public_id}-goal",
    )
    assert list(
        Answer.objects.filter(question__key="goal")
        .order_by("recorded_at")
        .values_list("kind", "source", "value")
    ) == [("answered", "quiz", "marathon"), ("corrected", "preference_centre", "fit")]
    html = html_of(client.get(HOME))
    assert "Saved. Your answer is corrected." in html
    part = answers_part(html)
    assert '<p class="fact__value"><span>Get fit</span></p>' in part
    assert "You corrected it here." in part


def test_correction_forms_fit_each_question_type(client, live_version: QuizVersion, contact: Contact):
    complete(live_version, contact)
    open_centre(client, contact.brand, contact)
    quiz = live_version.quiz.public_id
    level = html_of(client.get(f"/p/acme/told-us/{quiz}/level"))
    assert re.search(r'<input type="radio" name="value" value="4"[^>]* checked', level)
    assert '<label for="id_value_0">1 – Not yet</label>' in level
    assert '<label for="id_value_4">5 – Very</label>' in level
    kit = html_of(client.get(f"/p/acme/told-us/{quiz}/kit"))
    assert re.search(r'<input type="checkbox" name="value" value="shoes"[^>]* checked', kit)
    assert not re.search(r'<input type="checkbox" name="value" value="watch"[^>]* checked', kit)
    token = csrf(client, f"/p/acme/told-us/{quiz}/kit")
    empty = client.post(f"/p/acme/told-us/{quiz}/kit", {"csrfmiddlewaretoken": token})
    assert empty.status_code == 422
    assert "Give an answer, or delete it instead." in html_of(empty)
    both = client.post(
        f"/p/acme/told-us/{quiz}/kit", {"csrfmiddlewaretoken": token, "value": ["shoes", "watch"]}
    )
    assert both.status_code == 303
    assert Answer.objects.filter(question__key="kit").latest("recorded_at", "id").value == ["shoes", "watch"]


def test_deleting_an_answer_by_form(client, live_version: QuizVersion, contact: Contact):
    complete(live_version, contact)
    open_centre(client, contact.brand, contact)
    token = csrf(client, HOME)
    quiz = live_version.quiz.public_id
    done = client.post(f"/p/acme/told-us/{quiz}/goal/delete", {"csrfmiddlewaretoken": token})
    assert (done.status_code, done["Location"]) == (303, "/p/acme/#told-us")
    assert list(Answer.objects.filter(question__key="goal").values_list("kind", "value")) == [
        ("deleted", None)
    ]
    html = html_of(client.get(HOME))
    assert "Deleted: your answer, and what we had taken from it." in html
    assert "What is your goal?" not in answers_part(html)
    assert Event.objects.filter(type="traits.forgotten").count() == 1
    again = client.post(f"/p/acme/told-us/{quiz}/goal/delete", {"csrfmiddlewaretoken": token})
    assert again.status_code == 404


def test_another_contacts_answer_is_the_ordinary_404_and_a_get_changes_nothing(
    client, live_version: QuizVersion, contact: Contact
):
    neighbour, _ = contact_upsert(brand=contact.brand, external_id="cust-2", email="bo@example.com")
    complete(live_version, neighbour)
    open_centre(client, contact.brand, contact)
    quiz = live_version.quiz.public_id
    token = csrf(client, HOME)
    assert client.get(f"/p/acme/told-us/{quiz}/goal").status_code == 404
    assert (
        client.post(
            f"/p/acme/told-us/{quiz}/goal", {"csrfmiddlewaretoken": token, "value": "fit"}
        ).status_code
        == 404
    )
    assert (
        client.post(f"/p/acme/told-us/{quiz}/goal/delete", {"csrfmiddlewaretoken": token}).status_code == 404
    )
    assert client.get(f"/p/acme/told-us/{quiz}/goal/delete").status_code == 405
    assert list(Answer.objects.filter(question__key="goal").values_list("contact", "kind")) == [
        (neighbour.pk, "answered")
    ]


def test_without_a_session_the_pages_ask_for_a_link_and_change_nothing(
    client, live_version: QuizVersion, contact
):
    complete(live_version, contact)
    quiz = live_version.quiz.public_id
    assert client.post(f"/p/acme/told-us/{quiz}/goal/delete").status_code == 403
    assert Answer.objects.filter(kind="deleted").count() == 0


def test_the_centre_reads_1_or_10_answers_in_the_same_number_of_queries(
    client, brand: Brand, contact: Contact, personalisation: Purpose, training, notice_version: NoticeVersion
):
    quiz = quiz_create(brand=brand, actor=TEST_ACTOR, document=twenty_questions(notice_version.public_id))
    version = quiz_publish(quiz=quiz, actor=TEST_ACTOR)
    complete(version, contact, {"q0": "a"})
    open_centre(client, brand, contact)
    assert client.get(HOME).status_code == 200  # reads and remembers the brand's configuration
    with CaptureQueriesContext(connection) as one:
        assert answers_part(html_of(client.get(HOME))).count('<div class="fact"') == 1

    complete(version, contact, {f"q{i}": "b" for i in range(10)})  # a retake: history too
    with CaptureQueriesContext(connection) as ten:
        assert answers_part(html_of(client.get(HOME))).count('<div class="fact"') == 10
    assert len(ten.captured_queries) == len(one.captured_queries)
