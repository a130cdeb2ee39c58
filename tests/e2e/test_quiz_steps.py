"""The hosted quiz page's steps in real Chromium. With JavaScript (static/quizzes/step.js) a step
is one POST carrying `Candor-Quiz-Step: 1`, answered with the next page, whose address (the
`Candor-Quiz-Page` header) becomes the page's URL; focus moves to the new heading, or to the error
summary; Back shows the previous question without a request, reload fetches the pushed address;
an error adds no history entry; "Save my progress" says "Saved". Without JavaScript the same run
is POST, 303, GET. axe-core finds nothing on a page drawn by the script."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from quizzes.models import Answer, FunnelCount, Quiz, Response
from quizzes.services import quiz_archive
from tests.actors import TEST_ACTOR
from tests.e2e import test_quiz_widget
from tests.e2e.test_accessibility import assert_accessible

pytestmark = pytest.mark.e2e

# The widget's fixtures, by name: the shop brand and its published four-question quiz.
shop = test_quiz_widget.shop
quiz = test_quiz_widget.quiz

GOAL = "What is your goal?"
LEVEL = "How fit are you today?"
KIT = "What do you own already?"
NEWS = "May we send you training tips by email?"
OUTCOME = "Race plan"
# (the question's heading, the value to choose: None leaves the optional question blank, the
# heading shown next)
RUN = [(GOAL, "marathon", LEVEL), (LEVEL, "4", KIT), (KIT, None, NEWS), (NEWS, "yes", OUTCOME)]
SAVED = "Saved. Your answers so far are stored."


def quiz_address(server: str, quiz: Quiz) -> str:
    return f"{server}/q/{quiz.public_id}/"


def heading(page: Any, name: str) -> Any:
    return page.get_by_role("heading", name=name, level=1)


def quiz_requests(page: Any, server: str) -> list[Any]:
    """Every request to the quiz page from now on, in order (static files are elsewhere)."""
    seen: list[Any] = []

    def record(request: Any) -> None:
        if request.url.startswith(f"{server}/q/"):
            seen.append(request)

    page.on("request", record)
    return seen


def answer(page: Any, value: str | None) -> None:
    """Choose `value` (None: nothing) and press Continue."""
    if value is not None:
        page.locator(f"input[name=answer][value='{value}']").check()
    page.get_by_role("button", name="Continue").click()


def step_post(page: Any, server: str, quiz: Quiz, value: str | None) -> Any:
    """Answer with `value`; the response to the POST it sent."""
    address = quiz_address(server, quiz)
    with page.expect_response(lambda r: r.url.startswith(address) and r.request.method == "POST") as sent:
        answer(page, value)
    return sent.value


def test_with_javascript_a_step_is_one_request_and_focus_moves_to_the_next_heading(
    new_page: Any, server: str, quiz: Quiz
):
    page = new_page()
    page.goto(quiz_address(server, quiz))
    expect(heading(page, GOAL)).to_be_visible()
    seen = quiz_requests(page, server)

    for shown, value, following in RUN:
        expect(heading(page, shown)).to_be_visible()
        before = len(seen)
        response = step_post(page, server, quiz, value)
        expect(heading(page, following)).to_be_visible()
        assert [(r.method, r.headers.get("candor-quiz-step")) for r in seen[before:]] == [("POST", "1")]
        named = response.headers.get("candor-quiz-page")
        assert named is not None, (shown, response.status, response.headers)
        assert named.startswith(f"/q/{quiz.public_id}/?"), named
        assert "state=" in named, named
        expect(page).to_have_url(server + named)
        expect(heading(page, following)).to_be_focused()

    assert [r.method for r in seen] == ["POST"] * len(RUN)  # never a GET of the quiz page
    expect(page).to_have_title(re.compile(f"^{OUTCOME} – "))
    response = Response.objects.get()
    assert response.outcome == "racer"
    assert sorted(Answer.objects.values_list("question__key", "value", "contact")) == [
        ("goal", "marathon", None),
        ("level", 4, None),
        ("news", True, None),
    ]  # the optional question left blank stores no answer


def test_with_javascript_back_shows_the_previous_question_without_a_request_and_reload_gets_it(
    new_page: Any, server: str, quiz: Quiz
):
    page = new_page()
    page.goto(quiz_address(server, quiz))
    seen = quiz_requests(page, server)
    step_post(page, server, quiz, "marathon")
    expect(heading(page, LEVEL)).to_be_focused()
    level_url = page.url
    step_post(page, server, quiz, "4")
    expect(heading(page, KIT)).to_be_focused()
    assert len(seen) == 2

    page.go_back()
    expect(heading(page, LEVEL)).to_be_focused()  # drawn by the script from the history's snapshot
    expect(page).to_have_url(level_url)
    expect(page).to_have_title(re.compile(f"^{re.escape(LEVEL)} – "))
    assert len(seen) == 2  # no request

    response = step_post(page, server, quiz, "4")  # answering it again moves on
    expect(heading(page, KIT)).to_be_focused()
    kit_url = server + response.headers["candor-quiz-page"]
    expect(page).to_have_url(kit_url)
    assert [r.method for r in seen] == ["POST", "POST", "POST"]

    page.reload()
    expect(heading(page, KIT)).to_be_visible()
    assert [(r.method, r.url) for r in seen[3:]] == [("GET", kit_url)]  # as without JavaScript
    step_post(page, server, quiz, None)
    expect(heading(page, NEWS)).to_be_focused()


def test_with_javascript_an_error_adds_no_history_entry_and_saving_says_saved(
    new_page: Any, server: str, quiz: Quiz
):
    page = new_page()
    page.goto(quiz_address(server, quiz))
    expect(heading(page, GOAL)).to_be_visible()
    start_url = page.url
    entries = page.evaluate("history.length")

    response = step_post(page, server, quiz, None)
    assert response.status == 422
    assert "candor-quiz-page" not in response.headers
    summary = page.locator("#error-summary")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("Please answer this question.")
    expect(page).to_have_title(re.compile(f"^Error: {re.escape(GOAL)} – "))
    assert page.url == start_url
    assert page.evaluate("history.length") == entries
    # Sent wrong again: the new summary takes focus too (a browser honours `autofocus` once a
    # page, so this is the script's doing, through candor.js).
    assert step_post(page, server, quiz, None).status == 422
    expect(summary).to_be_focused()

    step_post(page, server, quiz, "marathon")
    expect(heading(page, LEVEL)).to_be_focused()
    page.get_by_role("button", name="Save my progress").click()
    expect(page.get_by_role("status")).to_have_text(SAVED)
    expect(page).to_have_url(re.compile(r"[?&]saved=1(&|$)"))
    expect(heading(page, LEVEL)).to_be_focused()
    assert Response.objects.count() == 1
    assert list(Answer.objects.values_list("question__key", "value")) == [("goal", "marathon")]


def test_without_javascript_each_step_is_a_post_redirected_to_a_get(new_page: Any, server: str, quiz: Quiz):
    page = new_page(javascript=False)
    page.goto(quiz_address(server, quiz))
    answered: list[tuple[str, int]] = []
    page.on(
        "response",
        lambda r: answered.append((r.request.method, r.status)) if r.url.startswith(f"{server}/q/") else None,
    )

    for shown, value, following in RUN:
        expect(heading(page, shown)).to_be_visible()
        before = len(answered)
        answer(page, value)
        expect(heading(page, following)).to_be_visible()
        assert answered[before:] == [("POST", 303), ("GET", 200)], shown

    assert "state=" in page.url
    assert Response.objects.get().outcome == "racer"


def test_pages_drawn_by_the_script_have_no_wcag_violation(new_page: Any, server: str, quiz: Quiz):
    page = new_page(width=1000)
    page.goto(quiz_address(server, quiz))
    step_post(page, server, quiz, "marathon")
    expect(heading(page, LEVEL)).to_be_focused()
    assert_accessible(page, "en")  # the scale, and "Save my progress"

    page.set_viewport_size({"width": 1000, "height": 900})
    response = step_post(page, server, quiz, None)
    assert response.status == 422
    expect(page.locator("#error-summary")).to_be_focused()
    assert_accessible(page, "en")  # the scale with its error


def test_with_javascript_an_answer_that_is_not_the_quiz_pages_own_is_shown_by_an_ordinary_submit(
    new_page: Any, server: str, quiz: Quiz
):
    """A quiz archived while someone answers it: the script's POST gets a 404, which is not one of
    the quiz page's answers, so the form goes again the ordinary way and the browser shows the
    whole 404 page (not its content inside the quiz's frame)."""
    page = new_page()
    page.goto(quiz_address(server, quiz))
    expect(heading(page, GOAL)).to_be_visible()
    seen = quiz_requests(page, server)
    quiz_archive(quiz=quiz, actor=TEST_ACTOR)

    answer(page, "marathon")
    expect(heading(page, "Page not found")).to_be_visible()
    assert [(r.method, r.headers.get("candor-quiz-step")) for r in seen] == [("POST", "1"), ("POST", None)]
    expect(page.locator("body.quiz")).to_have_count(0)  # the site's 404 page, not the quiz's frame
    assert not Response.objects.exists()


def test_with_javascript_a_step_the_network_drops_goes_again_the_ordinary_way(
    new_page: Any, server: str, quiz: Quiz
):
    """The script's request never reaches the server (a dropped connection, a blocking proxy):
    the form goes again as a plain POST, redirected to the next question, and the step counts
    once."""
    page = new_page()
    page.goto(quiz_address(server, quiz))
    expect(heading(page, GOAL)).to_be_visible()
    page.route(
        f"{server}/q/**",
        lambda route: route.abort() if route.request.headers.get("candor-quiz-step") else route.continue_(),
    )
    answered: list[tuple[str, int]] = []
    page.on(
        "response",
        lambda r: answered.append((r.request.method, r.status)) if r.url.startswith(f"{server}/q/") else None,
    )

    answer(page, "marathon")
    expect(heading(page, LEVEL)).to_be_visible()
    assert answered == [("POST", 303), ("GET", 200)]  # the aborted one has no response
    assert "state=" in page.url
    assert FunnelCount.objects.get(step="answered:goal").count == 1
