"""Reads for "What you've told us": the contact's quiz answers as the preference centre shows
them, each with the question in the person's language, the answer shown readably, why the
brand asked (the question's purpose) and when, and the earlier statements as its history.

One query whatever the number of answers (tests/quizzes/test_told_us.py counts the centre's).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _

from brands.models import Brand
from consent.models import Contact, NoticeVersion
from preferences.page_selectors import Centre
from quizzes.document import Document, parse
from quizzes.document import Question as DocumentQuestion
from quizzes.models import Answer, StatementKind
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


def _statements(
    *, brand: Brand, contact: Contact, quiz_public_id: str | None = None, question_key: str | None = None
) -> list[Answer]:
    """The contact's statements, newest first per (quiz, question key), in one query."""
    answers = Answer.objects.filter(brand=brand, contact=contact, question__kind__in=CORRECTABLE)
    if quiz_public_id is not None:
        answers = answers.filter(
            question__version__quiz__public_id=quiz_public_id, question__key=question_key
        )
    return list(
        answers.select_related("question__purpose", "question__version__quiz").order_by(
            "question__version__quiz_id", "question__key", "-recorded_at", "-id"
        )
    )


def _told_us(statements: list[Answer], *, language: str, purpose_names: Mapping[str, str]) -> list[ToldUs]:
    documents: dict[int, Document] = {}
    found: list[ToldUs] = []
    current: tuple[int, str] | None = None
    skipping = False
    for answer in statements:
        row = answer.question
        version = row.version
        group = (version.quiz_id, row.key)
        if group != current:  # the latest statement of a question (rows come newest first)
            current, skipping = group, answer.kind == StatementKind.DELETED
        if skipping:
            continue  # deleted: its earlier statements went with it; nothing stands
        document = documents.get(version.pk)
        if document is None:
            document = documents[version.pk] = parse(version.document)
        question = document.question(row.key)
        if question is None or answer.value is None:
            continue
        statement = Statement(
            value=answer.value,
            shown=answer_shown(question, document, answer.value, language),
            recorded_at=answer.recorded_at,
            kind=answer.kind,
            source=answer.source,
        )
        if found and (found[-1].quiz, found[-1].key) == (version.quiz.public_id, row.key):
            found[-1].history.append(statement)
            continue
        found.append(
            ToldUs(
                quiz=version.quiz.public_id,
                key=row.key,
                quiz_title=text_in(document.title, document, language),
                question=text_in(question.text, document, language),
                purpose=purpose_names.get(row.purpose.slug) or row.purpose.name,
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
    statements = _statements(brand=brand, contact=contact)
    return _told_us(statements, language=language, purpose_names=purpose_names or {})


def told_us_get(
    *, brand: Brand, contact: Contact, quiz_public_id: str, question_key: str, language: str
) -> ToldUs | None:
    """One standing answer (for the correction form); None if there is none. Its purpose is
    named as the centre names it: the title of its notice in the page's language."""
    statements = _statements(
        brand=brand, contact=contact, quiz_public_id=quiz_public_id, question_key=question_key
    )
    if not statements:
        return None
    purpose = statements[0].question.purpose
    title = (
        NoticeVersion.objects.filter(notice__purpose=purpose, language=language)
        .order_by("-version")
        .values_list("title", flat=True)
        .first()
    )
    found = _told_us(statements, language=language, purpose_names={purpose.slug: title or ""})
    return found[0] if found else None


def centre_answers(centre: Centre) -> dict[str, Any]:
    """preferences.centre_parts: what "Your quiz answers" shows."""
    purposes = {slug: choices.heading for slug, choices in centre.purposes.items()}
    language = centre.language or settings.LANGUAGE_CODE
    return {
        "quiz_answers": told_us_list(
            brand=centre.brand, contact=centre.contact, language=language, purpose_names=purposes
        )
    }
