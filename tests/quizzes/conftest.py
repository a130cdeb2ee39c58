"""A brand ready for quizzes: a purpose for personalisation (answers), the email-marketing
purpose with its notice (the consent question), a topic to subscribe to, and a document that
uses them all."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from brands.models import Brand
from consent.models import NoticeVersion, Purpose
from preferences.models import Topic
from preferences.topics import topic_create
from quizzes.models import Quiz, QuizVersion
from quizzes.services import quiz_create, quiz_publish
from tests.actors import TEST_ACTOR


def text(en: str, **others: str) -> dict[str, str]:
    return {"en": en, **others}


def running_document(notice_version: str) -> dict[str, Any]:
    """Four questions: a single choice with effects (a trait, a subscription, scores), a scale
    that sets a trait, an optional multiple choice, and a consent question; two outcomes."""
    return {
        "format": 1,
        "language": "en",
        "title": text("Find your plan", de="Finde deinen Plan"),
        "questions": [
            {
                "id": "goal",
                "type": "single",
                "purpose": "personalisation",
                "text": text("What is your goal?", de="Was ist dein Ziel?"),
                "options": [
                    {
                        "id": "marathon",
                        "label": text("Run a marathon", de="Einen Marathon laufen"),
                        "effects": {
                            "traits": {"goal": "run a marathon"},
                            "subscribe": [{"topic": "training", "channel": "email", "cadence": "weekly"}],
                            "scores": {"racer": 2},
                        },
                    },
                    {
                        "id": "fit",
                        "label": text("Get fit", de="Fit werden"),
                        "effects": {"scores": {"starter": 1}},
                    },
                ],
            },
            {
                "id": "level",
                "type": "scale",
                "purpose": "personalisation",
                "text": text("How fit are you today?"),
                "scale": {"min": 1, "max": 5, "min_label": text("Not yet"), "max_label": text("Very")},
                "trait": "fitness",
            },
            {
                "id": "kit",
                "type": "multiple",
                "purpose": "personalisation",
                "text": text("What do you own already?"),
                "required": False,
                "options": [
                    {"id": "shoes", "label": text("Running shoes"), "effects": {"scores": {"racer": 1}}},
                    {"id": "watch", "label": text("A sports watch"), "effects": {"scores": {"racer": 1}}},
                ],
            },
            {
                "id": "news",
                "type": "consent",
                "purpose": "email-marketing",
                "text": text("May we send you training tips by email?"),
                "notice_version": notice_version,
            },
        ],
        "rules": [
            {"from": "goal", "when": {"is": "fit"}, "to": "news"},
            {"from": "level", "when": {"at_most": 2}, "to": "news"},
        ],
        "outcomes": [
            {"id": "starter", "title": text("Start easy"), "text": text("Three short runs a week.")},
            {"id": "racer", "title": text("Race plan"), "link": "https://shop.example/race"},
        ],
    }


@pytest.fixture
def personalisation(brand: Brand, make_purpose: Callable[..., Purpose]) -> Purpose:
    return make_purpose(brand, "personalisation")


@pytest.fixture
def training(brand: Brand, purpose: Purpose) -> Topic:
    return topic_create(
        actor=TEST_ACTOR,
        brand=brand,
        slug="training",
        name="Training",
        purpose=purpose,
        channels=["email"],
        cadence_options=["weekly", "monthly"],
    )


@pytest.fixture
def quiz_document(personalisation: Purpose, training: Topic, notice_version: NoticeVersion) -> dict[str, Any]:
    return running_document(notice_version.public_id)


@pytest.fixture
def quiz(brand: Brand, quiz_document: dict[str, Any]) -> Quiz:
    return quiz_create(brand=brand, actor=TEST_ACTOR, document=quiz_document)


@pytest.fixture
def live_version(quiz: Quiz) -> QuizVersion:
    return quiz_publish(quiz=quiz, actor=TEST_ACTOR)
