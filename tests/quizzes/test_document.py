"""The quiz document on its own: the schema's shape, what `problems` finds that a schema cannot,
the route a person takes, the outcome they get, and how answers are checked."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import pytest

from quizzes.document import (
    Problem,
    Step,
    answer_problem,
    next_step,
    outcome_for,
    parse,
    problems,
    schema,
)


def text(en: str) -> dict[str, str]:
    return {"en": en}


def running_quiz() -> dict[str, Any]:
    return {
        "format": 1,
        "language": "en",
        "title": text("Find your plan"),
        "questions": [
            {
                "id": "goal",
                "type": "single",
                "purpose": "personalisation",
                "text": text("Your goal?"),
                "options": [
                    {
                        "id": "marathon",
                        "label": text("Run a marathon"),
                        "effects": {"traits": {"goal": "run a marathon"}, "scores": {"racer": 2}},
                    },
                    {"id": "fit", "label": text("Get fit"), "effects": {"scores": {"starter": 1}}},
                ],
            },
            {
                "id": "level",
                "type": "scale",
                "purpose": "personalisation",
                "text": text("How fit are you?"),
                "scale": {"min": 1, "max": 5},
                "trait": "fitness",
            },
            {
                "id": "kit",
                "type": "multiple",
                "purpose": "personalisation",
                "text": text("What do you own?"),
                "required": False,
                "options": [
                    {"id": "shoes", "label": text("Shoes"), "effects": {"scores": {"racer": 1}}},
                    {"id": "watch", "label": text("A watch"), "effects": {"scores": {"racer": 1}}},
                ],
            },
            {"id": "email", "type": "email", "purpose": "email-marketing", "text": text("Email?")},
        ],
        "rules": [
            {"from": "goal", "when": {"is": "fit"}, "to": "email"},
            {"from": "level", "when": {"at_most": 2}, "to": "end", "outcome": "starter"},
        ],
        "outcomes": [
            {"id": "starter", "title": text("Start easy")},
            {"id": "racer", "title": text("Race plan"), "link": "https://shop.example/race"},
        ],
    }


def test_the_example_is_valid_against_the_schema_and_has_no_problems():
    jsonschema.Draft202012Validator(schema()).validate(running_quiz())
    assert problems(running_quiz()) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["questions"][0].pop("options"), "'options' is a required property"),
        (lambda d: d["questions"][1].update(options=[]), "should not be valid"),
        (lambda d: d.update(language="es"), "'es' is not one of"),
        (lambda d: d["questions"][0].update(id="Goal!"), "does not match"),
        (lambda d: d["outcomes"][1].update(link="http://shop.example"), "does not match"),
        (lambda d: d["rules"][0].update(when={"is": "fit", "at_most": 2}), "has too many properties"),
    ],
)
def test_the_schema_refuses_a_wrong_shape(change, message):
    document = running_quiz()
    change(document)
    errors = [e.message for e in jsonschema.Draft202012Validator(schema()).iter_errors(document)]
    assert any(message in error for error in errors), errors


def test_problems_names_what_a_schema_cannot_see():
    document = running_quiz()
    document["title"] = {"de": "Finde deinen Plan"}
    document["questions"][2]["options"][1]["id"] = "shoes"
    document["rules"].append({"from": "kit", "when": {"is": "shoes"}, "to": "nowhere"})
    document["rules"].append({"from": "goal", "when": {"is": "swim"}, "to": "end", "outcome": "racer"})
    assert problems(document) == [
        Problem("/title", "Give this text in the quiz's language (en)."),
        Problem("/questions/2/options", "The option id 'shoes' is used twice."),
        Problem("/rules/2/to", "No question has the id 'nowhere'."),
        Problem("/rules/2/when", "'is' does not apply to a multiple question."),
        Problem("/rules/3/when", "The question 'goal' has no option 'swim'."),
    ]


def test_an_unreachable_question_and_a_loop_are_problems():
    document = running_quiz()
    # goal always jumps to email: level and kit are never asked.
    document["rules"] = [{"from": "goal", "to": "email"}]
    assert problems(document) == [
        Problem("/questions/1", "No path leads to 'level'."),
        Problem("/questions/2", "No path leads to 'kit'."),
    ]
    looping = running_quiz()
    looping["rules"] = [{"from": "kit", "when": {"includes": "shoes"}, "to": "level"}]
    assert problems(looping) == [Problem("/questions/1", "The branches loop back to 'level'.")]
    # Always back to level: the loop has no way out, and email is never asked.
    trapped = running_quiz()
    trapped["rules"] = [{"from": "kit", "to": "level"}]
    assert problems(trapped) == [
        Problem("/questions/3", "No path leads to 'email'."),
        Problem("/questions/1", "The branches loop back to 'level'."),
        Problem("/questions/0", "From 'goal' no path reaches the end."),
        Problem("/questions/1", "From 'level' no path reaches the end."),
        Problem("/questions/2", "From 'kit' no path reaches the end."),
    ]


def test_a_single_choice_whose_rules_cover_every_option_has_no_fall_through():
    document = running_quiz()
    document["rules"] = [
        {"from": "goal", "when": {"is": "fit"}, "to": "email"},
        {"from": "goal", "when": {"is": "marathon"}, "to": "email"},
    ]
    assert [p.message for p in problems(document)] == [
        "No path leads to 'level'.",
        "No path leads to 'kit'.",
    ]


def test_the_route_follows_the_first_rule_that_holds_then_the_list():
    document = parse(running_quiz())
    assert next_step(document, "goal", "fit") == Step("email")
    assert next_step(document, "goal", "marathon") == Step("level")
    assert next_step(document, "level", 2) == Step(None, "starter")
    assert next_step(document, "level", 3) == Step("kit")
    assert next_step(document, "kit", None) == Step("email")
    assert next_step(document, "email", "ada@example.com") == Step(None)


def test_the_outcome_is_the_named_one_else_the_best_score_with_ties_to_the_first():
    document = parse(running_quiz())
    assert outcome_for(document, {"goal": "marathon"}, "starter").id == "starter"
    assert outcome_for(document, {"goal": "marathon", "kit": ["shoes"]}, None).id == "racer"
    assert outcome_for(document, {"goal": "fit", "kit": ["shoes"]}, None).id == "starter"
    assert outcome_for(document, {}, None).id == "starter"
    no_outcomes = copy.deepcopy(running_quiz())
    no_outcomes["outcomes"] = []
    no_outcomes["rules"] = []
    assert outcome_for(parse(no_outcomes), {"goal": "marathon"}, None) is None


@pytest.mark.parametrize(
    ("question_id", "raw", "expected"),
    [
        ("goal", "fit", ("fit", None)),
        ("goal", "swim", (None, "Choose one of the options.")),
        ("goal", "", (None, "Please answer this question.")),
        ("kit", "", (None, None)),
        ("kit", ["watch", "shoes"], (["shoes", "watch"], None)),
        ("kit", ["watch", "boat"], (None, "Choose from the options.")),
        ("level", "4", (4, None)),
        ("level", "9", (None, "Choose a number from 1 to 5.")),
        ("level", "many", (None, "Choose a number on the scale.")),
        ("email", " ada@example.com ", ("ada@example.com", None)),
        ("email", "ada@", (None, "Enter an email address, like name@example.com.")),
    ],
)
def test_answers_are_checked_against_their_question(question_id, raw, expected):
    question = parse(running_quiz()).question(question_id)
    assert answer_problem(question, raw) == expected
