"""The console's funnel page of a quiz (console/views/quiz_funnel.py): the API's figures
(FunnelCount rollups) as a chart with a table beside it, per version and range of days, for
owners, editors and viewers; a bad filter is a 400 page naming it; another brand's quiz is 404."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from brands.models import Brand
from consent.models import NoticeVersion, Purpose
from preferences.topics import topic_create
from quizzes.models import FunnelCount, Quiz, QuizVersion
from quizzes.services import quiz_create, quiz_draft_save, quiz_publish
from tests.actors import TEST_ACTOR
from tests.quizzes.conftest import running_document

pytestmark = pytest.mark.django_db

DAY = date(2026, 11, 2)


@pytest.fixture
def quiz(brand: Brand, make_purpose: Any, purpose: Purpose, notice_version: NoticeVersion) -> Quiz:
    make_purpose(brand, "personalisation")
    topic_create(
        actor=TEST_ACTOR,
        brand=brand,
        slug="training",
        name="Training",
        purpose=purpose,
        channels=["email"],
        cadence_options=["weekly", "monthly"],
    )
    return quiz_create(brand=brand, actor=TEST_ACTOR, document=running_document(notice_version.public_id))


@pytest.fixture
def live(quiz: Quiz) -> QuizVersion:
    return quiz_publish(quiz=quiz, actor=TEST_ACTOR)


def count(version: QuizVersion, day: date, steps: dict[str, int]) -> None:
    FunnelCount.objects.bulk_create(
        FunnelCount(version=version, day=day, step=step, count=n) for step, n in steps.items()
    )


def seed(version: QuizVersion) -> None:
    count(
        version,
        DAY,
        {
            "viewed": 200,
            "started": 160,
            "answered:goal": 160,
            "answered:level": 100,
            "answered:kit": 40,
            "answered:news": 120,
            "completed": 120,
            "outcome:racer": 90,
            "outcome:starter": 30,
            "opted_in:email-marketing": 60,
        },
    )
    count(version, DAY + timedelta(days=5), {"viewed": 50, "started": 10, "answered:goal": 10})


@pytest.fixture
def owner(brand: Brand, make_staff: Any, signed_in: Any) -> Client:
    return signed_in(make_staff(brand, "owner"))


def url(quiz: Quiz, query: str = "") -> str:
    return f"/console/{quiz.brand.slug}/quizzes/{quiz.public_id}/funnel/" + (f"?{query}" if query else "")


def rows(html: str, caption: str) -> list[list[str]]:
    """The body rows of the table with this caption, each cell's text."""
    table = re.search(rf"<caption>{re.escape(caption)}</caption>(.*?)</table>", html, re.S)
    assert table, caption
    body = table.group(1).split("<tbody>")[1]
    return [
        [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


def test_the_funnel_at_a_glance_with_its_tables(owner: Client, quiz: Quiz, live: QuizVersion):
    seed(live)
    response = owner.get(url(quiz))
    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1>Funnel: Find your plan</h1>" in html
    summary = re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", html)
    assert summary == [
        ("Viewed", "250"),
        ("Started", "170"),
        ("Start rate", "68.0%"),
        ("Completed", "120"),
        ("Completion rate", "70.6%"),
    ]
    assert rows(html, "People at each step, and how many fewer than at the step before") == [
        ["Viewed the quiz", "250", "100.0%", "–", "–"],
        ["Started (answered the first question)", "170", "68.0%", "80", "32.0%"],
        ["Question 1: What is your goal?", "170", "68.0%", "0", "0.0%"],
        ["Question 2: How fit are you today?", "100", "40.0%", "70", "41.2%"],
        ["Question 3: What do you own already?", "40", "16.0%", "60", "60.0%"],
        ["Question 4: May we send you training tips by email?", "120", "48.0%", "-80", "-200.0%"],
        ["Completed", "120", "48.0%", "0", "0.0%"],
    ]
    assert rows(html, "The outcome each completed run reached") == [
        ["Start easy", "30", "25.0%"],
        ["Race plan", "90", "75.0%"],
    ]
    assert rows(html, "Consents given in the quiz, per purpose") == [["Email Marketing", "60", "50.0%"]]
    # Three charts, each an image with a title and a description that carries the figures.
    charts = re.findall(r'<svg class="chart" id="([\w-]+)"[^>]*role="img"', html)
    assert charts == ["chart-funnel", "chart-outcomes", "chart-opt-ins"]
    assert '<title id="chart-funnel-title">How far people got</title>' in html
    assert (
        '<desc id="chart-funnel-desc">People at each step of the quiz, since the version was published: '
        "Viewed the quiz: 250 (100.0%); Started (answered the first question): 170 (68.0%); "
    ) in html
    assert "Race plan: 90 (75.0%)" in html


def test_the_filters_choose_a_version_and_days(owner: Client, quiz: Quiz, live: QuizVersion):
    seed(live)
    document = running_document(live.document["questions"][3]["notice_version"])
    document["title"]["en"] = "Find your plan, again"
    quiz_draft_save(quiz=quiz, actor=TEST_ACTOR, document=document)
    second = quiz_publish(quiz=quiz, actor=TEST_ACTOR)
    count(second, DAY, {"viewed": 7})
    html = owner.get(url(quiz)).content.decode()
    assert '<h2 id="summary-heading">Version 2 at a glance</h2>' in html
    assert '<option value="" selected>The live version (2)</option>' in html
    assert '<option value="1">Version 1</option>' in html
    first = owner.get(url(quiz, "version=1&from=2026-11-02&to=2026-11-02")).content.decode()
    assert '<h2 id="summary-heading">Version 1 at a glance</h2>' in first
    assert re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", first)[:2] == [("Viewed", "200"), ("Started", "160")]
    assert "from 2 November 2026 to 2 November 2026" in first
    # The form shows what was chosen, and works without JavaScript: a plain GET to the page.
    assert f'<form class="filters" method="get" action="{url(quiz)}">' in first
    assert 'name="from" value="2026-11-02"' in first


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("from=2026-13-01", "Enter a valid date."),
        ("to=yesterday", "Enter a valid date."),
        ("from=2026-11-03&to=2026-11-02", "The last day must not be before the first."),
        ("version=9", "Select a valid choice. 9 is not one of the available choices."),
        ("version=one", "Select a valid choice. one is not one of the available choices."),
    ],
)
def test_a_bad_filter_is_a_400_page_naming_it(owner: Client, quiz: Quiz, live: QuizVersion, query, message):
    seed(live)
    response = owner.get(url(quiz, query))
    assert response.status_code == 400
    html = response.content.decode()
    assert message in html
    assert 'class="error-summary"' in html
    assert "chart-funnel" not in html


def test_another_brands_quiz_or_an_unknown_one_is_404(
    quiz: Quiz, live: QuizVersion, other_brand: Brand, make_staff: Any, signed_in: Any
):
    outsider = signed_in(make_staff(other_brand, "owner", "owner@outsider.test"))
    theirs = f"/console/{other_brand.slug}/quizzes/{quiz.public_id}/funnel/"
    assert outsider.get(theirs).status_code == 404
    assert outsider.get(f"/console/{other_brand.slug}/quizzes/qz_nothing/funnel/").status_code == 404


def test_a_quiz_never_published_has_nothing_to_count(owner: Client, quiz: Quiz):
    response = owner.get(url(quiz))
    assert response.status_code == 200
    html = response.content.decode()
    assert "This quiz has not been published yet: there is nothing to count." in html
    assert "<svg" not in html


def test_the_page_reads_rollups_never_responses(owner: Client, quiz: Quiz, live: QuizVersion):
    seed(live)
    owner.get(url(quiz))
    with CaptureQueriesContext(connection) as few:
        owner.get(url(quiz))
    for offset in range(1, 60):
        count(live, DAY - timedelta(days=offset), {"viewed": 3, "started": 1, "completed": 1})
    with CaptureQueriesContext(connection) as many:
        assert owner.get(url(quiz)).status_code == 200
    assert len(many) == len(few)
    sql = " ".join(q["sql"] for q in many.captured_queries)
    assert "quizzes_response" not in sql
    assert "quizzes_answer" not in sql


def test_the_page_speaks_german_and_french(owner: Client, quiz: Quiz, live: QuizVersion):
    seed(live)
    german = owner.get(url(quiz), HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "<h1>Trichter: Find your plan</h1>" in german
    assert re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", german)[2] == ("Startquote", "68,0\u00a0%")
    assert '<title id="chart-funnel-title">Wie weit die Leute gekommen sind</title>' in german
    french = owner.get(url(quiz), HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert '<h2 id="drop-off-heading">Abandons par question</h2>' in french
    assert "Question 2 : How fit are you today?" in french
