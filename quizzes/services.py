"""Writes to a brand's quizzes as configuration: create, save a draft, publish, archive.

A draft may be saved while unfinished, but never in the wrong shape: every save is checked
against the JSON Schema. Publishing checks everything else (quizzes.document.problems, and that
every purpose, topic, channel, cadence and notice version it names is the brand's) and freezes
the draft into a new QuizVersion. Every change writes the brand's audit log.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import jsonschema
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from brands.audit import Actor, AuditAction
from brands.models import Brand
from brands.services import audit_record
from config.errors import Conflict, Unprocessable
from consent.models import NoticeVersion, Purpose
from preferences.models import Topic
from quizzes.document import Problem, parse, problems, schema
from quizzes.models import Question, Quiz, QuizStatus, QuizVersion

_validator = jsonschema.Draft202012Validator(schema(), format_checker=jsonschema.FormatChecker())


def _refusal(found: list[Problem], detail: str) -> Unprocessable:
    """Problems as a 422 whose `errors` are keyed by JSON pointer into the document."""
    errors: dict[str, list[str]] = {}
    for problem in found:
        errors.setdefault(problem.pointer or "/", []).append(problem.message)
    return Unprocessable(detail, errors=errors)


def shape_problems(document: Any) -> list[Problem]:
    """What the JSON Schema says is wrong, most specific first, one message per place."""
    found = []
    for error in sorted(_validator.iter_errors(document), key=lambda e: (list(e.absolute_path), e.message)):
        pointer = "".join(f"/{part}" for part in error.absolute_path)
        found.append(Problem(pointer, error.message))
    return found


def reference_problems(*, brand: Brand, document: Mapping[str, Any]) -> list[Problem]:
    """The purposes, topics (with their channels and cadences) and notice versions the document
    names, checked against the brand's own, in three queries."""
    parsed = parse(document)
    purpose_slugs = {q.purpose for q in parsed.questions}
    purposes = set(Purpose.objects.filter(brand=brand, slug__in=purpose_slugs).values_list("slug", flat=True))
    topic_slugs = {s.topic for q in parsed.questions for o in q.options for s in o.effects.subscribe}
    topics = {t.slug: t for t in Topic.objects.filter(brand=brand, slug__in=topic_slugs)}
    notice_ids = {q.notice_version for q in parsed.questions if q.notice_version}
    notices = dict(
        NoticeVersion.objects.filter(notice__purpose__brand=brand, public_id__in=notice_ids).values_list(
            "public_id", "notice__purpose__slug"
        )
    )
    found: list[Problem] = []
    for index, question in enumerate(parsed.questions):
        here = f"/questions/{index}"
        if question.purpose not in purposes:
            found.append(Problem(f"{here}/purpose", f"The brand has no purpose {question.purpose!r}."))
        if question.notice_version:
            purpose_of_notice = notices.get(question.notice_version)
            if purpose_of_notice is None:
                found.append(
                    Problem(
                        f"{here}/notice_version",
                        f"The brand has no notice version {question.notice_version!r}.",
                    )
                )
            elif purpose_of_notice != question.purpose:
                found.append(
                    Problem(
                        f"{here}/notice_version",
                        f"That notice is for the purpose {purpose_of_notice!r}, not {question.purpose!r}.",
                    )
                )
        for o_index, option in enumerate(question.options):
            for s_index, subscribe in enumerate(option.effects.subscribe):
                there = f"{here}/options/{o_index}/effects/subscribe/{s_index}"
                topic = topics.get(subscribe.topic)
                if topic is None:
                    found.append(Problem(f"{there}/topic", f"The brand has no topic {subscribe.topic!r}."))
                    continue
                if subscribe.channel not in topic.channels:
                    found.append(
                        Problem(
                            f"{there}/channel",
                            f"The topic {topic.slug!r} is not sent by {subscribe.channel}.",
                        )
                    )
                if subscribe.cadence and subscribe.cadence not in topic.cadence_options:
                    found.append(
                        Problem(
                            f"{there}/cadence",
                            f"The topic {topic.slug!r} offers no {subscribe.cadence} cadence.",
                        )
                    )
    return found


def _checked_shape(document: Any) -> dict[str, Any]:
    found = shape_problems(document)
    if found:
        raise _refusal(found, "The quiz document does not match its schema (quiz-1.schema.json).")
    return dict(document)


def _fingerprint(document: Mapping[str, Any]) -> str:
    """A short, stable digest of a document, for the audit log (documents are too big to copy)."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _title(document: Mapping[str, Any]) -> str:
    title = document["title"]
    return str(title.get(document["language"]) or next(iter(title.values())))[:200]


@transaction.atomic
def quiz_create(*, brand: Brand, actor: Actor, document: Any) -> Quiz:
    document = _checked_shape(document)
    quiz = Quiz.objects.create(
        brand=brand, title=_title(document), draft=document, draft_updated_at=timezone.now()
    )
    audit_record(
        brand=brand,
        actor=actor,
        action=AuditAction.QUIZ_CREATED,
        target_type="quiz",
        target_id=quiz.public_id,
        after={"title": quiz.title, "draft": _fingerprint(document)},
    )
    return quiz


@transaction.atomic
def quiz_draft_save(*, quiz: Quiz, actor: Actor, document: Any) -> Quiz:
    """Replace the draft (an unchanged document writes nothing). A published version is never
    touched: people keep answering it until the next publish."""
    document = _checked_shape(document)
    quiz = Quiz.objects.select_for_update().get(pk=quiz.pk)
    if quiz.status == QuizStatus.ARCHIVED:
        raise Conflict("This quiz is archived; it can no longer be edited.")
    if document == quiz.draft:
        return quiz
    before = {"title": quiz.title, "draft": _fingerprint(quiz.draft)}
    quiz.draft, quiz.title, quiz.draft_updated_at = document, _title(document), timezone.now()
    quiz.save(update_fields=["draft", "title", "draft_updated_at"])
    audit_record(
        brand=quiz.brand,
        actor=actor,
        action=AuditAction.QUIZ_DRAFT_SAVED,
        target_type="quiz",
        target_id=quiz.public_id,
        before=before,
        after={"title": quiz.title, "draft": _fingerprint(document)},
    )
    return quiz


def publish_problems(*, quiz: Quiz) -> list[Problem]:
    """Everything that stops the draft from being published (empty: it can be)."""
    found = shape_problems(quiz.draft)
    if found:
        return found
    return problems(quiz.draft) or reference_problems(brand=quiz.brand, document=quiz.draft)


@transaction.atomic
def quiz_publish(*, quiz: Quiz, actor: Actor) -> QuizVersion:
    """Freeze the draft as the next version and make it the live one. A draft identical to the
    live version publishes nothing and returns that version."""
    quiz = (
        Quiz.objects.select_for_update(of=("self",)).select_related("brand", "live_version").get(pk=quiz.pk)
    )
    if quiz.status == QuizStatus.ARCHIVED:
        raise Conflict("This quiz is archived; it can no longer be published.")
    if quiz.live_version is not None and quiz.live_version.document == quiz.draft:
        return quiz.live_version
    found = publish_problems(quiz=quiz)
    if found:
        raise _refusal(found, "The quiz cannot be published yet.")
    document = parse(quiz.draft)
    purposes = dict(
        Purpose.objects.filter(
            brand=quiz.brand, slug__in={q.purpose for q in document.questions}
        ).values_list("slug", "pk")
    )
    latest = quiz.versions.aggregate(latest=Max("number"))["latest"] or 0
    version = QuizVersion.objects.create(
        quiz=quiz, number=latest + 1, document=quiz.draft, published_at=timezone.now()
    )
    Question.objects.bulk_create(
        Question(version=version, key=q.id, position=position, kind=q.kind, purpose_id=purposes[q.purpose])
        for position, q in enumerate(document.questions)
    )
    previous = quiz.live_version.number if quiz.live_version else None
    quiz.live_version, quiz.status = version, QuizStatus.PUBLISHED
    quiz.save(update_fields=["live_version", "status"])
    audit_record(
        brand=quiz.brand,
        actor=actor,
        action=AuditAction.QUIZ_PUBLISHED,
        target_type="quiz",
        target_id=quiz.public_id,
        before={"version": previous},
        after={"version": version.number, "draft": _fingerprint(quiz.draft)},
    )
    return version


@transaction.atomic
def quiz_archive(*, quiz: Quiz, actor: Actor) -> Quiz:
    """Stop a quiz from being answered; its versions and responses stay. Idempotent."""
    quiz = Quiz.objects.select_for_update().get(pk=quiz.pk)
    if quiz.status == QuizStatus.ARCHIVED:
        return quiz
    before = {"status": quiz.status}
    quiz.status = QuizStatus.ARCHIVED
    quiz.save(update_fields=["status"])
    audit_record(
        brand=quiz.brand,
        actor=actor,
        action=AuditAction.QUIZ_ARCHIVED,
        target_type="quiz",
        target_id=quiz.public_id,
        before=before,
        after={"status": quiz.status},
    )
    return quiz
