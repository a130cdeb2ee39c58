"""A run through a quiz happens once, however often its forms are sent: the same answer sent again
(a reply lost on the way back, a double click, the browser's back button) counts no funnel step
twice, stores no answer twice and completes no run twice (one Response, one `quiz.completed`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client

from consent.models import ConsentEvent, Contact
from quizzes import responses
from quizzes.models import Answer, FunnelStepCounted, Quiz, QuizVersion, Response
from quizzes.responses import funnel_count, funnel_steps_forget
from quizzes.views import Run
from sync.models import Event
from tests.quizzes.test_page import (
    answer,
    assert_the_anonymous_run_landed,
    follow,
    page,
    quiz_token,
    state_of,
    steps,
)

pytestmark = pytest.mark.django_db


def to_last_question(client: Client, quiz: Quiz, **start: Any) -> str:
    """marathon, 4, kit left blank: the state of the last question's page (news)."""
    shown = client.get(page(quiz), start)
    if shown.status_code == 303:  # a quiz token leaves the address
        shown = client.get(shown["Location"])
    for value in ("marathon", "4", None):
        shown = follow(client, answer(client, quiz, state_of(shown.content.decode()), value))
    return state_of(shown.content.decode())


def test_the_last_answer_sent_twice_completes_the_run_once(
    client: Client, quiz: Quiz, live_version: QuizVersion
):
    last = to_last_question(client, quiz)

    first = answer(client, quiz, last, "yes")
    again = answer(client, quiz, last, "yes")  # the first reply never arrived

    assert first.status_code == again.status_code == 303
    assert again["Location"] == first["Location"]  # the same finished page
    assert "Race plan" in follow(client, again).content.decode()
    assert Event.objects.filter(type="quiz.completed").count() == 1
    assert_the_anonymous_run_landed(live_version)  # one response, its answers, each step once


def test_a_changed_last_answer_sent_after_the_run_finished_shows_the_outcome_stored(
    client: Client, quiz: Quiz, live_version: QuizVersion
):
    last = to_last_question(client, quiz)
    answer(client, quiz, last, "yes")
    response = Response.objects.get()

    again = follow(client, answer(client, quiz, last, "no"))  # back, and another answer

    assert "Race plan" in again.content.decode()
    assert Response.objects.get() == response
    assert sorted(Answer.objects.values_list("question__key", "value")) == [
        ("goal", "marathon"),
        ("level", 4),
        ("news", True),
    ]
    assert Event.objects.filter(type="quiz.completed").count() == 1


def test_a_run_with_a_contact_records_its_consent_once(
    client: Client, brand: Any, quiz: Quiz, live_version: QuizVersion, contact: Contact
):
    last = to_last_question(client, quiz, token=quiz_token(brand, contact))
    answer(client, quiz, last, "yes")
    granted = list(ConsentEvent.objects.values_list("pk", flat=True))
    assert granted

    assert answer(client, quiz, last, "yes").status_code == 303

    assert list(ConsentEvent.objects.values_list("pk", flat=True)) == granted
    assert Response.objects.get().contact_id == contact.pk
    assert Event.objects.filter(type="quiz.completed").count() == 1


def test_a_step_sent_again_and_a_question_answered_again_count_once(
    client: Client, quiz: Quiz, live_version: QuizVersion
):
    first = state_of(client.get(page(quiz)).content.decode())
    answer(client, quiz, first, "marathon")
    answer(client, quiz, first, "marathon")  # sent again
    answer(client, quiz, first, "5k")  # back to the first question, another answer

    assert steps(live_version) == {"viewed": 1, "started": 1, "answered:goal": 1}
    assert FunnelStepCounted.objects.count() == 2  # the run's two steps, by digest


def test_two_runs_count_apart(client: Client, quiz: Quiz, live_version: QuizVersion):
    for _ in range(2):
        first = state_of(client.get(page(quiz)).content.decode())
        answer(client, quiz, first, "marathon")
    assert steps(live_version) == {"viewed": 2, "started": 2, "answered:goal": 2}


def test_a_run_begun_before_runs_had_an_id_still_counts_and_completes(
    client: Client, quiz: Quiz, live_version: QuizVersion
):
    # A state token minted before this change: no run id (Run.response None), `saved` kept.
    old = Run(
        version=live_version.pk,
        question="news",
        answers={"goal": "marathon", "level": 4, "kit": None},
        started=datetime.now(UTC).timestamp(),
        saved=[],
    )
    done = follow(client, answer(client, quiz, old.dumps(), "yes"))
    assert "Race plan" in done.content.decode()
    assert Response.objects.count() == 1
    assert steps(live_version)["completed"] == 1
    assert not FunnelStepCounted.objects.exists()


def test_save_sent_twice_stores_each_answer_once_and_completion_after_a_lost_save_reply_too(
    client: Client, brand: Any, quiz: Quiz, live_version: QuizVersion, contact: Contact
):
    opened = client.get(page(quiz), {"token": quiz_token(brand, contact)})
    shown = client.get(opened["Location"])
    level = follow(client, answer(client, quiz, state_of(shown.content.decode()), "marathon"))
    on_level = state_of(level.content.decode())
    answer(client, quiz, on_level, action="save")
    answer(client, quiz, on_level, action="save")  # the reply to the first was lost
    assert list(Answer.objects.values_list("question__key", flat=True)) == ["goal"]

    # The person goes on from the page they still have (its state knows of no save).
    kit = follow(client, answer(client, quiz, on_level, "4"))
    news = follow(client, answer(client, quiz, state_of(kit.content.decode())))
    follow(client, answer(client, quiz, state_of(news.content.decode()), "yes"))

    response = Response.objects.get()
    assert response.completed_at is not None
    assert sorted(Answer.objects.values_list("question__key", "contact_id")) == [
        ("goal", contact.pk),
        ("level", contact.pk),
        ("news", contact.pk),
    ]


def test_two_completions_racing_meet_at_the_runs_response_and_the_second_writes_nothing(
    client: Client, quiz: Quiz, live_version: QuizVersion, monkeypatch: Any
):
    last = to_last_question(client, quiz)
    answer(client, quiz, last, "yes")
    assert Response.objects.count() == 1
    real = responses._completed
    looked: list[bool] = []

    def not_yet(**found: Any) -> Any:
        # The second request looked before the first committed: it found no completion.
        looked.append(True)
        return None if len(looked) == 1 else real(**found)

    monkeypatch.setattr(responses, "_completed", not_yet)
    again = answer(client, quiz, last, "yes")

    assert again.status_code == 303
    assert looked == [True, True]  # the unique public id refused the second; it read the first
    assert Response.objects.count() == 1
    assert Answer.objects.count() == 3
    assert Event.objects.filter(type="quiz.completed").count() == 1


def test_counted_steps_are_forgotten_once_no_state_can_send_them_again(live_version: QuizVersion):
    now = datetime(2026, 12, 5, 12, tzinfo=UTC)
    funnel_count(version_id=live_version.pk, steps=["started"], run="qr_old", at=now - timedelta(days=3))
    funnel_count(version_id=live_version.pk, steps=["started"], run="qr_new", at=now - timedelta(days=2))

    assert funnel_steps_forget(now=now) == 1
    assert FunnelStepCounted.objects.get().day == (now - timedelta(days=2)).date()
    assert funnel_steps_forget(now=now) == 0


def test_two_completions_before_either_committed_meet_at_the_unique_public_id(
    client: Client, quiz: Quiz, live_version: QuizVersion, monkeypatch: Any
):
    last = to_last_question(client, quiz)
    answer(client, quiz, last, "yes")
    first = Response.objects.get()
    real_completed, real_response_for = responses._completed, responses._response_for
    looked: list[bool] = []

    def not_yet(**found: Any) -> Any:
        looked.append(True)
        return None if len(looked) == 1 else real_completed(**found)

    def unseen(**given: Any) -> Any:
        # As the second request sees the database while the first has not committed: no row.
        return Response(
            brand=given["brand"],
            version=given["version"],
            started_at=given["started_at"],
            public_id=given["response_public_id"],
        ), set()

    monkeypatch.setattr(responses, "_completed", not_yet)
    monkeypatch.setattr(responses, "_response_for", unseen)
    again = answer(client, quiz, last, "yes")

    monkeypatch.setattr(responses, "_response_for", real_response_for)
    assert again.status_code == 303
    assert looked == [True, True]
    assert list(Response.objects.all()) == [first]
    assert Answer.objects.count() == 3
    assert Event.objects.filter(type="quiz.completed").count() == 1
