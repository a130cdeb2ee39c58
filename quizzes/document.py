"""The quiz document: how a quiz is written (the API's GET/PUT body, the console's import and
export, a published version's frozen copy), and the rules that run it.

    {"format": 1, "language": "en", "title": {"en": "Find your plan"},
     "questions": [
       {"id": "goal", "type": "single", "purpose": "personalisation", "text": {"en": "Your goal?"},
        "options": [{"id": "marathon", "label": {"en": "Run a marathon"},
                     "effects": {"traits": {"goal": "run a marathon"},
                                 "subscribe": [{"topic": "training", "channel": "email",
                                                "cadence": "weekly"}],
                                 "scores": {"racer": 2}}}]},
       {"id": "level", "type": "scale", "purpose": "personalisation", "text": {"en": "How fit?"},
        "scale": {"min": 1, "max": 5}, "trait": "fitness"},
       {"id": "email", "type": "email", "purpose": "email-marketing", "text": {"en": "Email?"},
        "required": false},
       {"id": "news", "type": "consent", "purpose": "email-marketing", "text": {"en": "Tips?"},
        "notice_version": "nv_…"}],
     "rules": [{"from": "goal", "when": {"is": "marathon"}, "to": "level"},
               {"from": "level", "when": {"at_most": 2}, "to": "end", "outcome": "starter"}],
     "outcomes": [{"id": "racer", "title": {"en": "Race plan"}, "text": {"en": "…"},
                   "link": "https://shop.example/race"}]}

Texts are objects of language → text and always carry the document's `language`. The JSON
Schema (quizzes/schema/quiz-1.schema.json) checks the shape; `problems` checks what a schema
cannot: ids unique and referred to correctly, and a branching graph with no loops, no dead ends
and no unreachable question. References to the brand's purposes, topics and notice versions
are checked by the services, which can read the database.

How a quiz runs:
- After a question, its rules are tried in order; the first whose `when` holds (a rule without
  `when` always holds) sends the person `to` a question or to the `"end"`, optionally with an
  `outcome`. If none holds, the next question in the list follows; after the last, the end.
- Conditions: `{"is": option}` (single), `{"includes": option}` (multiple), `{"at_least": n}`
  and `{"at_most": n}` (scale), `{"answered": bool}` (any; an optional question left blank is
  not answered).
- The outcome is the one a rule named on the way to the end; otherwise the outcome with the
  highest score from the chosen options' effects (ties: the first listed); no outcomes, none.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

FORMAT = 1
END = "end"
KINDS = ("single", "multiple", "scale", "text", "email", "consent")
CHOICE_KINDS = ("single", "multiple")
TEXT_MAX_LENGTH = 500  # a short text answer's length unless the question says otherwise

Text = Mapping[str, str]


@dataclass(frozen=True)
class Subscribe:
    topic: str
    channel: str
    cadence: str | None


@dataclass(frozen=True)
class Effects:
    traits: Mapping[str, str] = field(default_factory=dict)
    subscribe: tuple[Subscribe, ...] = ()
    scores: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Option:
    id: str
    label: Text
    effects: Effects


@dataclass(frozen=True)
class Question:
    id: str
    kind: str
    purpose: str
    text: Text
    help: Text | None
    required: bool
    options: tuple[Option, ...] = ()
    scale_min: int = 0
    scale_max: int = 0
    scale_labels: tuple[Text | None, Text | None] = (None, None)
    max_length: int = TEXT_MAX_LENGTH
    notice_version: str | None = None  # consent questions: the notice text shown
    trait: str | None = None  # scale, text: the trait the answer sets

    def option(self, option_id: str) -> Option | None:
        return next((o for o in self.options if o.id == option_id), None)


@dataclass(frozen=True)
class Rule:
    source: str
    when: Mapping[str, Any] | None
    to: str
    outcome: str | None


@dataclass(frozen=True)
class Outcome:
    id: str
    title: Text
    text: Text | None
    link: str | None
    link_label: Text | None


@dataclass(frozen=True)
class Document:
    language: str
    title: Text
    questions: tuple[Question, ...]
    rules: tuple[Rule, ...]
    outcomes: tuple[Outcome, ...]

    def question(self, question_id: str) -> Question | None:
        return next((q for q in self.questions if q.id == question_id), None)

    @property
    def first(self) -> Question:
        return self.questions[0]


@dataclass(frozen=True)
class Problem:
    """Something that stops a document from being published: where (a JSON pointer into the
    document) and what, in words a quiz author understands."""

    pointer: str
    message: str


@cache
def schema() -> dict[str, Any]:
    """The published JSON Schema of the document (format 1)."""
    text = resources.files("quizzes").joinpath("schema/quiz-1.schema.json").read_text()
    return json.loads(text)


def parse(raw: Mapping[str, Any]) -> Document:
    """The document as objects. `raw` must satisfy the JSON Schema (the services check it)."""

    def effects(data: Mapping[str, Any] | None) -> Effects:
        data = data or {}
        return Effects(
            traits=dict(data.get("traits", {})),
            subscribe=tuple(
                Subscribe(topic=s["topic"], channel=s.get("channel", "email"), cadence=s.get("cadence"))
                for s in data.get("subscribe", ())
            ),
            scores=dict(data.get("scores", {})),
        )

    def question(data: Mapping[str, Any]) -> Question:
        scale = data.get("scale", {})
        return Question(
            id=data["id"],
            kind=data["type"],
            purpose=data["purpose"],
            text=data["text"],
            help=data.get("help"),
            required=data.get("required", True),
            options=tuple(
                Option(id=o["id"], label=o["label"], effects=effects(o.get("effects")))
                for o in data.get("options", ())
            ),
            scale_min=scale.get("min", 0),
            scale_max=scale.get("max", 0),
            scale_labels=(scale.get("min_label"), scale.get("max_label")),
            max_length=data.get("max_length", TEXT_MAX_LENGTH),
            notice_version=data.get("notice_version"),
            trait=data.get("trait"),
        )

    return Document(
        language=raw["language"],
        title=raw["title"],
        questions=tuple(question(q) for q in raw["questions"]),
        rules=tuple(
            Rule(source=r["from"], when=r.get("when"), to=r["to"], outcome=r.get("outcome"))
            for r in raw.get("rules", ())
        ),
        outcomes=tuple(
            Outcome(
                id=o["id"],
                title=o["title"],
                text=o.get("text"),
                link=o.get("link"),
                link_label=o.get("link_label"),
            )
            for o in raw.get("outcomes", ())
        ),
    )


# --- Running -------------------------------------------------------------------------------


def holds(when: Mapping[str, Any] | None, answer: Any) -> bool:
    """Whether a rule's condition holds for an answer (None: the question was left blank)."""
    if when is None:
        return True
    (test, expected), *_ = when.items()
    if test == "answered":
        return (answer is not None) is expected
    if answer is None:
        return False
    if test == "is":
        return bool(answer == expected)
    if test == "includes":
        return expected in answer
    if test == "at_least":
        return bool(answer >= expected)
    if test == "at_most":
        return bool(answer <= expected)
    raise ValueError(f"unknown condition {test!r}")


@dataclass(frozen=True)
class Step:
    """Where a person goes after a question: the next question's id, or None at the end (with
    the outcome a rule named, if one did)."""

    question: str | None
    outcome: str | None = None


def next_step(document: Document, question_id: str, answer: Any) -> Step:
    for rule in document.rules:
        if rule.source == question_id and holds(rule.when, answer):
            return Step(None, rule.outcome) if rule.to == END else Step(rule.to)
    ids = [q.id for q in document.questions]
    position = ids.index(question_id)
    return Step(ids[position + 1]) if position + 1 < len(ids) else Step(None)


def outcome_for(document: Document, answers: Mapping[str, Any], named: str | None) -> Outcome | None:
    """The outcome of a finished run: the one a rule named, else the best score (see above)."""
    if named is not None:
        return next(o for o in document.outcomes if o.id == named)
    if not document.outcomes:
        return None
    scores = dict.fromkeys((o.id for o in document.outcomes), 0)
    for option in chosen_options(document, answers):
        for outcome_id, points in option.effects.scores.items():
            scores[outcome_id] += points
    best = max(scores.values())
    return next(o for o in document.outcomes if scores[o.id] == best)


def chosen_options(document: Document, answers: Mapping[str, Any]) -> list[Option]:
    """The options picked in `answers` (question id → answer), in document order."""
    picked: list[Option] = []
    for question in document.questions:
        answer = answers.get(question.id)
        if answer is None or question.kind not in CHOICE_KINDS:
            continue
        chosen = {answer} if question.kind == "single" else set(answer)
        picked += [o for o in question.options if o.id in chosen]
    return picked


# --- Checking what a schema cannot ---------------------------------------------------------


def problems(raw: Mapping[str, Any]) -> list[Problem]:
    """Everything wrong with a schema-valid document that would stop it being published, in
    document order; empty when it can be published."""
    document = parse(raw)
    found: list[Problem] = []
    found += _text_problems(raw, document.language)
    found += _id_problems(document)
    found += _rule_problems(document)
    if not found:  # the graph is only meaningful once every reference resolves
        found += graph_problems(document)
    return found


def _text_problems(raw: Any, language: str, pointer: str = "") -> list[Problem]:
    """Every text object carries the document's language."""
    found: list[Problem] = []
    if isinstance(raw, Mapping):
        for key, value in raw.items():
            here = f"{pointer}/{key}"
            if key in ("title", "text", "help", "label", "min_label", "max_label", "link_label"):
                if isinstance(value, Mapping) and not value.get(language, "").strip():
                    found.append(Problem(here, f"Give this text in the quiz's language ({language})."))
            else:
                found += _text_problems(value, language, here)
    elif isinstance(raw, list):
        for index, value in enumerate(raw):
            found += _text_problems(value, language, f"{pointer}/{index}")
    return found


def _id_problems(document: Document) -> list[Problem]:
    found: list[Problem] = []
    seen: set[str] = set()
    outcomes = {o.id for o in document.outcomes}
    for index, question in enumerate(document.questions):
        here = f"/questions/{index}"
        if question.id in seen or question.id == END:
            found.append(Problem(f"{here}/id", f"The question id {question.id!r} is used twice or reserved."))
        seen.add(question.id)
        if question.kind in CHOICE_KINDS and not question.options:
            found.append(Problem(f"{here}/options", "A choice question needs at least one option."))
        option_ids = [o.id for o in question.options]
        for dup in sorted({i for i in option_ids if option_ids.count(i) > 1}):
            found.append(Problem(f"{here}/options", f"The option id {dup!r} is used twice."))
        if question.kind == "scale" and question.scale_min >= question.scale_max:
            found.append(Problem(f"{here}/scale", "A scale's maximum must be above its minimum."))
        if question.kind == "consent" and not question.notice_version:
            found.append(Problem(f"{here}/notice_version", "A consent question names the notice shown."))
        for o_index, option in enumerate(question.options):
            for outcome_id in option.effects.scores:
                if outcome_id not in outcomes:
                    found.append(
                        Problem(
                            f"{here}/options/{o_index}/effects/scores",
                            f"No outcome has the id {outcome_id!r}.",
                        )
                    )
    outcome_ids = [o.id for o in document.outcomes]
    for dup in sorted({i for i in outcome_ids if outcome_ids.count(i) > 1}):
        found.append(Problem("/outcomes", f"The outcome id {dup!r} is used twice."))
    return found


def _rule_problems(document: Document) -> list[Problem]:
    found: list[Problem] = []
    outcomes = {o.id for o in document.outcomes}
    for index, rule in enumerate(document.rules):
        here = f"/rules/{index}"
        source = document.question(rule.source)
        if source is None:
            found.append(Problem(f"{here}/from", f"No question has the id {rule.source!r}."))
            continue
        if rule.to != END and document.question(rule.to) is None:
            found.append(Problem(f"{here}/to", f"No question has the id {rule.to!r}."))
        if rule.outcome is not None and (rule.to != END or rule.outcome not in outcomes):
            found.append(
                Problem(f"{here}/outcome", "An outcome is named only on a rule to the end, by its id.")
            )
        if rule.when is not None:
            found += [Problem(f"{here}/when", m) for m in _condition_problems(source, rule.when)]
    return found


def _condition_problems(question: Question, when: Mapping[str, Any]) -> list[str]:
    (test, expected), *_ = when.items()
    fits = {
        "is": ("single",),
        "includes": ("multiple",),
        "at_least": ("scale",),
        "at_most": ("scale",),
        "answered": KINDS,
    }[test]
    if question.kind not in fits:
        return [f"{test!r} does not apply to a {question.kind} question."]
    if test in ("is", "includes") and question.option(expected) is None:
        return [f"The question {question.id!r} has no option {expected!r}."]
    if test in ("at_least", "at_most") and not question.scale_min <= expected <= question.scale_max:
        return [f"{expected} is outside the scale {question.scale_min}–{question.scale_max}."]
    return []


def edges(document: Document) -> dict[str, set[str]]:
    """Where a person can go from each question (END included). The next question in the list
    is a way on unless the question's rules always decide: one rule without a condition, or a
    rule for every option of a single choice."""
    ids = [q.id for q in document.questions]
    graph: dict[str, set[str]] = {}
    for position, question in enumerate(document.questions):
        rules = [r for r in document.rules if r.source == question.id]
        targets: set[str] = set()
        decided = False
        covered: set[str] = set()
        for rule in rules:
            targets.add(rule.to)
            if rule.when is None:
                decided = True
                break
            if "is" in rule.when:
                covered.add(rule.when["is"])
        if question.kind == "single" and question.required and covered >= {o.id for o in question.options}:
            decided = True
        if not decided:
            targets.add(ids[position + 1] if position + 1 < len(ids) else END)
        graph[question.id] = targets
    return graph


def graph_problems(document: Document) -> list[Problem]:
    """Loops, questions no one can reach, and questions from which the end cannot be reached."""
    graph = edges(document)
    index = {q.id: i for i, q in enumerate(document.questions)}
    found: list[Problem] = []

    reachable: set[str] = set()
    pending = [document.first.id]
    while pending:
        current = pending.pop()
        if current in reachable or current == END:
            continue
        reachable.add(current)
        pending += graph[current]
    for question in document.questions:
        if question.id not in reachable:
            found.append(Problem(f"/questions/{index[question.id]}", f"No path leads to {question.id!r}."))

    for cycle_start in _loops(graph, document):
        found.append(
            Problem(f"/questions/{index[cycle_start]}", f"The branches loop back to {cycle_start!r}.")
        )

    finishing = {END}
    changed = True
    while changed:  # questions with a way to the end, grown until stable
        changed = False
        for source, targets in graph.items():
            if source not in finishing and targets & finishing:
                finishing.add(source)
                changed = True
    for question in document.questions:
        if question.id in reachable and question.id not in finishing:
            found.append(
                Problem(f"/questions/{index[question.id]}", f"From {question.id!r} no path reaches the end.")
            )
    return found


def _loops(graph: Mapping[str, set[str]], document: Document) -> list[str]:
    """The questions a back edge returns to (depth-first, in document order)."""
    order = {q.id: i for i, q in enumerate(document.questions)}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    found: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        for target in sorted(graph[node] - {END}, key=order.__getitem__):
            if state.get(target) == 1 and target not in found:
                found.append(target)
            elif target not in state:
                visit(target)
        state[node] = 2

    for question in document.questions:
        if question.id not in state:
            visit(question.id)
    return found


def answer_problem(question: Question, raw: Any) -> tuple[Any, str | None]:
    """The answer as stored (None: left blank) and what is wrong with it, if anything."""
    blank = raw is None or raw == "" or raw == []
    if blank:
        return None, ("Please answer this question." if question.required else None)
    if question.kind == "single":
        if not isinstance(raw, str) or question.option(raw) is None:
            return None, "Choose one of the options."
        return raw, None
    if question.kind == "multiple":
        values = [raw] if isinstance(raw, str) else raw
        if not isinstance(values, Sequence) or any(
            not isinstance(v, str) or question.option(v) is None for v in values
        ):
            return None, "Choose from the options."
        return [o.id for o in question.options if o.id in set(values)], None
    if question.kind == "scale":
        try:
            value = int(raw)
        except (TypeError, ValueError):
            return None, "Choose a number on the scale."
        if not question.scale_min <= value <= question.scale_max:
            return None, f"Choose a number from {question.scale_min} to {question.scale_max}."
        return value, None
    if question.kind == "consent":
        if raw in (True, "yes", "on", "true"):
            return True, None
        if raw in (False, "no", "false"):
            return False, None
        return None, "Say yes or no."
    text = str(raw).strip()
    if not text:
        return None, ("Please answer this question." if question.required else None)
    if question.kind == "email":
        try:
            validate_email(text)
        except ValidationError:
            return None, "Enter an email address, like name@example.com."
        return text, None
    if len(text) > question.max_length:
        return None, f"Keep it under {question.max_length} characters."
    return text, None
