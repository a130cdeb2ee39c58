"""Every problem the publish checks can name reaches a German or French editor in their language:
the real checks run on drafts that break each rule, and each message must be one the builder
translates (console.quiz_messages), with its ids carried over."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import translation

from console.quiz_messages import problem_text
from preferences.topics import topic_create
from quizzes.document import parse, problems
from quizzes.services import reference_problems
from tests.actors import TEST_ACTOR
from tests.conftest import current_version


def q(qid: str, kind: str = "text", **more: Any) -> dict[str, Any]:
    return {"id": qid, "type": kind, "purpose": "personalisation", "text": {"en": qid.upper()}, **more}


def doc(questions: list[dict[str, Any]], **more: Any) -> dict[str, Any]:
    return {"format": 1, "language": "en", "title": {"en": "T"}, "questions": questions, **more}


BROKEN_IDS = doc(
    [
        q("a", "single", options=[]),
        q("a", "scale", scale={"min": 3, "max": 3}),
        q("c", "consent", notice_version=""),
        q(
            "d",
            "single",
            options=[
                {"id": "x", "label": {"en": "X"}, "effects": {"scores": {"ghost": 1}}},
                {"id": "x", "label": {"de": "X"}},
            ],
        ),
        q("e", "scale", scale={"min": 1, "max": 5}),
    ],
    rules=[
        {"from": "nobody", "to": "end"},
        {"from": "d", "to": "nowhere"},
        {"from": "d", "to": "e", "outcome": "o"},
        {"from": "e", "when": {"is": "x"}, "to": "end"},
        {"from": "d", "when": {"is": "y"}, "to": "end"},
        {"from": "e", "when": {"at_least": 9}, "to": "end"},
    ],
    outcomes=[{"id": "o", "title": {"en": "O"}}, {"id": "o", "title": {"en": "O2"}}],
)
LOOPS = doc([q("a"), q("b"), q("c")], rules=[{"from": "a", "to": "b"}, {"from": "b", "to": "a"}])


@pytest.mark.parametrize("language", ["de", "fr"])
def test_every_publish_problem_is_translated(brand, make_purpose, purpose, language):
    make_purpose(brand, "personalisation")
    topic_create(
        actor=TEST_ACTOR,
        brand=brand,
        slug="news",
        name="News",
        purpose=purpose,
        channels=["email"],
        cadence_options=["weekly"],
    )
    references = doc(
        [
            q(
                "a",
                "single",
                purpose="nope",
                options=[
                    {
                        "id": "o",
                        "label": {"en": "O"},
                        "effects": {
                            "subscribe": [
                                {"topic": "ghost"},
                                {"topic": "news", "channel": "sms", "cadence": "daily"},
                            ]
                        },
                    }
                ],
            ),
            q("b", "consent", notice_version="nv_missing"),
            q("c", "consent", notice_version=current_version(purpose).public_id),
        ]
    )
    found = [p.message for p in problems(BROKEN_IDS) + problems(LOOPS)]
    found += [p.message for p in reference_problems(brand=brand, document=references)]
    assert len(set(found)) >= 20
    parse(BROKEN_IDS)
    with translation.override(language):
        untranslated = [message for message in found if problem_text(message) == message]
        assert untranslated == []
        assert (
            problem_text("No path leads to 'c'.")
            == {
                "de": "Kein Weg führt zu 'c'.",
                "fr": "Aucun chemin ne mène à 'c'.",
            }[language]
        )
    assert problem_text("No path leads to 'c'.") == "No path leads to 'c'."
    assert problem_text("Something new.") == "Something new."
