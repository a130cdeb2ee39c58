"""The branch map: where a person can go from each question of a draft, and which questions
no path reaches, which sit on a loop, and from which the end cannot be reached, so the editor
sees them before publishing. The ways on come from quizzes.document.edges (the graph publishing
checks); the map only reads them question by question."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _

from console.quiz_messages import problem_text
from quizzes.document import END, Document, Problem, Question, edges, parse


@dataclass(frozen=True)
class Way:
    condition: str  # in words: "If the answer is “Run a marathon”", "Otherwise"
    target: str  # a question id, or END
    target_index: int | None  # the target question's place (None: the end)
    outcome: str | None


@dataclass
class MapRow:
    index: int
    id: str
    text: str
    kind: str
    ways: list[Way] = field(default_factory=list)
    unreachable: bool = False
    looped: bool = False
    dead_end: bool = False
    problems: list[str] = field(default_factory=list)


@dataclass
class QuizMap:
    rows: list[MapRow]
    graph_checked: bool  # False while a rule names a question that does not exist
    other_problems: list[tuple[str, str]]  # (where, message) not about one question


def own_text(texts: Mapping[str, str] | None, document: Document) -> str:
    return (texts or {}).get(document.language, "") or next(iter((texts or {}).values()), "")


def _condition(question: Question, when: Mapping[str, Any] | None, document: Document) -> str:
    if when is None:
        return _("Always")
    (test, expected), *_rest = when.items()
    if test in ("is", "includes"):
        option = question.option(expected)
        label = own_text(option.label, document) if option else expected
        if test == "is":
            return _("If the answer is “%(option)s”") % {"option": label}
        return _("If the answers include “%(option)s”") % {"option": label}
    if test == "at_least":
        return _("If the number is at least %(number)s") % {"number": expected}
    if test == "at_most":
        return _("If the number is at most %(number)s") % {"number": expected}
    return _("If answered") if expected else _("If left blank")


def where(pointer: str, raw: Mapping[str, Any]) -> str:
    """A JSON pointer into the document in the editor's words."""
    parts = pointer.strip("/").split("/") if pointer.strip("/") else []
    if len(parts) >= 2 and parts[1].isdigit():
        number = int(parts[1])
        items = raw.get(parts[0], [])
        item_id = (
            items[number].get("id", "") if number < len(items) and isinstance(items[number], dict) else ""
        )
        if parts[0] == "questions":
            return _("Question %(number)s (%(id)s)") % {"number": number + 1, "id": item_id}
        if parts[0] == "outcomes":
            return _("Outcome %(number)s (%(id)s)") % {"number": number + 1, "id": item_id}
        if parts[0] == "rules":
            return _("Rule %(number)s") % {"number": number + 1}
    if parts and parts[0] == "outcomes":
        return _("Outcomes")
    return _("The quiz")


def quiz_map(raw: Mapping[str, Any], found: list[Problem]) -> QuizMap:
    document = parse(raw)
    ids = [q.id for q in document.questions]
    index = {q.id: i for i, q in reversed(list(enumerate(document.questions)))}
    rows = [
        MapRow(index=i, id=q.id, text=own_text(q.text, document), kind=q.kind)
        for i, q in enumerate(document.questions)
    ]
    other: list[tuple[str, str]] = []
    for problem in found:
        parts = problem.pointer.strip("/").split("/")
        if len(parts) >= 2 and parts[0] == "questions" and parts[1].isdigit() and int(parts[1]) < len(rows):
            rows[int(parts[1])].problems.append(problem_text(problem.message))
        else:
            other.append((where(problem.pointer, raw), problem_text(problem.message)))

    known = set(ids) | {END}
    graph_checked = all(r.source in index and r.to in known for r in document.rules)
    for row, question in zip(rows, document.questions, strict=True):
        # As quizzes.document.edges decides: the rules in order up to one without a condition;
        # the next question in order unless the rules always decide.
        decided = False
        covered: set[str] = set()
        for rule in document.rules:
            if rule.source != question.id:
                continue
            row.ways.append(
                Way(_condition(question, rule.when, document), rule.to, index.get(rule.to), rule.outcome)
            )
            if rule.when is None:
                decided = True
                break
            if "is" in rule.when:
                covered.add(rule.when["is"])
        if question.kind == "single" and question.required and covered >= {o.id for o in question.options}:
            decided = True
        if not decided:
            after = ids[row.index + 1] if row.index + 1 < len(ids) else END
            row.ways.append(Way(_("Otherwise, the next in order"), after, index.get(after), None))
    if not graph_checked or len(set(ids)) != len(ids):
        return QuizMap(rows, False, other)

    graph = edges(document)
    reachable: set[str] = set()
    pending = [ids[0]]
    while pending:
        current = pending.pop()
        if current in reachable or current == END:
            continue
        reachable.add(current)
        pending += graph[current]
    finishing = {END}
    changed = True
    while changed:
        changed = False
        for source, targets in graph.items():
            if source not in finishing and targets & finishing:
                finishing.add(source)
                changed = True
    for row in rows:
        row.unreachable = row.id not in reachable
        row.dead_end = row.id in reachable and row.id not in finishing
        row.looped = _returns_to(graph, row.id)
    return QuizMap(rows, True, other)


def _returns_to(graph: Mapping[str, set[str]], start: str) -> bool:
    """Whether some path from `start` comes back to it."""
    seen: set[str] = set()
    pending = list(graph[start])
    while pending:
        current = pending.pop()
        if current == start:
            return True
        if current in seen or current == END:
            continue
        seen.add(current)
        pending += graph[current]
    return False
