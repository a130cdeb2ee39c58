"""Reads of the hosted quiz page: the quiz a visitor opened, with its brand and live version."""

from __future__ import annotations

from consent.models import NoticeVersion
from quizzes.models import Quiz, QuizStatus, QuizVersion


def quiz_live(*, public_id: str) -> Quiz | None:
    """The published quiz with this public id, its brand and live version in one query; None
    for an unknown, never-published or archived quiz."""
    return (
        Quiz.objects.select_related("brand", "live_version")
        .filter(public_id=public_id, status=QuizStatus.PUBLISHED, live_version__isnull=False)
        .first()
    )


def quiz_version(*, quiz: Quiz, version_id: int) -> QuizVersion | None:
    """One of the quiz's versions (a run keeps the version it started on)."""
    version: QuizVersion | None
    if quiz.live_version is not None and quiz.live_version.pk == version_id:
        version = quiz.live_version
    else:
        version = QuizVersion.objects.filter(quiz=quiz, pk=version_id).first()
    if version is not None:
        version.quiz = quiz
    return version


def notice_version_shown(*, quiz: Quiz, public_id: str | None) -> NoticeVersion | None:
    """The notice version a consent question shows, if it is the brand's."""
    if not public_id:
        return None
    return NoticeVersion.objects.filter(public_id=public_id, notice__purpose__brand=quiz.brand_id).first()
