"""Sign-in, invitations and the membership rules behind the console."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core import mail
from django.utils import timezone

from brands.models import Invitation, Membership
from brands.services import (
    invitation_accept,
    invitation_create,
    invitation_revoke,
    membership_remove,
    membership_set,
)
from config.errors import Conflict, Forbidden, NotFound
from tests.actors import TEST_ACTOR, audit_mark, audit_rows
from tests.console.conftest import PASSWORD, make_person


def invite(brand, owner, email="new@acme.test", role="editor", django_capture_on_commit_callbacks=None):
    return invitation_create(
        brand=brand,
        email=email,
        role=role,
        invited_by=owner,
        url_builder=lambda token: f"http://testserver/console/invitations/{token}/",
        actor=TEST_ACTOR,
    )


def test_an_invitation_stores_only_the_hash_and_emails_the_link(
    brand, make_staff, django_capture_on_commit_callbacks
):
    owner = make_staff(brand, "owner")
    with django_capture_on_commit_callbacks(execute=True):
        issued = invite(brand, owner, email=" New@ACME.test ")
    invitation = Invitation.objects.get()
    assert (invitation.email, invitation.role, invitation.invited_by_id) == (
        "new@acme.test",
        "editor",
        owner.pk,
    )
    assert issued.token not in invitation.token_hash
    assert abs(invitation.expires_at - invitation.created_at - timedelta(days=7)) < timedelta(seconds=1)
    [message] = mail.outbox
    assert message.to == ["new@acme.test"]
    assert message.subject == "You are invited to the Acme Ltd console"
    assert f"http://testserver/console/invitations/{issued.token}/" in message.body
    assert "owner@acme.test invites you to join Acme Ltd in the Candor console as Editor." in message.body
    html = message.alternatives[0][0]
    assert f'href="http://testserver/console/invitations/{issued.token}/"' in html


def test_the_invitation_email_speaks_german_and_french(brand, make_staff, django_capture_on_commit_callbacks):
    from django.utils import translation

    owner = make_staff(brand, "owner")
    for language, subject in (
        ("de", "Einladung in die Konsole von Acme Ltd"),
        ("fr", "Invitation à la console Acme Ltd"),
    ):
        mail.outbox.clear()
        with translation.override(language), django_capture_on_commit_callbacks(execute=True):
            invite(brand, owner, email=f"{language}@acme.test")
        assert mail.outbox[0].subject == subject


def test_accepting_makes_a_member_once_and_only_for_the_invited_address(brand, make_staff):
    owner = make_staff(brand, "owner")
    issued = invite(brand, owner)
    stranger = make_person("someone-else@acme.test")
    with pytest.raises(Forbidden):
        invitation_accept(token=issued.token, user=stranger)
    assert not Membership.objects.filter(user=stranger).exists()

    unverified = get_user_model().objects.create_user("u", email="new@acme.test")
    EmailAddress.objects.create(user=unverified, email="new@acme.test", verified=False, primary=True)
    with pytest.raises(Forbidden):
        invitation_accept(token=issued.token, user=unverified)
    EmailAddress.objects.filter(user=unverified).update(verified=True)

    membership = invitation_accept(token=issued.token, user=unverified)
    assert (membership.brand_id, membership.role) == (brand.pk, "editor")
    assert Invitation.objects.get().accepted_by_id == unverified.pk
    with pytest.raises(NotFound):  # single use
        invitation_accept(token=issued.token, user=unverified)


@pytest.mark.parametrize("spoil", ["forged", "expired", "revoked", "other-salt"])
def test_a_spoilt_link_is_not_found(brand, make_staff, spoil):
    from django.core import signing

    owner = make_staff(brand, "owner")
    issued = invite(brand, owner)
    person = make_person("new@acme.test")
    token = issued.token
    if spoil == "forged":
        token = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    elif spoil == "revoked":
        Invitation.objects.update(revoked_at=timezone.now())
    elif spoil == "other-salt":
        token = signing.dumps(signing.loads(issued.token, salt="candor.console.invitation"), salt="other")
    if spoil == "expired":
        with time_machine.travel(timezone.now() + timedelta(days=7, seconds=1)), pytest.raises(NotFound):
            invitation_accept(token=token, user=person)
    else:
        with pytest.raises(NotFound):
            invitation_accept(token=token, user=person)
    assert not Membership.objects.filter(user=person).exists()


def test_a_new_invitation_to_the_same_address_withdraws_the_old_one(brand, make_staff):
    owner = make_staff(brand, "owner")
    first = invite(brand, owner)
    invite(brand, owner, role="viewer")
    with pytest.raises(NotFound):
        invitation_accept(token=first.token, user=make_person("new@acme.test"))


def test_the_last_owner_can_be_neither_demoted_nor_removed(brand, make_staff):
    owner = make_staff(brand, "owner")
    membership = Membership.objects.get(user=owner)
    with pytest.raises(Conflict):
        membership_set(user=owner, brand=brand, role="editor", actor=TEST_ACTOR)
    with pytest.raises(Conflict):
        membership_remove(membership=membership, actor=TEST_ACTOR)
    assert Membership.objects.get(user=owner).role == "owner"

    second = make_staff(brand, "owner", "second@acme.test")
    membership_set(user=owner, brand=brand, role="editor", actor=TEST_ACTOR)  # another owner remains
    with pytest.raises(Conflict):
        membership_remove(membership=Membership.objects.get(user=second), actor=TEST_ACTOR)


def test_the_members_page_invites_changes_a_role_removes_and_revokes(
    brand, make_staff, signed_in, django_capture_on_commit_callbacks
):
    owner = make_staff(brand, "owner")
    viewer = make_staff(brand, "viewer")
    client = signed_in(owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/console/acme/members/", {"action": "invite", "email": "x@acme.test", "role": "support"}
        )
    assert response.status_code == 302
    assert list(Invitation.objects.values_list("email", "role")) == [("x@acme.test", "support")]
    assert len(mail.outbox) == 1

    member = Membership.objects.get(user=viewer)
    assert (
        client.post(
            "/console/acme/members/", {"action": "change_role", "membership": member.pk, "role": "editor"}
        ).status_code
        == 302
    )
    assert Membership.objects.get(user=viewer).role == "editor"

    refused = client.post(
        "/console/acme/members/",
        {"action": "change_role", "membership": Membership.objects.get(user=owner).pk, "role": "viewer"},
    )
    assert refused.status_code == 409
    assert "A brand needs at least one owner" in refused.content.decode()
    assert Membership.objects.get(user=owner).role == "owner"

    bad = client.post(
        "/console/acme/members/", {"action": "invite", "email": "not-an-address", "role": "support"}
    )
    assert bad.status_code == 400
    assert 'id="error-summary"' in bad.content.decode()

    invitation = Invitation.objects.get()
    assert (
        client.post("/console/acme/members/", {"action": "revoke", "invitation": invitation.pk}).status_code
        == 302
    )
    assert Invitation.objects.get().revoked_at is not None

    assert (
        client.post("/console/acme/members/", {"action": "remove", "membership": member.pk}).status_code
        == 302
    )
    assert not Membership.objects.filter(user=viewer).exists()


def test_another_brands_member_cannot_be_touched_from_ours(brand, other_brand, make_staff, signed_in):
    owner = make_staff(brand, "owner")
    theirs = make_staff(other_brand, "viewer", "viewer@outsider.test")
    member = Membership.objects.get(user=theirs)
    response = signed_in(owner).post("/console/acme/members/", {"action": "remove", "membership": member.pk})
    assert response.status_code == 404
    assert Membership.objects.filter(pk=member.pk).exists()


def test_htmx_gets_the_members_fragment(brand, make_staff, signed_in):
    client = signed_in(make_staff(brand, "owner"))
    page = client.get("/console/acme/members/", HTTP_HX_REQUEST="true").content.decode()
    assert page.startswith('\n<div id="members"') or page.lstrip().startswith('<div id="members"')
    assert "<html" not in page


def test_an_owner_without_a_second_factor_is_sent_to_set_one_up_first(brand, make_staff, signed_in):
    owner = make_staff(brand, "owner", second_factor=False)
    client = signed_in(owner)
    for path in ("/console/", "/console/acme/", "/console/acme/members/"):
        response = client.get(path)
        assert (response.status_code, response["Location"]) == (302, "/console/account/2fa/totp/activate/"), (
            path
        )
    # allauth's setup page asks for the password again first; neither loops back here.
    setup = client.get("/console/account/2fa/totp/activate/")
    assert setup["Location"].startswith("/console/account/reauthenticate/")
    assert client.get(setup["Location"]).status_code == 200
    # A viewer needs none.
    viewer = make_staff(brand, "viewer")
    assert signed_in(viewer).get("/console/acme/").status_code == 200


def test_sign_up_is_closed_without_an_invitation_and_open_with_one(brand, make_staff, client):
    closed = client.get("/console/account/signup/")
    assert "Sign Up Closed" in closed.content.decode()
    client.post(
        "/console/account/signup/", {"email": "x@acme.test", "password1": PASSWORD, "password2": PASSWORD}
    )
    assert not get_user_model().objects.filter(email="x@acme.test").exists()

    issued = invite(brand, make_staff(brand, "owner"), email="x@acme.test", role="viewer")
    opened = client.get(f"/console/invitations/{issued.token}/")
    assert opened.status_code == 302
    assert opened["Location"].startswith("/console/account/signup/?next=")
    other = client.post(
        "/console/account/signup/", {"email": "y@acme.test", "password1": PASSWORD, "password2": PASSWORD}
    )
    assert not get_user_model().objects.filter(email="y@acme.test").exists()
    assert "Sign up with the address your invitation was sent to." in other.content.decode()

    done = client.post(
        f"/console/account/signup/?next=/console/invitations/{issued.token}/",
        {"email": "x@acme.test", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert done.status_code == 302
    assert done["Location"] == f"/console/invitations/{issued.token}/"
    assert EmailAddress.objects.get(email="x@acme.test").verified  # they followed the emailed link
    assert client.post(f"/console/invitations/{issued.token}/", {"action": "accept"}).status_code == 302
    assert Membership.objects.get(user__email="x@acme.test").role == "viewer"


def test_failed_sign_ins_are_limited_per_address(brand, make_staff, client):
    make_staff(brand, "viewer")
    pages = [
        client.post(
            "/console/account/login/", {"login": "viewer@acme.test", "password": "wrong"}
        ).content.decode()
        for _ in range(5)
    ]
    assert ["Too many failed login attempts" in page for page in pages] == [False] * 5
    # The sixth, even with the right password, is refused until the window passes.
    limited = client.post("/console/account/login/", {"login": "viewer@acme.test", "password": PASSWORD})
    assert limited.status_code == 200
    assert "Too many failed login attempts" in limited.content.decode()
    assert 'id="error-summary"' in limited.content.decode()
    assert "_auth_user_id" not in client.session


def test_sign_in_attempts_past_the_limit_get_429_with_retry_after(brand, make_staff, client, settings):
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "login": "3/m/ip"}
    make_staff(brand, "viewer")
    statuses = [
        client.post("/console/account/login/", {"login": "viewer@acme.test", "password": "wrong"}).status_code
        for _ in range(4)
    ]
    assert statuses == [200, 200, 200, 429]
    limited = client.post("/console/account/login/", {"login": "viewer@acme.test", "password": PASSWORD})
    assert limited.status_code == 429
    assert limited["Retry-After"] == "60"
    assert "Too many attempts" in limited.content.decode()
    assert "_auth_user_id" not in client.session


def test_sign_in_by_password_then_totp(brand, make_staff, client):
    from allauth.mfa.models import Authenticator
    from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value, yield_hotp_counters_from_time
    from allauth.mfa.utils import decrypt

    owner = make_staff(brand, "owner")
    response = client.post("/console/account/login/", {"login": "owner@acme.test", "password": PASSWORD})
    assert response["Location"] == "/console/account/2fa/authenticate/"
    assert client.get("/console/acme/").status_code == 302  # not signed in yet
    secret = decrypt(Authenticator.objects.get(user=owner, type="totp").data["secret"])
    code = format_hotp_value(hotp_value(secret, next(yield_hotp_counters_from_time())))
    done = client.post("/console/account/2fa/authenticate/", {"code": code})
    assert done["Location"] == "/console/"
    assert client.get("/console/acme/").status_code == 200


def test_console_pages_carry_a_strict_csp_and_no_store(brand, make_staff, signed_in, client):
    for response in (
        signed_in(make_staff(brand, "viewer")).get("/console/acme/"),
        client.get("/console/account/login/"),
    ):
        assert "script-src 'self';" in response["Content-Security-Policy"]
        assert "unsafe-inline" not in response["Content-Security-Policy"]
        assert response["Cache-Control"] == "no-store"
        assert not re.search(r"<script>|<style|style=", response.content.decode())


def test_the_staff_language_follows_their_choice_or_accept_language(brand, make_staff, signed_in):
    client = signed_in(make_staff(brand, "viewer"))
    german = client.get("/console/acme/", HTTP_ACCEPT_LANGUAGE="de")
    assert '<html lang="de">' in german.content.decode()
    chose = client.post(
        "/console/language/", {"action": "language", "language": "fr", "next": "/console/acme/"}
    )
    assert chose.status_code == 302
    assert '<html lang="fr">' in client.get("/console/acme/", HTTP_ACCEPT_LANGUAGE="de").content.decode()


def test_invitations_write_their_audit_rows(brand, make_staff):
    owner = make_staff(brand, "owner")
    mark = audit_mark()
    first = invite(brand, owner)
    second = invite(brand, owner)  # withdraws the first
    person = make_person("new@acme.test")
    invitation_accept(token=second.token, user=person)
    later = invite(brand, owner, email="later@acme.test", role="viewer")
    invitation_revoke(invitation=later.invitation, actor=TEST_ACTOR)
    invitation_revoke(invitation=later.invitation, actor=TEST_ACTOR)  # already withdrawn: no row

    def expiry(issued):
        return issued.invitation.expires_at.isoformat()

    one, two, three = (str(i.invitation.pk) for i in (first, second, later))
    created = {"email": "new@acme.test", "role": "editor"}
    assert audit_rows(brand, since_id=mark) == [
        (
            "system",
            "tests",
            "invitation.created",
            "invitation",
            one,
            None,
            created | {"expires_at": expiry(first)},
            "",
        ),
        ("system", "tests", "invitation.revoked", "invitation", one, created, None, ""),
        (
            "system",
            "tests",
            "invitation.created",
            "invitation",
            two,
            None,
            created | {"expires_at": expiry(second)},
            "",
        ),
        (
            "staff",
            person.get_username(),
            "membership.created",
            "user",
            str(person.pk),
            None,
            {"user": person.get_username(), "role": "editor"},
            "",
        ),
        (
            "system",
            "tests",
            "invitation.created",
            "invitation",
            three,
            None,
            {"email": "later@acme.test", "role": "viewer", "expires_at": expiry(later)},
            "",
        ),
        (
            "system",
            "tests",
            "invitation.revoked",
            "invitation",
            three,
            {"email": "later@acme.test", "role": "viewer"},
            None,
            "",
        ),
    ]
