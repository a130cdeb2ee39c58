"""The quiz builder in Chromium: an editor builds a two-question quiz with a branch by keyboard
alone, previews it (nothing stored), checks the branch map, publishes it, and the hosted quiz
page serves it; axe-core finds no WCAG A/AA violation on the list, the editor, the preview and
the map, in English, German and French."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from brands.models import Membership
from quizzes.models import FunnelCount, Quiz, QuizStatus, Response
from tests.console.conftest import make_person
from tests.e2e.test_accessibility import axe_report
from tests.e2e.test_console import sign_in_by_keyboard

pytestmark = pytest.mark.e2e


@pytest.fixture
def editor(demo):
    person = make_person("editor@demo.example")
    Membership.objects.create(user=person, brand=demo, role="editor")
    return person


def type_into(page, label: str, value: str, *, exact: bool = True) -> None:
    """Focus a field by its label and type, as a keyboard user would."""
    page.get_by_label(label, exact=exact).focus()
    page.keyboard.press("Control+A")
    page.keyboard.type(value)


def choose(page, label: str, typed: str, option: str) -> None:
    """Pick an option of a select with the keyboard: focus it, then type the option's start."""
    select = page.get_by_label(label, exact=True)
    select.focus()
    page.keyboard.type(typed)
    expect(select.locator("option:checked")).to_have_text(option)


def press(page, name: str) -> None:
    page.get_by_role("button", name=name, exact=True).focus()
    page.keyboard.press("Enter")


def follow(page, name: str) -> None:
    page.get_by_role("link", name=name, exact=True).first.focus()
    page.keyboard.press("Enter")


def no_violations(page, where: str) -> None:
    report = axe_report(page)
    assert not report, f"{where}: {report}"


def test_an_editor_builds_previews_and_publishes_a_quiz_by_keyboard(new_page, server, demo, editor):
    page = new_page()
    sign_in_by_keyboard(page, server, "editor@demo.example")
    page.wait_for_url(server + "/console/demo/")
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Quizzes", exact=True).focus()
    page.keyboard.press("Enter")
    page.wait_for_url(server + "/console/demo/quizzes/")

    # A new quiz with its first question.
    type_into(page, "Title", "Find your pace")
    type_into(page, "First question", "What is your goal?")
    choose(
        page,
        "Purpose its answers serve",
        "Personalise",
        "Personalise using your quiz answers (personalisation)",
    )
    press(page, "Create quiz")
    expect(page.get_by_role("status")).to_have_text("Quiz “Find your pace” created. Now add its questions.")
    quiz = Quiz.objects.get(brand=demo)

    # Two options for question 1 (their ids are offered: o1, o2).
    type_into(page, "Option (English)", "Run a marathon")
    press(page, "Add option to question 1")
    expect(page.get_by_role("status")).to_have_text("Option added.")
    page.locator("#q0-new-option-label_en").focus()
    page.keyboard.type("Get fit")
    press(page, "Add option to question 1")
    expect(page.get_by_role("status")).to_have_text("Option added.")

    # Question 2, a short text.
    page.locator("#add-question-kind").focus()
    page.keyboard.type("Short")
    page.locator("#add-question-text_en").focus()
    page.keyboard.type("Which race?")
    press(page, "Add question")
    expect(page.get_by_role("status")).to_have_text("Question added.")

    # The branch: "Get fit" ends the quiz.
    page.locator("#rule-test").focus()
    page.keyboard.type("The answer is")
    page.locator("#rule-value").focus()
    page.keyboard.type("o2")
    page.locator("#rule-to").focus()
    page.keyboard.type("The end")
    press(page, "Add rule")
    expect(page.get_by_role("status")).to_have_text("Rule added.")
    assert Quiz.objects.get(pk=quiz.pk).draft["rules"] == [{"from": "q1", "when": {"is": "o2"}, "to": "end"}]
    no_violations(page, "editor")

    # The preview, as a customer sees it: "Get fit" ends at once; the marathon asks on.
    follow(page, "Preview")
    expect(page.get_by_role("heading", level=1)).to_have_text("What is your goal?")
    no_violations(page, "preview")
    page.get_by_label("Get fit").focus()
    page.keyboard.press("Space")
    press(page, "Continue")
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you")
    follow(page, "Start the preview again")
    page.get_by_label("Run a marathon").focus()
    page.keyboard.press("Space")
    press(page, "Continue")
    expect(page.get_by_role("heading", level=1)).to_have_text("Which race?")
    assert Response.objects.count() == 0
    assert FunnelCount.objects.count() == 0

    # The map, then publishing.
    follow(page, "Branch map")
    expect(page.get_by_role("heading", level=1)).to_have_text("Branch map: Find your pace")
    expect(page.locator("#problems")).to_contain_text("No problems")
    no_violations(page, "map")
    press(page, "Publish the draft")
    expect(page.get_by_role("status")).to_have_text(f"Version 1 is live on /q/{quiz.public_id}/.")
    assert Quiz.objects.get(pk=quiz.pk).status == QuizStatus.PUBLISHED

    customer = new_page()
    customer.goto(f"{server}/q/{quiz.public_id}/")
    expect(customer.get_by_role("heading", level=1)).to_have_text("What is your goal?")
    expect(customer.get_by_label("Run a marathon")).to_be_visible()


@pytest.mark.parametrize("language", ["de", "fr"])
def test_the_builders_pages_pass_axe_in_german_and_french(new_page, server, demo, editor, language):
    """The demo's onboarding quiz (every kind of question, rules, outcomes) on the list, the
    editor, the preview and the branch map, in the staff member's language."""
    from quizzes.demo import onboarding_quiz_ensure

    quiz = onboarding_quiz_ensure(brand=demo)
    page = new_page()
    page.context.add_cookies([{"name": "django_language", "value": language, "url": server}])
    sign_in_by_keyboard(page, server, "editor@demo.example")
    page.wait_for_url(server + "/console/demo/")

    base = f"/console/demo/quizzes/{quiz.public_id}/"
    for url in ("/console/demo/quizzes/", base, f"{base}preview/", f"{base}map/"):
        page.goto(server + url)
        assert page.evaluate("document.documentElement.lang") == language, url
        expect(page.get_by_role("heading", level=1)).to_have_count(1)
        no_violations(page, url)
    # The preview shows the quiz as a customer reading this language sees it.
    page.goto(f"{server}{base}preview/")
    first_question = {
        "de": "Was möchten Sie dieses Jahr draußen am liebsten machen?",
        "fr": "Que voulez-vous faire dehors cette année ?",
    }[language]
    expect(page.get_by_text(first_question, exact=True).first).to_be_visible()
