"""The staff's sessions: Django's database sessions (SESSION_ENGINE), stored with the signed-in
person's id in a column (console.models.StaffSession), and read in one round trip together with
that person and every brand they belong to. A stored value's signature is checked once per
process (_checked).

Every signed-in request (the console's, allauth's, the admin's) reads its session first and the
person right after; reading both by one prepared statement halves the round trips of every
console page. The person read here reaches the staff's backend through
console.backends.SignedInMiddleware, only for the request that read it, and only if the session's
data names the same person (Django's rules then run unchanged: the session's hash, an inactive
person). Writing, rotating and deleting sessions stay Django's own (db.SessionStore), with the
column filled from the data on every save."""

from __future__ import annotations

import json
from functools import cache, lru_cache
from typing import Any, NamedTuple, cast

from django.conf import settings
from django.contrib.auth import SESSION_KEY, get_user_model
from django.contrib.sessions.backends import db
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from config.db import select_many
from console.access import person_from_rows, person_with_sql
from console.models import StaffSession

# What `person` answers when the session's read did not bring the person asked for.
NOT_READ: Any = object()


class _Stored(NamedTuple):
    session_data: str  # all that db.SessionStore.load reads of the row


@cache
def _read_sql() -> str:
    quote = connection.ops.quote_name
    column = {f.name: quote(f.column) for f in StaffSession._meta.concrete_fields}
    return person_with_sql(
        table=quote(StaffSession._meta.db_table),
        columns=f"t.{column['session_data']}, t.{column['user']}",
        person_column=column["user"],
        where=f"t.{column['session_key']} = %s AND t.{column['expire_date']} > %s",
    )


# Django signs a session's stored data and checks the signature at every read: an HMAC under a
# key derived from SECRET_KEY anew each time, about 7% of a console page's CPU. The same stored
# value read again is the same signed text, already checked: a process remembers the last
# CHECKED_SESSIONS values it checked (a few hundred bytes each) and parses them again from
# JSON, so no request shares, or can change, another's data. A value that fails the check is
# not remembered: Django's decode answers for it, as it always did.
CHECKED_SESSIONS = 4096


@lru_cache(maxsize=CHECKED_SESSIONS)
def _checked(session_data: str, salt: str, serializer: type, keys: tuple[str | bytes, ...]) -> str:
    """`session_data`'s content as JSON, once its signature has checked under `keys` (the
    secret key, then its fallbacks) as Django's SessionBase.decode checks it; raises if not."""
    key, *fallbacks = keys
    return json.dumps(
        signing.loads(session_data, key=key, salt=salt, serializer=serializer, fallback_keys=fallbacks)
    )


def _person_id(value: Any) -> Any:
    """The person's primary key as the session's data holds it (a string), or None."""
    if value is None:
        return None
    try:
        return get_user_model()._meta.pk.to_python(value)
    except ValidationError:
        return None


class SessionStore(db.SessionStore):
    # (the row's person id, the person or None) as the last read of the row found them.
    _read_person: tuple[Any, Any] | None = None

    @classmethod
    def get_model_class(cls) -> type[StaffSession]:
        return StaffSession

    def create_model_instance(self, data: dict[str, Any]) -> StaffSession:
        session = cast(StaffSession, super().create_model_instance(data))
        session.user_id = _person_id(data.get(SESSION_KEY))
        return session

    def decode(self, session_data: bytes | str) -> dict[str, Any]:
        if not isinstance(session_data, str):  # the column is text: never so here
            return super().decode(session_data)
        try:
            keys: tuple[str | bytes, ...] = (settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS)
            content = _checked(session_data, self.key_salt, self.serializer, keys)
            return cast(dict[str, Any], json.loads(content))
        except Exception:  # Django's decode logs and answers for a bad value
            return super().decode(session_data)

    def _get_session_from_db(self) -> _Stored | None:
        rows = select_many([(_read_sql(), [self.session_key, timezone.now()])])[0]
        if not rows:
            self._read_person = None
            self._session_key = None  # as Django's: a missing or expired session starts afresh
            return None
        session_data, person_id = rows[0][0], rows[0][1]
        self._read_person = (person_id, person_from_rows(rows, 2)) if person_id is not None else None
        return _Stored(session_data)

    def person(self, user_id: Any) -> Any:
        """The person with `user_id` (None if they no longer exist) as the read of this session
        found them, or NOT_READ when it found no person or another one."""
        if self._read_person is None:
            return NOT_READ
        person_id, person = self._read_person
        return person if person_id == _person_id(user_id) else NOT_READ


def sessions_clear_expired() -> int:
    """Delete the sessions past their end (what Django's `clearsessions` does, which goes with
    django.contrib.sessions, an app this project does not install); how many went."""
    deleted, _ = StaffSession.objects.filter(expire_date__lt=timezone.now()).delete()
    return deleted
