"""Reads for "What you've told us": the contact's quiz answers as the preference centre shows
them, each with the question in the person's language, the answer shown readably, why the
brand asked (the question's purpose) and when, and the earlier statements as its history.

The centre reads them as one more column of the one statement it reads the contact with
(preferences.centre_parts), whatever the number of answers; the correction page reads one answer
in one query (tests/quizzes/test_told_us_pages.py counts the centre's).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _

from brands.models import Brand
from consent.models import Contact, NoticeVersion, Purpose
from preferences.centre_parts import CentrePart
from preferences.page_selectors import Centre
from quizzes.document import Document, parse
from quizzes.document import Question as DocumentQuestion
from quizzes.models import Answer, Question, Quiz, QuizVersion, StatementKind
from quizzes.statements import CORRECTABLE

# A brand-authored text and, when it is not in the page's language, the language it is in
# (rendered as a lang attribute, WCAG 3.1.2).
Text = tuple[str, str | None]


def text_in(texts: Mapping[str, str] | None, document: Document, language: str) -> Text:
    if not texts:
        return "", None
    if texts.get(language):
        return texts[language], None
    return texts.get(document.language, ""), document.language


def answer_shown(question: DocumentQuestion, document: Document, value: Any, language: str) -> Text:
    """The answer as a person reads it: option labels, "4 of 5", the text typed."""
    if question.kind in ("single", "multiple"):
        chosen = [value] if question.kind == "single" else list(value or [])
        labels = [text_in(o.label, document, language) for o in question.options if o.id in chosen]
        marked = next((lang for _text, lang in labels if lang), None)
        return ", ".join(text for text, _lang in labels), marked
    if question.kind == "scale":
        shown = _("%(value)s of %(max)s") % {"value": value, "max": question.scale_max}
        return shown, None
    return str(value), None


@dataclass(frozen=True)
class Statement:
    value: Any
    shown: Text
    recorded_at: datetime
    kind: str  # answered | corrected
    source: str


@dataclass(frozen=True)
class ToldUs:
    quiz: str  # public id
    key: str  # the question's key
    quiz_title: Text
    question: Text
    purpose: str  # why the brand asked: the purpose's name in the page's language
    latest: Statement
    asked: DocumentQuestion  # as the person last answered it (the correction form's shape)
    document: Document
    position: int  # the question's place in its quiz: the order of answers told at one time
    history: list[Statement] = field(default_factory=list)  # earlier statements, newest first

    @property
    def html_id(self) -> str:
        return f"answer-{self.quiz}-{self.key}"


@dataclass(frozen=True)
class _Row:
    """One statement as the builder reads it: from the ORM, or from the centre's JSON column."""

    kind: str
    source: str
    value: Any
    recorded_at: datetime
    key: str
    position: int
    version_id: int
    quiz_id: int
    quiz: str  # public id
    purpose_slug: str
    purpose_name: str


def _row_of(answer: Answer) -> _Row:
    question = answer.question
    return _Row(
        kind=answer.kind,
        source=answer.source,
        value=answer.value,
        recorded_at=answer.recorded_at,
        key=question.key,
        position=question.position,
        version_id=question.version_id,
        quiz_id=question.version.quiz_id,
        quiz=question.version.quiz.public_id,
        purpose_slug=question.purpose.slug,
        purpose_name=question.purpose.name,
    )


def _statements(
    *, brand: Brand, contact: Contact, quiz_public_id: str | None = None, question_key: str | None = None
) -> tuple[list[_Row], dict[int, Document]]:
    """The contact's statements, newest first per (quiz, question key), and the documents of
    their versions, in one query."""
    answers = Answer.objects.filter(brand=brand, contact=contact, question__kind__in=CORRECTABLE)
    if quiz_public_id is not None:
        answers = answers.filter(
            question__version__quiz__public_id=quiz_public_id, question__key=question_key
        )
    found = list(
        answers.select_related("question__purpose", "question__version__quiz").order_by(
            "question__version__quiz_id", "question__key", "-recorded_at", "-id"
        )
    )
    documents = {a.question.version_id: parse(a.question.version.document) for a in found}
    return [_row_of(answer) for answer in found], documents


def _told_us(
    rows: list[_Row], documents: Mapping[int, Document], *, language: str, purpose_names: Mapping[str, str]
) -> list[ToldUs]:
    found: list[ToldUs] = []
    current: tuple[int, str] | None = None
    skipping = False
    for row in rows:
        group = (row.quiz_id, row.key)
        if group != current:  # the latest statement of a question (rows come newest first)
            current, skipping = group, row.kind == StatementKind.DELETED
        if skipping:
            continue  # deleted: its earlier statements went with it; nothing stands
        document = documents.get(row.version_id)
        question = document.question(row.key) if document is not None else None
        if document is None or question is None or row.value is None:
            continue
        statement = Statement(
            value=row.value,
            shown=answer_shown(question, document, row.value, language),
            recorded_at=row.recorded_at,
            kind=row.kind,
            source=row.source,
        )
        if found and (found[-1].quiz, found[-1].key) == (row.quiz, row.key):
            found[-1].history.append(statement)
            continue
        found.append(
            ToldUs(
                quiz=row.quiz,
                key=row.key,
                quiz_title=text_in(document.title, document, language),
                question=text_in(question.text, document, language),
                purpose=purpose_names.get(row.purpose_slug) or row.purpose_name,
                latest=statement,
                asked=question,
                document=document,
                position=row.position,
            )
        )
    # Newest first; answers told at one time in the quiz's order.
    found.sort(key=lambda item: (-item.latest.recorded_at.timestamp(), item.quiz, item.position))
    return found


def told_us_list(
    *, brand: Brand, contact: Contact, language: str, purpose_names: Mapping[str, str] | None = None
) -> list[ToldUs]:
    """The contact's standing quiz answers, newest first, each with its history. An answer whose
    latest statement deleted it is not listed. `purpose_names`: slug → name in the page's
    language (the centre's notice titles); the purpose's own name otherwise."""
    rows, documents = _statements(brand=brand, contact=contact)
    return _told_us(rows, documents, language=language, purpose_names=purpose_names or {})


def told_us_get(
    *, brand: Brand, contact: Contact, quiz_public_id: str, question_key: str, language: str
) -> ToldUs | None:
    """One standing answer (for the correction form); None if there is none. Its purpose is
    named as the centre names it: the title of its notice in the page's language."""
    rows, documents = _statements(
        brand=brand, contact=contact, quiz_public_id=quiz_public_id, question_key=question_key
    )
    if not rows:
        return None
    slug = rows[0].purpose_slug
    title = (
        NoticeVersion.objects.filter(
            notice__purpose__brand=brand, notice__purpose__slug=slug, language=language
        )
        .order_by("-version")
        .values_list("title", flat=True)
        .first()
    )
    found = _told_us(rows, documents, language=language, purpose_names={slug: title or ""})
    return found[0] if found else None


# The centre's part (preferences.centre_parts): the statements and their versions' documents as
# one JSON column of the statement that reads the contact's rows (which names the contact `c`),
# so the centre still reads everything in one round trip. Names come from the models.


def _column(model: Any, name: str) -> str:
    return str(model._meta.get_field(name).column)


@cache
def _answers_column_sql() -> str:
    answer, question, version, quiz, purpose = (
        m._meta.db_table for m in (Answer, Question, QuizVersion, Quiz, Purpose)
    )

    def a(name: str) -> str:
        return f"a.{_column(Answer, name)}"

    def q(name: str) -> str:
        return f"q.{_column(Question, name)}"

    def v(name: str) -> str:
        return f"v.{_column(QuizVersion, name)}"

    # The contact's statements (in this brand), of the kinds the centre lists.
    mine = f"WHERE {a('contact')} = c.id AND {a('brand')} = c.brand_id AND {q('kind')} = ANY(%s)"
    fields = ", ".join(
        [
            a("kind"),
            a("source"),
            a("value"),
            a("recorded_at"),
            q("key"),
            q("position"),
            q("version"),
            v("quiz"),
            f"z.{_column(Quiz, 'public_id')}",
            f"p.{_column(Purpose, 'slug')}",
            f"p.{_column(Purpose, 'name')}",
        ]
    )
    statements = (
        f"SELECT json_agg(json_build_array({fields}) "  # noqa: S608 (names from the models)
        f"ORDER BY {v('quiz')}, {q('key')}, {a('recorded_at')} DESC, a.id DESC) "
        f"FROM {answer} a JOIN {question} q ON q.id = {a('question')} "
        f"JOIN {version} v ON v.id = {q('version')} JOIN {quiz} z ON z.id = {v('quiz')} "
        f"JOIN {purpose} p ON p.id = {q('purpose')} {mine}"
    )
    documents = (
        f"SELECT json_object_agg(v.id, {v('document')}) FROM {version} v "  # noqa: S608
        f"WHERE v.id IN (SELECT {q('version')} FROM {answer} a "
        f"JOIN {question} q ON q.id = {a('question')} {mine})"
    )
    return f"json_build_array(({statements}), ({documents}))"


def _answers_column() -> tuple[str, list[Any]]:
    kinds = list(CORRECTABLE)
    return _answers_column_sql(), [kinds, kinds]


def _rows_from_column(value: Any) -> tuple[list[_Row], dict[int, Document]]:
    statements, documents = value if value else (None, None)
    rows = [
        _Row(
            kind=kind,
            source=source,
            value=answer,
            recorded_at=datetime.fromisoformat(recorded_at),
            key=key,
            position=position,
            version_id=version_id,
            quiz_id=quiz_id,
            quiz=quiz,
            purpose_slug=slug,
            purpose_name=name,
        )
        for kind, source, answer, recorded_at, key, position, version_id, quiz_id, quiz, slug, name in (
            statements or []
        )
    ]
    return rows, {int(pk): parse(document) for pk, document in (documents or {}).items()}


def _centre_context(centre: Centre, value: Any) -> dict[str, Any]:
    """What "Your quiz answers" shows, from the column the centre read."""
    rows, documents = _rows_from_column(value)
    purposes = {slug: choices.heading for slug, choices in centre.purposes.items()}
    language = centre.language or settings.LANGUAGE_CODE
    return {"quiz_answers": _told_us(rows, documents, language=language, purpose_names=purposes)}


centre_answers = CentrePart(column=_answers_column, context=_centre_context)
