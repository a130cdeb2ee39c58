"""Authoring a quiz: drafts in the right shape, publishing only what can run against the brand's
own purposes, topics and notices, versions frozen, every change in the audit log."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from django.db import IntegrityError, transaction

from brands.models import Brand
from config.errors import Conflict, Unprocessable
from quizzes.models import Question, Quiz, QuizStatus, QuizVersion
from quizzes.services import _fingerprint, quiz_archive, quiz_create, quiz_draft_save, quiz_publish
from tests.actors import TEST_ACTOR, audit_rows
from tests.conftest import current_version

pytestmark = pytest.mark.django_db


def test_a_created_quiz_is_a_draft_holding_its_document_exactly(brand: Brand, quiz_document: dict[str, Any]):
    quiz = quiz_create(brand=brand, actor=TEST_ACTOR, document=quiz_document)
    quiz.refresh_from_db()
    assert (quiz.title, quiz.status, quiz.draft, quiz.live_version) == (
        "Find your plan",
        QuizStatus.DRAFT,
        quiz_document,
        None,
    )
    assert audit_rows(brand)[-1] == (
        "system",
        "tests",
        "quiz.created",
        "quiz",
        quiz.public_id,
        None,
        {"title": "Find your plan", "draft": _fingerprint(quiz_document)},
        "",
    )


def test_a_draft_in_the_wrong_shape_is_refused_with_pointers_and_nothing_is_written(
    brand: Brand, quiz_document: dict[str, Any]
):
    wrong = copy.deepcopy(quiz_document)
    del wrong["questions"][1]["scale"]
    wrong["questions"][0]["options"][0]["effects"]["scores"]["racer"] = "lots"
    with pytest.raises(Unprocessable) as refused:
        quiz_create(brand=brand, actor=TEST_ACTOR, document=wrong)
    assert refused.value.errors == {
        "/questions/0/options/0/effects/scores/racer": ["'lots' is not of type 'integer'"],
        "/questions/1": ["'scale' is a required property"],
    }
    assert not Quiz.objects.exists()
    assert [row for row in audit_rows(brand) if row[2].startswith("quiz.")] == []


def test_publishing_freezes_the_draft_with_its_questions_and_later_edits_touch_only_the_draft(
    quiz: Quiz, quiz_document: dict[str, Any], personalisation, purpose
):
    version = quiz_publish(quiz=quiz, actor=TEST_ACTOR)
    assert (version.number, version.document) == (1, quiz_document)
    assert list(
        Question.objects.filter(version=version).order_by("position").values_list("key", "kind", "purpose")
    ) == [
        ("goal", "single", personalisation.pk),
        ("level", "scale", personalisation.pk),
        ("kit", "multiple", personalisation.pk),
        ("news", "consent", purpose.pk),
    ]
    edited = copy.deepcopy(quiz_document)
    edited["title"]["en"] = "Your running plan"
    quiz_draft_save(quiz=quiz, actor=TEST_ACTOR, document=edited)
    quiz.refresh_from_db()
    assert (quiz.title, quiz.live_version_id, quiz.status) == ("Your running plan", version.pk, "published")
    version.refresh_from_db()
    assert version.document == quiz_document
    second = quiz_publish(quiz=quiz, actor=TEST_ACTOR)
    assert second.number == 2
    assert [row[2:5] for row in audit_rows(quiz.brand) if row[2].startswith("quiz.")] == [
        ("quiz.created", "quiz", quiz.public_id),
        ("quiz.published", "quiz", quiz.public_id),
        ("quiz.draft_saved", "quiz", quiz.public_id),
        ("quiz.published", "quiz", quiz.public_id),
    ]


def test_publishing_an_unchanged_draft_or_saving_the_same_draft_writes_nothing(quiz: Quiz, quiz_document):
    first = quiz_publish(quiz=quiz, actor=TEST_ACTOR)
    entries = len(audit_rows(quiz.brand))
    assert quiz_publish(quiz=quiz, actor=TEST_ACTOR) == first
    quiz_draft_save(quiz=quiz, actor=TEST_ACTOR, document=copy.deepcopy(quiz_document))
    assert QuizVersion.objects.filter(quiz=quiz).count() == 1
    assert len(audit_rows(quiz.brand)) == entries


def test_publishing_refuses_references_the_brand_does_not_have(
    brand: Brand, other_brand: Brand, quiz_document: dict[str, Any], make_purpose
):
    foreign = make_purpose(other_brand, "email-marketing")
    document = copy.deepcopy(quiz_document)
    document["questions"][0]["purpose"] = "profiling"
    subscribe = document["questions"][0]["options"][0]["effects"]["subscribe"]
    subscribe.append({"topic": "training", "channel": "sms"})
    subscribe.append({"topic": "training", "cadence": "daily"})
    subscribe.append({"topic": "yoga"})
    document["questions"][3]["notice_version"] = current_version(foreign).public_id
    quiz = quiz_create(brand=brand, actor=TEST_ACTOR, document=document)
    with pytest.raises(Unprocessable) as refused:
        quiz_publish(quiz=quiz, actor=TEST_ACTOR)
    effects = "/questions/0/options/0/effects/subscribe"
    notice = document["questions"][3]["notice_version"]
    assert refused.value.errors == {
        "/questions/0/purpose": ["The brand has no purpose 'profiling'."],
        f"{effects}/1/channel": ["The topic 'training' is not sent by sms."],
        f"{effects}/2/cadence": ["The topic 'training' offers no daily cadence."],
        f"{effects}/3/topic": ["The brand has no topic 'yoga'."],
        "/questions/3/notice_version": [f"The brand has no notice version {notice!r}."],
    }
    assert not QuizVersion.objects.exists()


def test_publishing_refuses_a_graph_that_cannot_run(quiz: Quiz, quiz_document: dict[str, Any]):
    document = copy.deepcopy(quiz_document)
    document["rules"] = [{"from": "goal", "to": "news"}]
    quiz_draft_save(quiz=quiz, actor=TEST_ACTOR, document=document)
    with pytest.raises(Unprocessable) as refused:
        quiz_publish(quiz=quiz, actor=TEST_ACTOR)
    assert refused.value.errors == {
        "/questions/1": ["No path leads to 'level'."],
        "/questions/2": ["No path leads to 'kit'."],
    }


def test_an_archived_quiz_takes_no_edits_and_no_publishing(quiz: Quiz, quiz_document):
    quiz_publish(quiz=quiz, actor=TEST_ACTOR)
    quiz_archive(quiz=quiz, actor=TEST_ACTOR)
    quiz_archive(quiz=quiz, actor=TEST_ACTOR)  # idempotent: one entry
    with pytest.raises(Conflict):
        quiz_draft_save(quiz=quiz, actor=TEST_ACTOR, document={**quiz_document, "language": "de"})
    with pytest.raises(Conflict):
        quiz_publish(quiz=quiz, actor=TEST_ACTOR)
    assert [row[2] for row in audit_rows(quiz.brand) if row[2] == "quiz.archived"] == ["quiz.archived"]


def test_the_database_refuses_to_change_a_published_version_or_its_questions(live_version: QuizVersion):
    with pytest.raises(IntegrityError), transaction.atomic():
        QuizVersion.objects.filter(pk=live_version.pk).update(document={})
    with pytest.raises(IntegrityError), transaction.atomic():
        Question.objects.filter(version=live_version).delete()
