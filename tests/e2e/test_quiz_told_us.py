"""A person with quiz answers corrects one and deletes one on the preference centre, by keyboard,
with and without JavaScript; the stored statements and the events downstream follow. axe-core
finds no WCAG A/AA violation on the centre with answers, nor on the correction page."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from brands.models import Brand
from consent.models import Contact, Purpose
from consent.services import EvidenceInput, consent_record, contact_upsert
from quizzes.models import Answer, Quiz
from quizzes.responses import response_complete
from quizzes.services import quiz_create, quiz_publish
from sync.models import Event
from tests.actors import TEST_ACTOR
from tests.conftest import current_version
from tests.e2e.conftest import HOME, open_centre
from tests.e2e.test_accessibility import assert_accessible

pytestmark = pytest.mark.e2e


def words(en: str, de: str, fr: str) -> dict[str, str]:
    return {"en": en, "de": de, "fr": fr}


DOCUMENT: dict[str, Any] = {
    "format": 1,
    "language": "en",
    "title": words("Find your kit", "Finden Sie Ihre Ausrüstung", "Trouvez votre équipement"),
    "questions": [
        {
            "id": "goal",
            "type": "single",
            "purpose": "personalisation",
            "text": words("What is your goal?", "Was ist Ihr Ziel?", "Quel est votre objectif ?"),
            "options": [
                {
                    "id": "trail",
                    "label": words("Run trails", "Trailrunning", "Courir en trail"),
                    "effects": {"traits": {"goal": "trail"}},
                },
                {
                    "id": "city",
                    "label": words("Run in town", "In der Stadt laufen", "Courir en ville"),
                    "effects": {"traits": {"goal": "city"}},
                },
            ],
        },
        {
            "id": "level",
            "type": "scale",
            "purpose": "personalisation",
            "text": words("How often do you run?", "Wie oft laufen Sie?", "À quelle fréquence courez-vous ?"),
            "scale": {"min": 1, "max": 5},
            "trait": "runs",
        },
    ],
    "outcomes": [{"id": "kit", "title": words("Your kit", "Ihre Ausrüstung", "Votre équipement")}],
}


@pytest.fixture
def quiz(demo: Brand) -> Quiz:
    quiz = quiz_create(brand=demo, actor=TEST_ACTOR, document=DOCUMENT)
    quiz_publish(quiz=quiz, actor=TEST_ACTOR)
    return Quiz.objects.select_related("live_version").get(pk=quiz.pk)


@pytest.fixture
def answered(demo: Brand, customer: Contact, quiz: Quiz) -> Contact:
    """cust-42 consented to personalisation, took the quiz twice (so an answer has history)."""
    personalisation = Purpose.objects.get(brand=demo, slug="personalisation")
    consent_record(
        brand=demo,
        external_id=customer.external_id,
        purpose_slug="personalisation",
        decision="granted",
        notice_version_id=current_version(personalisation, "en").public_id,
        method="api",
        recorded_by="test",
    )
    assert quiz.live_version is not None
    for answers in ({"goal": "city", "level": 2}, {"goal": "trail", "level": 3}):
        response_complete(
            brand=demo,
            version=quiz.live_version,
            answers=answers,
            outcome="kit",
            started_at=quiz.live_version.published_at,
            token_contact_id=customer.pk,
            utm={},
            evidence=EvidenceInput(),
        )
    return customer


def tab_to(page: Any, selector: str, *, limit: int = 250) -> None:
    """Press Tab until the focused element matches `selector`."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"document.activeElement && document.activeElement.matches({selector!r})"):
            return
    raise AssertionError(f"Tab never reached {selector}")


def test_a_person_corrects_one_answer_and_deletes_another_by_keyboard(
    new_page, server, demo, answered, quiz, javascript
):
    page = new_page(javascript=javascript)
    open_centre(page, server, demo, answered)
    goal = page.locator(f"#answer-{quiz.public_id}-goal")
    expect(goal.locator(".fact__value")).to_have_text("Run trails")
    expect(goal.locator("summary")).to_have_text("1 earlier answer")

    tab_to(page, f"a[href$='/told-us/{quiz.public_id}/goal']")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{server}/p/{demo.slug}/told-us/{quiz.public_id}/goal")
    tab_to(page, "input[name=value]:checked")  # the answer that stands is chosen
    page.keyboard.press("ArrowDown")  # to "Run in town"
    tab_to(page, "main form button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{server}{HOME}#answer-{quiz.public_id}-goal")
    expect(page.get_by_text("Saved. Your answer is corrected.")).to_be_visible()
    expect(goal.locator(".fact__value")).to_have_text("Run in town")
    expect(goal.locator("summary")).to_have_text("2 earlier answers")

    tab_to(page, f"form[action$='/told-us/{quiz.public_id}/level/delete'] button")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{server}{HOME}#told-us")
    expect(page.get_by_text("Deleted: your answer, and what we had taken from it.")).to_be_visible()
    expect(page.locator(f"#answer-{quiz.public_id}-level")).to_have_count(0)

    assert list(
        Answer.objects.filter(contact=answered, question__key="goal")
        .order_by("recorded_at", "id")
        .values_list("kind", "source", "value")
    ) == [
        ("answered", "quiz", "city"),
        ("answered", "quiz", "trail"),
        ("corrected", "preference_centre", "city"),
    ]
    assert list(
        Answer.objects.filter(contact=answered, question__key="level").values_list("kind", "value")
    ) == [("deleted", None)]
    updated, forgotten = Event.objects.filter(contact_ref=answered.pk).order_by("sequence")[::1][-2:]
    assert (updated.type, updated.data["traits"], updated.data["removed"]) == (
        "traits.updated",
        {"goal": "city"},
        [],
    )
    assert (forgotten.type, forgotten.data["traits"], forgotten.data["reason"]) == (
        "traits.forgotten",
        ["runs"],
        "deleted",
    )


@pytest.fixture(params=["en", "de", "fr"])
def language(request, answered) -> str:
    contact_upsert(brand=answered.brand, external_id=answered.external_id, locale=request.param)
    return str(request.param)


def test_the_centre_with_quiz_answers_is_accessible(new_page, server, demo, answered, quiz, language):
    page = new_page()
    open_centre(page, server, demo, answered)
    page.locator(f"#answer-{quiz.public_id}-goal summary").click()  # the history open
    # The quiz is written in every language of the page: nothing is marked as another one.
    expect(page.locator("main [lang]")).to_have_count(0)
    assert_accessible(page, language)


def test_the_correction_page_with_an_error_is_accessible(new_page, server, demo, answered, quiz, language):
    page = new_page()
    open_centre(page, server, demo, answered)
    page.goto(f"{server}/p/{demo.slug}/told-us/{quiz.public_id}/level")
    page.evaluate("document.querySelectorAll('input[name=value]').forEach(i => { i.checked = false })")
    page.locator("main form button[type=submit]").click()
    expect(page.locator("#error-summary")).to_be_focused()
    assert_accessible(page, language)
