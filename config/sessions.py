"""Django's database sessions, read by one prepared statement.

Every signed-in page (the console's and allauth's) and every contact's session reads its
session row first; the ORM's compiling of that one query cost more than running it. Writing,
rotating and deleting sessions stay Django's own (db.SessionStore); only the read is ours, with
Django's conditions: the key, and not expired."""

from __future__ import annotations

from functools import cache
from typing import NamedTuple

from django.contrib.sessions.backends import db
from django.contrib.sessions.models import Session
from django.db import connection
from django.utils import timezone

from config.db import select_one


class _Stored(NamedTuple):
    session_data: str  # all that db.SessionStore.load reads of the row


@cache
def _read_sql() -> str:
    columns = {f.name: connection.ops.quote_name(f.column) for f in Session._meta.concrete_fields}
    return (
        f"SELECT {columns['session_data']} FROM {connection.ops.quote_name(Session._meta.db_table)} "  # noqa: S608
        f"WHERE {columns['session_key']} = %s AND {columns['expire_date']} > %s"
    )


class SessionStore(db.SessionStore):
    def _get_session_from_db(self) -> _Stored | None:
        row = select_one(_read_sql(), [self.session_key, timezone.now()])
        if row is None:
            self._session_key = None  # as Django's: a missing or expired session starts afresh
            return None
        return _Stored(*row)
