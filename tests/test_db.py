"""config.db's round trips and the timestamps every connection loads."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection, transaction
from django.db.backends.postgresql.psycopg_any import BaseTzLoader
from django.utils import timezone
from psycopg.pq import Format

from config.db import select_many, select_one
from tests.roundtrips import round_trips

pytestmark = pytest.mark.django_db

# A statement no other test runs, so the first run here is its first on the connection.
ONE = "SELECT %s::int + 1 AS config_db_one"
TWO = "SELECT %s::int + 2 AS config_db_two"


@pytest.fixture(autouse=True)
def begun():
    """The test's transaction under way (its BEGIN goes with the first statement)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def test_a_single_statement_is_prepared_once_then_runs_in_one_round_trip():
    with round_trips() as first:
        assert select_one(ONE, [1]) == (2,)
    with round_trips() as again:
        assert select_one(ONE, [2]) == (3,)
    assert (first.count, again.count) == (2, 1), (first, again)


def test_a_rollback_makes_the_next_single_statement_prepare_again():
    def refused() -> None:
        with transaction.atomic():
            select_one(ONE, [1])
            raise ZeroDivisionError

    select_one(ONE, [1])
    with pytest.raises(ZeroDivisionError):
        refused()
    with round_trips() as after:
        select_one(ONE, [1])
    with round_trips() as again:
        select_one(ONE, [1])
    assert (after.count, again.count) == (2, 1), (after, again)


def test_several_statements_go_in_one_round_trip_even_the_first_time():
    with round_trips() as trips:
        assert select_many([(ONE, [1]), (TWO, [1])]) == [[(2,)], [(3,)]]
    assert trips.count == 1, trips


def test_timestamps_load_as_djangos_loader_loads_them():
    connection.ensure_connection()
    raw = connection.connection
    oid = raw.adapters.types["timestamptz"].oid
    ours = raw.adapters.get_loader(oid, Format.TEXT)(oid, raw)
    djangos = type("Djangos", (BaseTzLoader,), {"timezone": connection.timezone})(oid, raw)
    for text in (b"2026-12-05 21:59:35.642271+00", b"2020-01-01 10:00:00.5+02", b"1999-12-31 23:59:59+00"):
        assert ours.load(text) == djangos.load(text)
        assert ours.load(text).tzinfo is djangos.load(text).tzinfo is UTC
    assert not isinstance(ours, BaseTzLoader)  # psycopg's C parser, not its Python one


def test_timestamps_read_by_django_and_by_hand_are_aware_and_equal():
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::timestamptz", [now])
        (by_django,) = cursor.fetchone()
    (by_hand,) = select_one("SELECT %s::timestamptz AS config_db_at", [now])  # type: ignore[misc]
    assert by_django == by_hand == now
    assert by_django.tzinfo is by_hand.tzinfo is UTC
    assert isinstance(by_hand, datetime)
