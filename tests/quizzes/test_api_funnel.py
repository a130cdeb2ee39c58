"""GET /api/v1/quizzes/{public_id}/funnel: the numbers from given FunnelCount rows, per version and
date range, in a constant number of queries however many rows there are."""

from __future__ import annotations

import copy
from datetime import date, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from brands.models import Brand, Scope
from quizzes.models import FunnelCount, QuizVersion
from quizzes.services import quiz_create, quiz_draft_save, quiz_publish
from tests.actors import TEST_ACTOR

pytestmark = pytest.mark.django_db

DAY = date(2026, 11, 2)


@pytest.fixture
def admin(brand: Brand, make_client: Any) -> APIClient:
    return make_client(brand, [Scope.ADMIN])


def count(version: QuizVersion, day: date, **steps: int) -> None:
    """FunnelCount rows as the quiz page leaves them; keyword `opted_in__email_marketing` is
    step `opted_in:email-marketing`."""

    def step(name: str) -> str:
        kind, _, key = name.partition("__")
        return f"{kind}:{key.replace('_', '-')}" if key else kind

    FunnelCount.objects.bulk_create(
        FunnelCount(version=version, day=day, step=step(name), count=n) for name, n in steps.items()
    )


def seed(version: QuizVersion) -> None:
    count(
        version,
        DAY,
        viewed=100,
        started=80,
        answered__goal=80,
        answered__level=50,
        answered__kit=20,
        answered__news=60,
        completed=60,
        outcome__racer=45,
        outcome__starter=15,
        opted_in__email_marketing=30,
    )
    count(
        version,
        DAY + timedelta(days=1),
        viewed=20,
        started=20,
        answered__goal=20,
        answered__level=10,
        answered__news=10,
        completed=10,
        outcome__starter=10,
        opted_in__email_marketing=1,
    )


def test_the_funnel_of_the_live_version_over_all_days(admin: APIClient, live_version: QuizVersion):
    seed(live_version)
    response = admin.get(f"/api/v1/quizzes/{live_version.quiz.public_id}/funnel")
    assert response.status_code == 200
    assert response.json() == {
        "quiz": live_version.quiz.public_id,
        "version": 1,
        "from": None,
        "to": None,
        "viewed": 120,
        "started": 100,
        "completed": 70,
        "start_rate": 0.8333,
        "completion_rate": 0.7,
        "questions": [
            {"key": "goal", "answered": 100, "drop_off": 0, "drop_off_rate": 0.0},
            {"key": "level", "answered": 60, "drop_off": 40, "drop_off_rate": 0.4},
            {"key": "kit", "answered": 20, "drop_off": 40, "drop_off_rate": 0.6667},
            # Branches send people past `kit` straight to `news`: more answered it than `kit`.
            {"key": "news", "answered": 70, "drop_off": -50, "drop_off_rate": -2.5},
        ],
        "outcomes": [
            {"outcome": "starter", "count": 25, "rate": 0.3571},
            {"outcome": "racer", "count": 45, "rate": 0.6429},
        ],
        "opt_ins": [{"purpose": "email-marketing", "count": 31, "rate": 0.4429}],
    }


def test_the_date_range_includes_both_days_and_leaves_out_the_rest(
    admin: APIClient, live_version: QuizVersion
):
    seed(live_version)
    path = f"/api/v1/quizzes/{live_version.quiz.public_id}/funnel"
    second = admin.get(f"{path}?from=2026-11-03&to=2026-11-03").json()
    assert (second["from"], second["to"], second["viewed"], second["completed"]) == (
        "2026-11-03",
        "2026-11-03",
        20,
        10,
    )
    assert second["outcomes"] == [
        {"outcome": "starter", "count": 10, "rate": 1.0},
        {"outcome": "racer", "count": 0, "rate": 0.0},
    ]
    first = admin.get(f"{path}?to=2026-11-02").json()
    assert (first["viewed"], first["started"], first["completed"]) == (100, 80, 60)
    none = admin.get(f"{path}?from=2026-12-01").json()
    assert (none["viewed"], none["start_rate"], none["completion_rate"]) == (0, None, None)
    assert none["questions"][0] == {"key": "goal", "answered": 0, "drop_off": 0, "drop_off_rate": None}
    assert none["opt_ins"] == [{"purpose": "email-marketing", "count": 0, "rate": None}]


def test_each_version_has_its_own_funnel_in_its_own_question_order(
    admin: APIClient, live_version: QuizVersion, quiz_document: dict[str, Any]
):
    seed(live_version)
    quiz = live_version.quiz
    reordered = copy.deepcopy(quiz_document)
    reordered["questions"] = [reordered["questions"][i] for i in (0, 1, 3, 2)]
    reordered["outcomes"] = reordered["outcomes"][::-1]
    quiz_draft_save(quiz=quiz, actor=TEST_ACTOR, document=reordered)
    second = quiz_publish(quiz=quiz, actor=TEST_ACTOR)
    count(second, DAY, viewed=5, started=4, answered__goal=4, completed=1, opted_in__sms_marketing=1)
    path = f"/api/v1/quizzes/{quiz.public_id}/funnel"
    live = admin.get(path).json()
    assert (live["version"], live["viewed"], live["completed"]) == (2, 5, 1)
    assert [q["key"] for q in live["questions"]] == ["goal", "level", "news", "kit"]
    assert [o["outcome"] for o in live["outcomes"]] == ["racer", "starter"]
    # A purpose counted without a consent question for it is listed after those asked.
    assert live["opt_ins"] == [
        {"purpose": "email-marketing", "count": 0, "rate": 0.0},
        {"purpose": "sms-marketing", "count": 1, "rate": 1.0},
    ]
    first = admin.get(f"{path}?version=1").json()
    assert (first["version"], first["viewed"], first["completed"]) == (1, 120, 70)
    assert admin.get(f"{path}?version=3").status_code == 404


def test_a_quiz_never_published_has_an_empty_funnel(
    admin: APIClient, brand: Brand, quiz_document: dict[str, Any]
):
    quiz = quiz_create(brand=brand, actor=TEST_ACTOR, document=quiz_document)
    assert admin.get(f"/api/v1/quizzes/{quiz.public_id}/funnel").json() == {
        "quiz": quiz.public_id,
        "version": None,
        "from": None,
        "to": None,
        "viewed": 0,
        "started": 0,
        "completed": 0,
        "start_rate": None,
        "completion_rate": None,
        "questions": [],
        "outcomes": [],
        "opt_ins": [],
    }


@pytest.mark.parametrize(
    ("query", "name", "message"),
    [
        ("from=2026-13-01", "from", "from must be a day, YYYY-MM-DD."),
        ("to=20261101", "to", "to must be a day, YYYY-MM-DD."),
        ("from=2026-11-03&to=2026-11-02", "to", "to must not be before from."),
        ("version=one", "version", "version must be a published version's number (1, 2, …)."),
        ("version=0", "version", "version must be a published version's number (1, 2, …)."),
    ],
)
def test_bad_parameters_are_400_problems_naming_them(
    admin: APIClient, live_version: QuizVersion, query: str, name: str, message: str
):
    response = admin.get(f"/api/v1/quizzes/{live_version.quiz.public_id}/funnel?{query}")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json() == {
        "type": "urn:candor:problem:bad-request",
        "title": "Bad request",
        "status": 400,
        "detail": message,
        "errors": {name: [message]},
    }


def test_a_malformed_version_of_the_document_itself_stays_422(admin: APIClient, live_version: QuizVersion):
    """Only the funnel's parameters became 400: GET …/{id}?version= keeps its answer."""
    response = admin.get(f"/api/v1/quizzes/{live_version.quiz.public_id}?version=one")
    assert response.status_code == 422


def test_another_versions_or_quizs_rows_never_count(
    admin: APIClient, brand: Brand, live_version: QuizVersion, quiz_document: dict[str, Any]
):
    other = quiz_create(brand=brand, actor=TEST_ACTOR, document=quiz_document)
    count(quiz_publish(quiz=other, actor=TEST_ACTOR), DAY, viewed=999, completed=999)
    count(live_version, DAY, viewed=3)
    body = admin.get(f"/api/v1/quizzes/{live_version.quiz.public_id}/funnel").json()
    assert (body["viewed"], body["completed"]) == (3, 0)


def test_the_funnel_reads_in_the_same_few_queries_for_one_day_or_ninety(
    admin: APIClient, live_version: QuizVersion
):
    path = f"/api/v1/quizzes/{live_version.quiz.public_id}/funnel?version=1&from=2026-01-01"
    count(live_version, DAY, viewed=1)
    admin.get(path)  # the key's first request reads and caches more than the later ones
    with CaptureQueriesContext(connection) as few:
        assert admin.get(path).status_code == 200
    for offset in range(1, 90):
        seed_day = DAY - timedelta(days=offset)
        count(live_version, seed_day, viewed=10, started=8, answered__goal=8, completed=5, outcome__racer=5)
    with CaptureQueriesContext(connection) as many:
        body = admin.get(path).json()
    assert body["viewed"] == 1 + 89 * 10
    assert len(many) == len(few)
    funnel_queries = [q["sql"] for q in many.captured_queries if "quizzes_funnelcount" in q["sql"]]
    assert len(funnel_queries) == 1
    assert "GROUP BY" in funnel_queries[0]
    assert "quizzes_response" not in " ".join(q["sql"] for q in many.captured_queries)
