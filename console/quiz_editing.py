"""The builder's edits to a quiz document: each takes the draft and returns a new one (the draft
itself is never changed in place), for quizzes.services.quiz_draft_save to check and store.

Renaming or removing something also fixes what refers to it, so that an edit never leaves a
rule, a score or a condition pointing at nothing: a renamed question keeps its rules, a
removed option takes the rules that test it along. The document's shape is the JSON Schema's
(quizzes/schema/quiz-1.schema.json); what the schema ties to a question's type (options, a
scale, a notice, a trait, a length) is kept or dropped when the type changes.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from quizzes.document import CHOICE_KINDS, END, FORMAT

Document = dict[str, Any]

DEFAULT_SCALE = {"min": 1, "max": 5}


def new_document(*, language: str, title: Mapping[str, str], question: Mapping[str, Any]) -> Document:
    """A draft with its first question (the schema wants at least one)."""
    return {"format": FORMAT, "language": language, "title": dict(title), "questions": [dict(question)]}


def blank_question(*, kind: str, question_id: str, purpose: str, text: Mapping[str, str]) -> dict[str, Any]:
    """A question of a type with what its type needs to be in the right shape; the rest (the
    options, the notice) the author adds next."""
    question: dict[str, Any] = {"id": question_id, "type": kind, "purpose": purpose, "text": dict(text)}
    return fit_to_kind(question)


def fit_to_kind(question: dict[str, Any]) -> dict[str, Any]:
    """Keep what the question's type allows, and add what it needs (an empty list of options,
    a scale from 1 to 5, an empty notice the author then chooses)."""
    kind = question["type"]
    if kind in CHOICE_KINDS:
        question.setdefault("options", [])
    else:
        question.pop("options", None)
    if kind == "scale":
        question.setdefault("scale", dict(DEFAULT_SCALE))
    else:
        question.pop("scale", None)
    if kind == "consent":
        question.setdefault("notice_version", "")
    else:
        question.pop("notice_version", None)
    if kind != "text":
        question.pop("max_length", None)
    if kind not in ("scale", "text"):
        question.pop("trait", None)
    return question


def next_id(prefix: str, taken: set[str]) -> str:
    """The first of prefix1, prefix2, … that is not taken."""
    number = 1
    while f"{prefix}{number}" in taken:
        number += 1
    return f"{prefix}{number}"


def _copy(document: Mapping[str, Any]) -> Document:
    return copy.deepcopy(dict(document))


# --- The quiz as a whole -------------------------------------------------------------------


def details_set(document: Mapping[str, Any], *, language: str, title: Mapping[str, str]) -> Document:
    changed = _copy(document)
    changed["language"], changed["title"] = language, dict(title)
    return changed


# --- Questions -----------------------------------------------------------------------------


def question_add(document: Mapping[str, Any], question: Mapping[str, Any]) -> Document:
    changed = _copy(document)
    changed["questions"].append(dict(question))
    return changed


def question_set(document: Mapping[str, Any], index: int, question: Mapping[str, Any]) -> Document:
    """Replace the question at `index`; a new id is carried into the rules."""
    changed = _copy(document)
    old_id = changed["questions"][index]["id"]
    changed["questions"][index] = fit_to_kind(dict(question))
    new_id = question["id"]
    if new_id != old_id:
        for rule in changed.get("rules", []):
            if rule["from"] == old_id:
                rule["from"] = new_id
            if rule["to"] == old_id:
                rule["to"] = new_id
    return changed


def question_remove(document: Mapping[str, Any], index: int) -> Document:
    """Remove a question and every rule from or to it."""
    changed = _copy(document)
    gone = changed["questions"].pop(index)["id"]
    if "rules" in changed:
        changed["rules"] = [r for r in changed["rules"] if gone not in (r["from"], r["to"])]
    return _without_empty_rules(changed)


def question_move(document: Mapping[str, Any], index: int, step: int) -> Document:
    """Move a question one place up (-1) or down (+1); at either end nothing moves."""
    changed = _copy(document)
    questions = changed["questions"]
    target = index + step
    if 0 <= target < len(questions):
        questions[index], questions[target] = questions[target], questions[index]
    return changed


# --- Options -------------------------------------------------------------------------------


def option_add(document: Mapping[str, Any], index: int, option: Mapping[str, Any]) -> Document:
    changed = _copy(document)
    changed["questions"][index].setdefault("options", []).append(dict(option))
    return changed


def option_set(document: Mapping[str, Any], index: int, o_index: int, option: Mapping[str, Any]) -> Document:
    """Replace an option; a new id is carried into the conditions that test it."""
    changed = _copy(document)
    question = changed["questions"][index]
    old_id = question["options"][o_index]["id"]
    question["options"][o_index] = dict(option)
    if option["id"] != old_id:
        for rule in changed.get("rules", []):
            when = rule.get("when") or {}
            if rule["from"] == question["id"] and when.get("is", when.get("includes")) == old_id:
                rule["when"] = {next(iter(when)): option["id"]}
    return changed


def option_remove(document: Mapping[str, Any], index: int, o_index: int) -> Document:
    """Remove an option and the rules whose condition tests it."""
    changed = _copy(document)
    question = changed["questions"][index]
    gone = question["options"].pop(o_index)["id"]
    if "rules" in changed:
        changed["rules"] = [
            r
            for r in changed["rules"]
            if not (r["from"] == question["id"] and (r.get("when") or {}).get("is", "") == gone)
            and not (r["from"] == question["id"] and (r.get("when") or {}).get("includes", "") == gone)
        ]
    return _without_empty_rules(changed)


# --- Rules ---------------------------------------------------------------------------------


def rule_add(document: Mapping[str, Any], rule: Mapping[str, Any]) -> Document:
    changed = _copy(document)
    changed.setdefault("rules", []).append(dict(rule))
    return changed


def rule_remove(document: Mapping[str, Any], index: int) -> Document:
    changed = _copy(document)
    changed["rules"].pop(index)
    return _without_empty_rules(changed)


def _without_empty_rules(document: Document) -> Document:
    """No rules is no `rules` key, as a document written by hand would have it."""
    if "rules" in document and not document["rules"]:
        del document["rules"]
    return document


def rule_move(document: Mapping[str, Any], index: int, step: int) -> Document:
    """Rules are tried in order: move one a place earlier (-1) or later (+1)."""
    changed = _copy(document)
    rules = changed["rules"]
    target = index + step
    if 0 <= target < len(rules):
        rules[index], rules[target] = rules[target], rules[index]
    return changed


def rule_of(*, source: str, test: str, value: Any, to: str, outcome: str | None) -> dict[str, Any]:
    rule: dict[str, Any] = {"from": source}
    if test:
        rule["when"] = {test: value}
    rule["to"] = to
    if outcome and to == END:
        rule["outcome"] = outcome
    return rule


# --- Outcomes ------------------------------------------------------------------------------


def outcome_add(document: Mapping[str, Any], outcome: Mapping[str, Any]) -> Document:
    changed = _copy(document)
    changed.setdefault("outcomes", []).append(dict(outcome))
    return changed


def outcome_set(document: Mapping[str, Any], index: int, outcome: Mapping[str, Any]) -> Document:
    """Replace an outcome; a new id is carried into the scores and rules that name it."""
    changed = _copy(document)
    old_id = changed["outcomes"][index]["id"]
    changed["outcomes"][index] = dict(outcome)
    if outcome["id"] != old_id:
        _rename_outcome(changed, old_id, outcome["id"])
    return changed


def outcome_remove(document: Mapping[str, Any], index: int) -> Document:
    """Remove an outcome, the scores options give it, and its name on rules to the end."""
    changed = _copy(document)
    gone = changed["outcomes"].pop(index)["id"]
    _rename_outcome(changed, gone, None)
    if not changed["outcomes"]:
        del changed["outcomes"]
    return changed


def _rename_outcome(document: Document, old: str, new: str | None) -> None:
    for question in document["questions"]:
        for option in question.get("options", []):
            scores = option.get("effects", {}).get("scores")
            if scores and old in scores:
                points = scores.pop(old)
                if new is not None:
                    scores[new] = points
                if not scores:
                    del option["effects"]["scores"]
                if not option["effects"]:
                    del option["effects"]
    for rule in document.get("rules", []):
        if rule.get("outcome") == old:
            if new is None:
                del rule["outcome"]
            else:
                rule["outcome"] = new
