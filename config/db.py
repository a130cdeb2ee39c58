"""Lean SQL for the few rows written and read on every API request and hosted page: INSERTs
built once per model, and hand-written SELECTs that still yield model instances."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from functools import cache, cached_property
from typing import Any

from django.db import connection, models
from django.db.models.fields import NOT_PROVIDED


@cache
def _insert_sql(model: type[models.Model]) -> tuple[str, tuple[models.Field, ...], str | None]:
    meta = model._meta
    # Left to the database: the auto primary key, and columns it fills itself (db_default).
    fields = tuple(
        f
        for f in meta.concrete_fields
        if not (f.primary_key and isinstance(f, models.AutoField)) and f.db_default is NOT_PROVIDED
    )
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    auto_pk = meta.pk.column if meta.pk is not None and meta.pk not in fields else None
    sql = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({placeholders})"  # noqa: S608
    if auto_pk:
        sql += f" RETURNING {quote(auto_pk)}"
    return sql, fields, auto_pk


def insert_parts(obj: models.Model) -> tuple[str, list[object]]:
    """('"table" (columns) VALUES (%s, …)', params) for embedding `obj`'s INSERT in a larger
    statement; the primary key must already be set or be an auto field the database fills, and
    columns with a db_default are left out (the database fills them)."""
    sql, fields, _ = _insert_sql(type(obj))
    params = [f.get_db_prep_save(f.pre_save(obj, add=True), connection) for f in fields]
    into = sql.removeprefix("INSERT INTO ").split(" RETURNING ")[0]
    return into, params


def insert_row(obj: models.Model) -> None:
    """Insert `obj` as Model.save(force_insert=True) would, without building the query each time.

    Field defaults, auto_now_add and per-backend value conversion all apply (pre_save and
    get_db_prep_save); columns with a db_default are left out, so the database fills them (and
    `obj` keeps its placeholder for them); model signals are not sent, and none are connected
    to these models.
    """
    sql, fields, auto_pk = _insert_sql(type(obj))
    params = [f.get_db_prep_save(f.pre_save(obj, add=True), connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if auto_pk:
            obj.pk = cursor.fetchone()[0]
    obj._state.adding = False
    obj._state.db = connection.alias


# --- Hand-written SELECTs that build model instances -------------------------------------------


# How PostgreSQL's to_json writes a column, by Django field type: parsed back, or kept as it is.
_FROM_JSON: dict[str, Callable[[Any], Any]] = {
    "DateTimeField": datetime.fromisoformat,
    "DateField": date.fromisoformat,
    "UUIDField": uuid.UUID,
    "DecimalField": lambda value: Decimal(str(value)),
}
_AS_JSON = frozenset(
    {
        "AutoField",
        "BigAutoField",
        "BigIntegerField",
        "BooleanField",
        "CharField",
        "EmailField",
        "IntegerField",
        "JSONField",
        "PositiveBigIntegerField",
        "PositiveIntegerField",
        "PositiveSmallIntegerField",
        "SlugField",
        "SmallIntegerField",
        "TextField",
        "URLField",
    }
)


class Shape:
    """How to SELECT every concrete column of `model` and build instances from the rows, with
    the same conversions the ORM applies (JSON decoding, SQLite's datetimes and booleans)."""

    def __init__(self, model: type[models.Model]) -> None:
        self.model = model
        self.fields: tuple[Any, ...] = tuple(model._meta.concrete_fields)
        self.width = len(self.fields)
        self.pk_index = self.fields.index(model._meta.pk)
        self._columns: dict[str, str] = {}  # alias (or json_array's key) → its column list
        self.converters: list[tuple[int, list[Any], Any]] = []
        for index, field in enumerate(self.fields):
            col = field.get_col(model._meta.db_table)
            found = connection.ops.get_db_converters(col) + field.get_db_converters(connection)
            if found:
                self.converters.append((index, found, col))

    def columns(self, alias: str) -> str:
        try:
            return self._columns[alias]
        except KeyError:
            quote = connection.ops.quote_name
            listed = self._columns[alias] = ", ".join(f"{alias}.{quote(f.column)}" for f in self.fields)
            return listed

    def json_array(self, alias: str, *extra: str) -> str:
        """PostgreSQL: `json_build_array(<every column>, *extra)`, for reading a model's rows as
        one JSON value (json_agg) inside another statement; `build_json` turns one back."""
        key = f"json_build_array:{alias}:{','.join(extra)}"
        try:
            return self._columns[key]
        except KeyError:
            columns = [f"{alias}.{connection.ops.quote_name(field.column)}" for field in self.fields]
            built = self._columns[key] = f"json_build_array({', '.join([*columns, *extra])})"
            return built

    @cached_property
    def _from_json(self) -> list[tuple[int, Callable[[Any], Any]]]:
        found = []
        for index, field in enumerate(self.fields):
            kind = (field.target_field if field.is_relation else field).get_internal_type()
            if kind in _FROM_JSON:
                found.append((index, _FROM_JSON[kind]))
            elif kind not in _AS_JSON:
                raise TypeError(f"{self.model.__name__}.{field.name}: no JSON reading for {kind}")
        return found

    def build_json(self, values: Sequence[Any]) -> Any:
        """The instance from one `json_array` (decoded): values as PostgreSQL's to_json wrote them,
        converted to what the column itself would have given (datetimes, UUIDs)."""
        values = list(values[: self.width])
        for index, parse in self._from_json:
            if values[index] is not None:
                values[index] = parse(values[index])
        return self.model.from_db(connection.alias, None, values)  # type: ignore[arg-type]

    def build(self, row: Sequence[Any], start: int = 0) -> Any:
        """The instance from `row[start:start + width]`, or None when its primary key is NULL
        (the unmatched side of a LEFT JOIN)."""
        values = list(row[start : start + self.width])
        if values[self.pk_index] is None:
            return None
        for index, converters, col in self.converters:
            value = values[index]
            for converter in converters:
                value = converter(value, col, connection)
            values[index] = value
        return self.model.from_db(connection.alias, None, values)  # type: ignore[arg-type]


@cache
def _shape(model: type[models.Model], vendor: str) -> Shape:
    return Shape(model)


def shape(model: type[models.Model]) -> Shape:
    return _shape(model, connection.vendor)


def convert(model: type[models.Model], name: str, value: Any) -> Any:
    """A value of `model.name` read by hand, converted as the ORM would (e.g. an aggregate)."""
    field = model._meta.get_field(name)
    col = field.get_col(model._meta.db_table)  # type: ignore[union-attr]
    for converter in connection.ops.get_db_converters(col) + field.get_db_converters(connection):  # type: ignore[union-attr]
        value = converter(value, col, connection)
    return value


def _pipelined() -> bool:
    """Whether statements can travel pipelined with server-side binding: psycopg 3 on
    PostgreSQL, whose libpq supports pipeline mode."""
    if connection.vendor != "postgresql":
        return False
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg2
        return False
    return bool(psycopg.Pipeline.is_supported())


def _run_pipelined(statements: Sequence[tuple[str, Sequence[Any]]]) -> list[list[tuple[Any, ...]]]:
    """The statements in one round trip, through psycopg cursors that bind their parameters
    server-side, so PostgreSQL keeps each statement prepared (the hand-written SELECTs here are
    a fixed set, and planning them cost more than running them). Django's own cursors bind
    client-side, which psycopg never prepares, so they are unaffected. Django's cursor wrapper
    is left out (it cost a third of the time); errors are translated and queries logged (tests,
    DEBUG) as it would."""
    import psycopg

    connection.ensure_connection()
    connection.validate_thread_sharing()
    connection.validate_no_broken_transaction()
    raw = connection.connection
    started = time.monotonic()
    with connection.wrap_database_errors:
        cursors = [psycopg.Cursor(raw) for _ in statements]
        with raw.pipeline():
            for cursor, (sql, params) in zip(cursors, statements, strict=True):
                cursor.execute(sql, params)
            results = [cursor.fetchall() for cursor in cursors]
        for cursor in cursors:
            cursor.close()
    if connection.queries_logged:  # one entry per round trip, as Django logs a batch
        compose = connection.ops.compose_sql  # type: ignore[attr-defined]
        sql = ";\n".join(compose(sql, params) for sql, params in statements)
        connection.queries_log.append({"sql": sql, "time": f"{time.monotonic() - started:.3f}"})
    return results


def select_many(statements: Sequence[tuple[str, Sequence[Any]]]) -> list[list[tuple[Any, ...]]]:
    """Each statement's rows, in order. On PostgreSQL they travel in one round trip (psycopg's
    pipeline mode) as prepared statements (settings.DATABASE_PREPARED_STATEMENTS), and run one
    after another, each with its own snapshot, so a lock taken by the first (FOR UPDATE) holds
    before the next ones read. Elsewhere (SQLite, in-process) they run one by one."""
    if _pipelined():
        return _run_pipelined(statements)
    results = []
    with connection.cursor() as cursor:
        for sql, params in statements:
            cursor.execute(sql, params)
            results.append(cursor.fetchall())
    return results


def select_one(sql: str, params: Sequence[Any]) -> tuple[Any, ...] | None:
    """The first row of one hand-written SELECT (prepared on PostgreSQL, as in select_many)."""
    rows = select_many([(sql, params)])[0]
    return rows[0] if rows else None
