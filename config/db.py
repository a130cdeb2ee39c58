"""Lean SQL for the few rows written and read on every API request and hosted page: INSERTs
built once per model, and hand-written SELECTs that still yield model instances."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import datetime, tzinfo
from functools import cache
from typing import Any

import psycopg
from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.fields import NOT_PROVIDED
from psycopg.abc import AdaptContext, Buffer
from psycopg.abc import Loader as LoaderProtocol
from psycopg.adapt import Loader, PyFormat, Transformer
from psycopg.pq import Format


@cache
def _insert_fields(model: type[models.Model]) -> tuple[tuple[Any, ...], str, str | None]:
    """The fields an INSERT names, their column list, and the auto primary key's column (None
    if the caller sets the key). Left to the database: the auto primary key, columns it fills
    itself (db_default) and generated columns."""
    meta = model._meta
    fields = tuple(
        f
        for f in meta.concrete_fields
        if not (f.primary_key and isinstance(f, models.AutoField))
        and f.db_default is NOT_PROVIDED
        and not f.generated
    )
    quote = connection.ops.quote_name
    auto_pk = meta.pk.column if meta.pk is not None and meta.pk not in fields else None
    return fields, ", ".join(quote(f.column) for f in fields), auto_pk


@cache
def _insert_sql(model: type[models.Model]) -> tuple[str, tuple[models.Field, ...], str | None]:
    meta = model._meta
    fields, columns, auto_pk = _insert_fields(model)
    quote = connection.ops.quote_name
    placeholders = ", ".join(["%s"] * len(fields))
    sql = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({placeholders})"  # noqa: S608
    if auto_pk:
        sql += f" RETURNING {quote(auto_pk)}"
    return sql, fields, auto_pk


def insert_parts(
    obj: models.Model, *, given: Mapping[str, tuple[str, Sequence[object]]] | None = None
) -> tuple[str, list[object]]:
    """('"table" (columns) VALUES (%s, …)', params) for embedding `obj`'s INSERT in a larger
    statement; the primary key must already be set or be an auto field the database fills, and
    columns with a db_default are left out (the database fills them). `given` maps a field's
    attname to the SQL (and its params) that gives its value instead, e.g. a subquery."""
    sql, fields, _ = _insert_sql(type(obj))
    into = sql.removeprefix("INSERT INTO ").split(" RETURNING ")[0]
    if not given:
        return into, [f.get_db_prep_save(f.pre_save(obj, add=True), connection) for f in fields]
    head = into.split(" VALUES ")[0]
    values: list[str] = []
    params: list[object] = []
    for f in fields:
        if f.attname in given:
            expression, extra = given[f.attname]
            values.append(f"({expression})")
            params.extend(extra)
        else:
            values.append("%s")
            params.append(f.get_db_prep_save(f.pre_save(obj, add=True), connection))
    return f"{head} VALUES ({', '.join(values)})", params


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


def insert_from_arrays(
    model: type[models.Model],
    objs: Sequence[models.Model],
    *,
    given: dict[str, str] | None = None,
    sources: str = "",
) -> tuple[str, list[Any]]:
    """`INSERT INTO <table> (<columns>) SELECT … FROM <sources>unnest(<one array per column>)`:
    `objs` in one statement whose text, and so its prepared plan, is the same for any number of
    rows. Every concrete column but the auto primary key and those with a db_default, values
    prepared as Model.save would (defaults, auto_now_add); `given` maps a field's attname to the
    SQL that gives its value instead (e.g. {"endpoint_id": "moved.id"}), and `sources` comes
    before unnest in FROM (e.g. "moved, "). Append ON CONFLICT or RETURNING as needed."""
    fields, columns, _ = _insert_fields(model)
    given = given or {}
    arrays = [f for f in fields if f.attname not in given]
    quote = connection.ops.quote_name
    types = {f: f.db_type(connection) for f in arrays}
    # A column that is an array itself travels as its text (arrays of arrays must be rectangular).
    nested = {f for f, db_type in types.items() if db_type.endswith("]")}

    def value_of(f: Any) -> str:
        if f.attname in given:
            return given[f.attname]
        return f"v.{quote(f.column)}::{types[f]}" if f in nested else f"v.{quote(f.column)}"

    values = ", ".join(value_of(f) for f in fields)
    unnest = ", ".join("%s::text[]" if f in nested else f"%s::{types[f]}[]" for f in arrays)
    names = ", ".join(quote(f.column) for f in arrays)
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} ({columns}) "  # noqa: S608 - names from the model
        f"SELECT {values} FROM {sources}unnest({unnest}) AS v({names})"
    )
    params = []
    for f in arrays:
        column = [f.get_db_prep_save(f.pre_save(obj, add=True), connection) for obj in objs]
        params.append([_as_text(value) for value in column] if f in nested else column)
    return sql, params


def _as_text(value: Any) -> str | None:
    """`value` as PostgreSQL's text for it, written by psycopg's own dumper."""
    if value is None:
        return None
    transformer = Transformer(connection.connection)
    dumped = transformer.get_dumper(value, PyFormat.TEXT).dump(value)
    return None if dumped is None else bytes(dumped).decode()


# --- Hand-written SELECTs that build model instances -------------------------------------------


# The type (OID) of each column type, as PostgreSQL names it ("varchar(255)", "jsonb"…), found once.
_oids: dict[str, int] = {}


def _type_oids(db_types: Sequence[str]) -> list[int]:
    missing = sorted({t for t in db_types if t not in _oids})
    if missing:
        with connection.cursor() as cursor:
            cursor.execute("SELECT t, t::regtype::oid FROM unnest(%s::text[]) AS t", [missing])
            _oids.update(cursor.fetchall())
    return [_oids[t] for t in db_types]


class Shape:
    """How to SELECT every concrete column of `model` and build instances from the rows, with
    the same conversions the ORM applies.

    Rows come either as columns (`columns`, `build`) or, inside another statement, as one JSON
    array of the columns' text (`json_array`, `build_json`). The text is read back by psycopg's
    own loader for the column's type, the one a plain SELECT of that column uses, and then by
    Django's converters: both readings give the same values for every field type, with nothing
    to add here when a model gains a field."""

    def __init__(self, model: type[models.Model]) -> None:
        self.model = model
        self.fields: tuple[Any, ...] = tuple(model._meta.concrete_fields)
        self.width = len(self.fields)
        self.pk_index = self.fields.index(model._meta.pk)
        self._columns: dict[str, str] = {}  # alias (or json_array's key) → its column list
        self._loaders: list[Any] = []
        self._loaders_for: object = None  # the psycopg connection _loaders were made for
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
        """`json_build_array(<every column's text>, *extra)`, for reading a model's rows as one
        JSON value (json_agg) inside another statement; `build_json` turns one back."""
        key = f"json_build_array:{alias}:{','.join(extra)}"
        try:
            return self._columns[key]
        except KeyError:
            quote = connection.ops.quote_name
            # Each value as its type's output function writes it, the text psycopg loads: a plain
            # ::text cast differs for some types (inet adds its netmask). format() writes NULL as
            # '', so a column that may be NULL (nullable or generated) keeps it by a CASE; the
            # others go without, which keeps the centre's statement under psycopg's 4 KiB limit
            # for caching its parsing. (`alias` is a table's own rows, never the NULL side of an
            # outer join.)
            columns = [
                f"CASE WHEN {col} IS NOT NULL THEN format('%%s', {col}) END"
                if field.null or field.generated
                else f"format('%%s', {col})"
                for field, col in ((field, f"{alias}.{quote(field.column)}") for field in self.fields)
            ]
            built = self._columns[key] = f"json_build_array({', '.join([*columns, *extra])})"
            return built

    def _text_loaders(self) -> list[Any]:
        """psycopg's text loader for each column's type, as configured on this connection (Django
        registers its own for timestamps and JSON)."""
        raw = connection.connection
        if self._loaders_for is not raw:
            oids = _type_oids([field.db_type(connection) for field in self.fields])
            adapters = raw.adapters
            self._loaders = [
                (adapters.get_loader(oid, Format.TEXT) or adapters.get_loader(0, Format.TEXT))(oid, raw)
                for oid in oids
            ]
            self._loaders_for = raw
        return self._loaders

    def load_text(self, name: str, text: str | None) -> Any:
        """One column's value from its text (as `json_array` writes it), converted as the ORM
        would."""
        if text is None:
            return None
        index = next(i for i, field in enumerate(self.fields) if field.name == name)
        value = self._text_loaders()[index].load(text.encode())
        for at, converters, col in self.converters:
            if at == index:
                for converter in converters:
                    value = converter(value, col, connection)
        return value

    def build_json(self, values: Sequence[Any]) -> Any:
        """The instance from one `json_array` (decoded): each column's text loaded as a SELECT of
        the column would have loaded it."""
        loaders = self._text_loaders()
        row = [
            None if value is None else loaders[index].load(value.encode())
            for index, value in enumerate(values[: self.width])
        ]
        return self.build(row)

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
        return self.model.from_db(DEFAULT_DB_ALIAS, None, values)  # type: ignore[arg-type]


@cache
def shape(model: type[models.Model]) -> Shape:
    return Shape(model)


def convert(model: type[models.Model], name: str, value: Any) -> Any:
    """A value of `model.name` read by hand, converted as the ORM would (e.g. an aggregate)."""
    field = model._meta.get_field(name)
    col = field.get_col(model._meta.db_table)  # type: ignore[union-attr]
    for converter in connection.ops.get_db_converters(col) + field.get_db_converters(connection):  # type: ignore[union-attr]
        value = converter(value, col, connection)
    return value


def _run(statements: Sequence[tuple[str, Sequence[Any]]]) -> list[list[tuple[Any, ...]]]:
    """The statements in one round trip, through psycopg cursors that bind their parameters
    server-side, so PostgreSQL keeps each statement prepared (the hand-written SELECTs here are
    a fixed set, and planning them cost more than running them). Django's own cursors bind
    client-side, which psycopg never prepares, so they are unaffected. Django's cursor wrapper
    is left out (it cost a third of the time); errors are translated and queries logged (tests,
    DEBUG) as it would.

    Several statements go in psycopg's pipeline mode. A single one goes without it: entering
    and leaving the pipeline costs the client more than the statement (about 45 µs of 155 for
    a signed-in request's session read); the price is a round trip of its own the first time a
    connection prepares the statement (and again after a ROLLBACK, on which psycopg forgets
    them all)."""
    db = connections[DEFAULT_DB_ALIAS]  # once: each attribute of the `connection` proxy is a lookup
    db.ensure_connection()
    db.validate_thread_sharing()
    db.validate_no_broken_transaction()
    raw = db.connection
    started = time.monotonic()
    with db.wrap_database_errors:
        cursors = [psycopg.Cursor(raw) for _ in statements]
        if len(statements) == 1:
            cursors[0].execute(*statements[0])
        else:
            with raw.pipeline():
                for cursor, (sql, params) in zip(cursors, statements, strict=True):
                    cursor.execute(sql, params)
        # Read once a pipeline has synced: fetching inside it would flush and wait for the
        # results first, and then wait again for the Sync, two round trips instead of one.
        results = [cursor.fetchall() for cursor in cursors]
        for cursor in cursors:
            cursor.close()
    if db.queries_logged:  # one entry per round trip, as Django logs a batch
        compose = db.ops.compose_sql  # type: ignore[attr-defined]
        sql = ";\n".join(compose(sql, params) for sql, params in statements)
        db.queries_log.append({"sql": sql, "time": f"{time.monotonic() - started:.3f}"})
    return results


def select_many(statements: Sequence[tuple[str, Sequence[Any]]]) -> list[list[tuple[Any, ...]]]:
    """Each statement's rows, in order. They travel in one round trip (several in psycopg's
    pipeline mode) as prepared statements (settings.DATABASE_PREPARED_STATEMENTS), and run one
    after another, each with its own snapshot, so a lock taken by the first (FOR UPDATE) holds
    before the next ones read."""
    return _run(statements)


def select_one(sql: str, params: Sequence[Any]) -> tuple[Any, ...] | None:
    """The first row of one hand-written SELECT (prepared on PostgreSQL, as in select_many)."""
    rows = select_many([(sql, params)])[0]
    return rows[0] if rows else None


@cache
def _timestamptz_loader(zone: tzinfo | None) -> type[Loader]:
    found = psycopg.adapters.get_loader(psycopg.adapters.types["timestamptz"].oid, Format.TEXT)
    assert found is not None  # psycopg always has one
    c_loader: type[LoaderProtocol] = found

    class TimestamptzLoader(Loader):
        timezone = zone  # Django compares it with the connection's before each cursor

        def __init__(self, oid: int, context: AdaptContext | None = None) -> None:
            super().__init__(oid, context)
            self._load = c_loader(oid, context).load

        def load(self, data: Buffer) -> datetime:
            return self._load(data).replace(tzinfo=self.timezone)

    return TimestamptzLoader


def timestamptz_loader_install(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    """On each new connection (`connection_created`): load timestamps as Django's loader does
    (postgresql.psycopg_any.BaseTzLoader: the value in the connection's time zone, labelled
    with Django's), with psycopg's C parser. Django's loader derives from psycopg's pure-Python
    one: about 4 µs a value against 0.2, and a signed-in console request reads four."""
    raw = connection.connection
    raw.adapters.register_loader("timestamptz", _timestamptz_loader(connection.timezone))
