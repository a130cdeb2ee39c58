"""A staff session as the console reads it on every request: the session row and the person it
names, with their brands, by one prepared statement (console.sessions, console.backends), and
Django's own rules unchanged: an expired, deleted or signed-out session, a deactivated person or
a changed password signs them out at once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.utils import timezone

from brands.models import Membership
from console.access import person_read
from console.backends import StaffBackend
from console.models import StaffSession as Session
from console.sessions import NOT_READ, SessionStore

PAGE = "/console/acme/members/"
SIGN_IN = f"/console/account/login/?next={PAGE.replace('/', '%2F')}"


@pytest.fixture
def owner(brand, make_staff):
    return make_staff(brand, "owner")


@pytest.fixture
def client(owner, signed_in):
    client = signed_in(owner)
    assert client.get(PAGE).status_code == 200
    return client


def session_of(client) -> Session:
    return Session.objects.get(session_key=client.cookies["sessionid"].value)


def test_the_store_reads_what_django_wrote(client, owner):
    store = SessionStore(client.cookies["sessionid"].value)
    assert store["_auth_user_id"] == str(owner.pk)
    assert store.session_key == client.cookies["sessionid"].value
    missing = SessionStore("x" * 32)
    assert dict(missing.items()) == {}
    assert missing.session_key is None  # as Django's: a key nobody holds starts afresh


@pytest.mark.parametrize(
    "end",
    [
        pytest.param(
            lambda s: Session.objects.filter(pk=s.pk).update(expire_date=timezone.now()), id="expired"
        ),
        pytest.param(lambda s: Session.objects.filter(pk=s.pk).delete(), id="deleted"),
    ],
)
def test_an_ended_session_signs_out_at_once(client, end):
    end(session_of(client))
    response = client.get(PAGE)
    assert (response.status_code, response["Location"]) == (302, SIGN_IN)


def test_a_session_a_minute_from_its_end_still_works(client):
    Session.objects.filter(pk=session_of(client).pk).update(expire_date=timezone.now() + timedelta(minutes=1))
    assert client.get(PAGE).status_code == 200


def test_signing_out_ends_the_session(client):
    key = client.cookies["sessionid"].value
    assert client.post("/console/account/logout/").status_code == 302
    assert not Session.objects.filter(session_key=key).exists()
    assert client.get(PAGE).status_code == 302


def test_a_deactivated_person_is_signed_out_at_once(client, owner):
    type(owner).objects.filter(pk=owner.pk).update(is_active=False)
    assert client.get(PAGE).status_code == 302


def test_a_changed_password_signs_out_other_sessions(client, owner):
    owner.set_password("another-long-password-7")
    owner.save()
    assert client.get(PAGE).status_code == 302


def test_the_person_comes_with_their_brands_by_name(brand, other_brand, owner):
    Membership.objects.create(user=owner, brand=other_brand, role="viewer")
    person = person_read(owner.pk)
    assert person.pk == owner.pk
    assert person.email == owner.email
    expected = sorted([(brand.name, "owner"), (other_brand.name, "viewer")])
    assert [(m.brand.name, m.role) for m in person.console_memberships] == expected
    assert [m.second_factor for m in person.console_memberships] == [True, True]
    assert person_read(owner.pk + 1000) is None


def test_a_person_with_no_brand_is_still_read(make_staff, signed_in):
    from tests.console.conftest import make_person

    nobody = make_person("nobody@example.test")
    person = person_read(nobody.pk)
    assert (person.pk, person.console_memberships) == (nobody.pk, [])
    assert signed_in(nobody).get("/console/").status_code == 200


def test_the_row_names_the_signed_in_person_and_goes_with_them(client, owner):
    assert session_of(client).user_id == owner.pk
    type(owner).objects.get(pk=owner.pk).delete()
    assert not Session.objects.exists()
    assert client.get(PAGE).status_code == 302


def test_a_row_naming_nobody_reads_as_signed_out(db, client):
    """A person deleted without the ORM's cascade (the column has no constraint) leaves rows
    naming nobody: the join finds no one, and the request is not signed in."""
    store = SessionStore()
    store.update(
        {SESSION_KEY: "999999", BACKEND_SESSION_KEY: "console.backends.StaffBackend", HASH_SESSION_KEY: "x"}
    )
    store.create()
    assert Session.objects.get(pk=store.session_key).user_id == 999999
    read = SessionStore(store.session_key)
    read.load()
    assert read.person("999999") is None  # read, and found to be nobody
    client.cookies["sessionid"] = store.session_key
    assert client.get(PAGE).status_code == 302


def test_the_person_is_the_one_the_data_names_never_only_the_column(client, owner, other_brand, make_staff):
    """The column is a copy of the data's person, made for the join. Where the two disagree (a
    row written by other code, a session from before the column), the backend reads the person
    the data names, as Django would, and shows their brands, not the column's person's."""
    other = make_staff(other_brand, "owner")
    session = session_of(client)
    for column in (other.pk, None):
        Session.objects.filter(pk=session.pk).update(user_id=column)
        page = client.get(PAGE)
        assert page.status_code == 200
        assert page.wsgi_request.user.pk == owner.pk
        assert [m.brand.slug for m in page.wsgi_request.user.console_memberships] == ["acme"]


def test_the_person_read_with_a_session_serves_only_the_request_that_read_it(client, owner, brand):
    store = SessionStore(session_of(client).pk)
    assert store.person(owner.pk) is NOT_READ  # nothing read yet
    store.load()
    read = store.person(owner.pk)
    assert [(m.brand.slug, m.role) for m in read.console_memberships] == [("acme", "owner")]
    assert store.person(owner.pk + 1) is NOT_READ
    Membership.objects.filter(user=owner, brand=brand).update(role="viewer")
    # Outside a request's sign-in the backend reads the person anew.
    found = StaffBackend().get_user(owner.pk)
    assert [(m.brand.slug, m.role) for m in found.console_memberships] == [("acme", "viewer")]


@pytest.fixture
def checks(monkeypatch):
    """How many times a stored session's signature was checked (Django's signing.loads)."""
    from django.core import signing

    from console import sessions

    sessions._checked.cache_clear()
    counted = {"checks": 0}
    django_loads = signing.loads

    def loads(*args, **kwargs):
        counted["checks"] += 1
        return django_loads(*args, **kwargs)

    monkeypatch.setattr(signing, "loads", loads)
    yield counted
    sessions._checked.cache_clear()


def test_a_stored_value_is_checked_once_and_each_read_gets_its_own_copy(client, owner, checks):
    key = client.cookies["sessionid"].value
    store = SessionStore(key)
    store["nested"] = {"steps": ["password"]}
    store.save()
    checks["checks"] = 0  # the value stored before was checked when the store read it

    first, again = SessionStore(key), SessionStore(key)
    first["nested"]["steps"].append("totp")  # changed in place, not saved

    assert again["nested"] == {"steps": ["password"]}
    assert again[SESSION_KEY] == str(owner.pk)
    assert checks["checks"] == 1
    assert [client.get(PAGE).status_code for _ in range(3)] == [200] * 3
    assert checks["checks"] == 1
    store["nested"] = {"steps": []}  # a new value: checked when first read
    store.save()
    assert SessionStore(key)["nested"] == {"steps": []}
    assert checks["checks"] == 2


def test_a_new_secret_key_checks_every_value_again(client, owner, checks, settings):
    key = client.cookies["sessionid"].value
    assert SessionStore(key)[SESSION_KEY] == str(owner.pk)
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-rotated-secret-key-" + "k" * 40

    assert SessionStore(key)[SESSION_KEY] == str(owner.pk)  # signed under the fallback
    settings.SECRET_KEY_FALLBACKS = []  # the old key retired: its signatures no longer hold
    assert SessionStore(key).load() == {}
    assert checks["checks"] == 4  # the first key; the rotated keys; the new key alone, then Django's


def test_a_tampered_value_reads_as_no_session_every_time(client, checks, caplog):
    session = session_of(client)
    data = session.session_data
    forged = data.replace(data[: data.index(":")], data[: data.index(":")][::-1], 1)  # the payload changed
    Session.objects.filter(pk=session.pk).update(session_data=forged)

    with caplog.at_level("WARNING", logger="django.security.SuspiciousSession"):
        pages = [client.get(PAGE).status_code for _ in range(2)]

    assert pages == [302, 302]
    assert [r.getMessage() for r in caplog.records] == ["Session data corrupted"] * 2
    assert checks["checks"] == 4  # ours, then Django's own decode, each time: never remembered


def test_a_signed_out_session_row_keeps_no_person(owner, client):
    key = client.cookies["sessionid"].value
    client.post("/console/account/logout/")
    store = SessionStore(key)
    store.load()
    assert (store.person(owner.pk), store.session_key) == (NOT_READ, None)


def test_beat_deletes_the_sessions_past_their_end_every_hour(client, owner, caplog):
    import console.tasks  # registers the task, as the worker's autodiscovery does
    from config.celery import app

    assert settings.CELERY_BEAT_SCHEDULE["staff-sessions-clear"] == {
        "task": "console.tasks.sessions_clear_expired",
        "schedule": 3600.0,
        "options": {"expires": 3600},
    }
    assert app.tasks["console.tasks.sessions_clear_expired"].run.__module__ == console.tasks.__name__
    live = session_of(client)
    ended = SessionStore()
    ended.update({"anything": 1})
    ended.create()
    Session.objects.filter(pk=ended.session_key).update(expire_date=timezone.now() - timedelta(seconds=1))
    caplog.set_level("INFO", logger="console.tasks")

    assert app.tasks["console.tasks.sessions_clear_expired"].apply().get() == 1
    assert list(Session.objects.values_list("pk", flat=True)) == [live.pk]
    assert [r.getMessage() for r in caplog.records if r.name == "console.tasks"] == [
        "staff sessions: 1 expired deleted"
    ]
    assert app.tasks["console.tasks.sessions_clear_expired"].apply().get() == 0
    assert client.get(PAGE).status_code == 200


def test_the_migration_drops_djangos_old_session_table_and_its_records(db):
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor
    from django.db.migrations.recorder import MigrationRecorder

    before, after = ("console", "0002_staff_session"), ("console", "0003_drop_django_session")
    executor = MigrationExecutor(connection)
    executor.migrate([before])  # the reverse is a no-op: nothing comes back
    with connection.cursor() as cursor:  # a database from before 0002: Django's table, in use
        cursor.execute(
            "CREATE TABLE django_session (session_key varchar(40) PRIMARY KEY, "
            "session_data text NOT NULL, expire_date timestamptz NOT NULL)"
        )
        cursor.execute("INSERT INTO django_session VALUES ('k', 'data', now())")
    MigrationRecorder.Migration.objects.create(app="sessions", name="0001_initial")
    others = set(MigrationRecorder.Migration.objects.exclude(app="sessions").values_list("app", "name"))

    executor.loader.build_graph()
    executor.migrate([after])

    assert "django_session" not in connection.introspection.table_names()
    assert not MigrationRecorder.Migration.objects.filter(app="sessions").exists()
    assert set(MigrationRecorder.Migration.objects.values_list("app", "name")) == others | {after}
    assert Session._meta.db_table in connection.introspection.table_names()

    # A database that never had the table (a new one): the same migration does nothing.
    executor.loader.build_graph()
    executor.migrate([before])
    executor.loader.build_graph()
    executor.migrate([after])
    assert "django_session" not in connection.introspection.table_names()
