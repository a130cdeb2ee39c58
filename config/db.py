"""A lean INSERT for the few rows written on every API request."""

from __future__ import annotations

from functools import cache

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
