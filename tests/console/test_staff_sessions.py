"""A staff session as the console reads it on every request: the session row by one prepared
statement (config.sessions), the person with their brands by another (console.backends,
console.access.person_read), and Django's own rules unchanged: an expired, deleted or signed-out
session, a deactivated person or a changed password signs them out at once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.utils import timezone

from brands.models import Membership
from config.sessions import SessionStore
from console.access import person_read

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
