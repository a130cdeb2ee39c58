"""Reads of the hosted quiz page: the quiz a visitor opened, with its brand and live version.

A published version never changes (a trigger refuses UPDATE and DELETE), so its document is
read and parsed once per process and kept by the version's id (`version_document`). The quiz's
and the brand's row may change at any moment; each process keeps the one row that holds them
for QUIZ_PAGE_CACHE_SECONDS (`quiz_live`), so a step of a quiz reads nothing from the database.
A change saved in this process (a quiz published or archived, the brand's name, theme or embed
origins) drops the kept rows at once (`quiz_live_changed`, on the models' post_save); the other
processes see it within those seconds. The quiz's draft is never read here.
"""

from __future__ import annotations

import time
from functools import cache
from threading import Lock
from typing import Any

from django.conf import settings
from django.db import connection, models, transaction

from brands.models import Brand
from config.db import select_one, shape
from consent.models import NoticeVersion
from quizzes.document import Document, parse
from quizzes.models import Quiz, QuizStatus, QuizVersion

DOCUMENTS_KEPT = 512  # versions whose documents a process keeps; past it, it starts again
_documents: dict[int, tuple[Any, Document]] = {}
_documents_lock = Lock()


def _document_of(version_id: int) -> tuple[Any, Document]:
    """(the stored JSON, the parsed document) of a published version."""
    found = _documents.get(version_id)
    if found is None:
        raw = QuizVersion.objects.values_list("document", flat=True).get(pk=version_id)
        found = (raw, parse(raw))
        with _documents_lock:
            if len(_documents) >= DOCUMENTS_KEPT:
                _documents.clear()
            _documents[version_id] = found
    return found


def version_document(version: QuizVersion) -> Document:
    """The version's document, parsed (once per process)."""
    return _document_of(version.pk)[1]


def _with_document(version: QuizVersion) -> QuizVersion:
    """The version with its stored document set from the process's copy (the page's reads leave
    the column out)."""
    version.document = _document_of(version.pk)[0]
    return version


class _Columns:
    """Every concrete column of `model` but `left_out`, selected by hand and built into an
    instance (the left-out fields deferred) with the ORM's own conversions, as config.db's
    Shape does for whole rows: the names come from the model, so a new field needs no edit."""

    def __init__(self, model: type[models.Model], left_out: tuple[str, ...]) -> None:
        self.model = model
        self.fields: list[Any] = [f for f in model._meta.concrete_fields if f.name not in left_out]
        self.attnames = [f.attname for f in self.fields]
        self.width = len(self.fields)
        self.converters: list[tuple[int, list[Any], Any]] = []
        for index, field in enumerate(self.fields):
            col = field.get_col(model._meta.db_table)
            found = connection.ops.get_db_converters(col) + field.get_db_converters(connection)
            if found:
                self.converters.append((index, found, col))

    def columns(self, alias: str) -> str:
        quote = connection.ops.quote_name
        return ", ".join(f"{alias}.{quote(f.column)}" for f in self.fields)

    def build(self, row: tuple[Any, ...], start: int) -> Any:
        values = list(row[start : start + self.width])
        for index, converters, col in self.converters:
            for converter in converters:
                values[index] = converter(values[index], col, connection)
        return self.model.from_db(connection.alias, self.attnames, values)


@cache
def _live_statement() -> tuple[str, _Columns, _Columns]:
    quiz, version = _Columns(Quiz, ("draft",)), _Columns(QuizVersion, ("document",))
    quote = connection.ops.quote_name
    sql = (
        f"SELECT {quiz.columns('q')}, {shape(Brand).columns('b')}, {version.columns('v')} "  # noqa: S608
        f"FROM {quote(Quiz._meta.db_table)} q "
        f"JOIN {quote(Brand._meta.db_table)} b ON b.id = q.brand_id "
        f"JOIN {quote(QuizVersion._meta.db_table)} v ON v.id = q.live_version_id "
        "WHERE q.public_id = %s AND q.status = %s"
    )
    return sql, quiz, version


LIVE_KEPT = 1024  # quizzes whose row a process keeps; past it, it starts again
_live: dict[str, tuple[float, tuple[Any, ...]]] = {}  # public id -> (kept until, the row)
_live_lock = Lock()


def quiz_live(*, public_id: str) -> Quiz | None:
    """The published quiz with this public id, its brand and live version; None for an
    unknown, never-published or archived quiz. One prepared statement (config.db): on every
    step of a quiz, compiling the ORM's query cost more than running it. The row is kept for
    QUIZ_PAGE_CACHE_SECONDS (a quiz not found is not: unknown ids must not fill the memory); the
    instances are built anew from it for each call, so no request sees another's changes."""
    sql, quiz_columns, version_columns = _live_statement()
    now = time.monotonic()
    kept = _live.get(public_id)
    if kept is not None and kept[0] > now:
        row: tuple[Any, ...] | None = kept[1]
    else:
        row = select_one(sql, [public_id, QuizStatus.PUBLISHED.value])
        seconds = settings.QUIZ_PAGE_CACHE_SECONDS
        with _live_lock:
            if row is None or seconds <= 0:
                _live.pop(public_id, None)
            else:
                if len(_live) >= LIVE_KEPT:
                    _live.clear()
                _live[public_id] = (now + seconds, row)
    if row is None:
        return None
    brand_shape = shape(Brand)
    quiz: Quiz = quiz_columns.build(row, 0)
    brand = brand_shape.build(row, quiz_columns.width)
    version: QuizVersion = version_columns.build(row, quiz_columns.width + brand_shape.width)
    Quiz.brand.field.set_cached_value(quiz, brand)
    Quiz.live_version.field.set_cached_value(quiz, _with_document(version))
    return quiz


def quiz_live_forget() -> None:
    """Drop every row this process keeps."""
    with _live_lock:
        _live.clear()


def quiz_live_changed(**_: Any) -> None:
    """A quiz or a brand was saved or deleted (post_save, post_delete; quizzes.apps): drop the
    kept rows now and again once the transaction commits (a request in between may have kept a
    row as it was before the change)."""
    quiz_live_forget()
    transaction.on_commit(quiz_live_forget)


def quiz_version(*, quiz: Quiz, version_id: int) -> QuizVersion | None:
    """One of the quiz's versions (a run keeps the version it started on)."""
    version: QuizVersion | None
    if quiz.live_version is not None and quiz.live_version.pk == version_id:
        version = quiz.live_version
    else:
        version = QuizVersion.objects.filter(quiz=quiz, pk=version_id).defer("document").first()
        if version is not None:
            _with_document(version)
    if version is not None:
        version.quiz = quiz
    return version


def notice_version_shown(*, quiz: Quiz, public_id: str | None) -> NoticeVersion | None:
    """The notice version a consent question shows, if it is the brand's."""
    if not public_id:
        return None
    return NoticeVersion.objects.filter(public_id=public_id, notice__purpose__brand=quiz.brand_id).first()
