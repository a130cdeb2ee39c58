"""Reads of a brand's quizzes: the list, one quiz, one published version, and the funnel.

Every read takes the brand (or a quiz already read through it): another brand's quiz is simply
not found. The funnel reads FunnelCount rows only (one row per version, day and step, summed by
step in the database), never responses, so it costs the same for ten people as for a million.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db.models import Sum

from brands.models import Brand
from config.errors import NotFound
from quizzes.document import parse
from quizzes.models import FunnelCount, Quiz, QuizVersion


def quizzes_list(*, brand: Brand, after_id: int = 0, limit: int = 50) -> list[Quiz]:
    """Oldest first, one more than `limit` (the caller pages with it)."""
    return list(
        Quiz.objects.filter(brand=brand, pk__gt=after_id)
        .select_related("live_version")
        .order_by("pk")[: limit + 1]
    )


def quiz_get(*, brand: Brand, public_id: str, for_update: bool = False) -> Quiz:
    """One quiz of the brand (404 otherwise); `for_update` locks its row until the transaction
    ends, for a write that must see the draft as it is (If-Match)."""
    quizzes = Quiz.objects.filter(brand=brand, public_id=public_id)
    if for_update:
        quizzes = quizzes.select_for_update(of=("self",))
    quiz = quizzes.select_related("live_version").first()
    if quiz is None:
        raise NotFound(f"No quiz '{public_id}'.")
    return quiz


def quiz_version_get(*, quiz: Quiz, number: int) -> QuizVersion:
    if quiz.live_version is not None and quiz.live_version.number == number:
        return quiz.live_version
    version = QuizVersion.objects.filter(quiz=quiz, number=number).first()
    if version is None:
        raise NotFound(f"The quiz '{quiz.public_id}' has no version {number}.")
    return version


# --- The funnel ------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuestionStep:
    key: str
    answered: int
    drop_off: int  # the step before (started, or the previous question) minus this one
    drop_off_rate: float | None


@dataclass(frozen=True)
class Share:
    key: str  # an outcome id, or a purpose slug
    count: int
    rate: float | None  # of those who completed


@dataclass(frozen=True)
class Funnel:
    quiz: str
    version: int | None
    since: date | None
    until: date | None
    viewed: int
    started: int
    completed: int
    start_rate: float | None
    completion_rate: float | None
    questions: list[QuestionStep]
    outcomes: list[Share]
    opt_ins: list[Share]


def _rate(part: int, whole: int) -> float | None:
    """A share rounded to four places; None when there is nothing to divide by."""
    return round(part / whole, 4) if whole else None


def funnel_get(*, quiz: Quiz, version: QuizVersion | None, since: date | None, until: date | None) -> Funnel:
    """The counts of one version (the live one when none is named) between two days (UTC,
    inclusive; either may be open): one query over at most (days x steps) rows, grouped by step.

    Questions follow the version's order; a question's drop-off is how many fewer answered it
    than the step before (with branching, people a rule sent past a question count there too,
    so it may be negative). Outcomes and opt-ins are shares of the completed runs; the opt-ins
    list every purpose a consent question of the version asks for, then any other counted."""
    version = version or quiz.live_version
    if version is None:  # never published: nothing has been counted
        return Funnel(quiz.public_id, None, since, until, 0, 0, 0, None, None, [], [], [])
    rows = FunnelCount.objects.filter(version=version)
    if since is not None:
        rows = rows.filter(day__gte=since)
    if until is not None:
        rows = rows.filter(day__lte=until)
    counts = {
        step: int(total) for step, total in rows.values_list("step").annotate(total=Sum("count")).order_by()
    }
    document = parse(version.document)
    viewed, started, completed = (counts.get(step, 0) for step in ("viewed", "started", "completed"))

    questions: list[QuestionStep] = []
    before = started
    for question in document.questions:
        answered = counts.get(f"answered:{question.id}", 0)
        lost = before - answered
        questions.append(QuestionStep(question.id, answered, lost, _rate(lost, before)))
        before = answered

    outcomes = [
        Share(o.id, counts.get(f"outcome:{o.id}", 0), _rate(counts.get(f"outcome:{o.id}", 0), completed))
        for o in document.outcomes
    ]
    asked = list(dict.fromkeys(q.purpose for q in document.questions if q.kind == "consent"))
    counted = sorted(step.removeprefix("opted_in:") for step in counts if step.startswith("opted_in:"))
    purposes = asked + [slug for slug in counted if slug not in asked]
    opt_ins = [
        Share(slug, counts.get(f"opted_in:{slug}", 0), _rate(counts.get(f"opted_in:{slug}", 0), completed))
        for slug in purposes
    ]
    return Funnel(
        quiz=quiz.public_id,
        version=version.number,
        since=since,
        until=until,
        viewed=viewed,
        started=started,
        completed=completed,
        start_rate=_rate(started, viewed),
        completion_rate=_rate(completed, started),
        questions=questions,
        outcomes=outcomes,
        opt_ins=opt_ins,
    )
