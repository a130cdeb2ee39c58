"""Joining a brand and signing in, in Chromium: an owner (with their second factor) invites an
editor and a support agent from the Members page; each accepts from the link in the email they
get and signs up; the editor enrols an authenticator app (the code computed per RFC 6238 from
the secret the page shows) and signs in with it. axe checks allauth's pages on the way, and in
English, German and French the ones a new member meets: sign-up by invitation, the
authenticator's enrolment, sign-in by emailed code and the password reset request."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import struct
import time

import pytest
from allauth.mfa.models import Authenticator
from django.core import mail
from playwright.sync_api import expect

from brands.demo import demo_owner_ensure
from brands.models import Membership
from brands.services import invitation_create
from tests.actors import TEST_ACTOR
from tests.console.conftest import PASSWORD
from tests.e2e.test_accessibility import axe_report

pytestmark = pytest.mark.e2e

PERIOD = 30


def totp(secret: str, *, counter: int | None = None) -> str:
    """RFC 6238 with its defaults (HMAC-SHA1, 30-second steps, 6 digits), as an authenticator
    app computes it from the base32 secret."""
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    step = int(time.time()) // PERIOD if counter is None else counter
    digest = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = (struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF) % 1_000_000
    return f"{value:06d}"


# allauth accepts a code only in its own step (no tolerance), so a code typed in a step's last
# seconds can reach the server in the next one and be refused: a slow machine's flake.
STEP_LEFT = 5


def fresh_code(secret: str, used: set[str] | None = None) -> str:
    """A code not used before (allauth takes each code once) with time left in its step to be
    typed and sent: else wait for the next step."""
    used = set() if used is None else used
    code = totp(secret)
    while code in used or PERIOD - time.time() % PERIOD < STEP_LEFT:
        time.sleep(PERIOD - time.time() % PERIOD + 0.2)
        code = totp(secret)
    used.add(code)
    return code


def accessible(page) -> None:
    report = axe_report(page)
    assert not report, f"{page.url}\n{report}"


def sign_in(
    page,
    server: str,
    email: str,
    *,
    password: str = PASSWORD,
    secret: str | None = None,
    used: set[str] | None = None,
) -> None:
    """The password, then (for someone with an authenticator) a code from it."""
    page.goto(server + "/console/account/login/")
    page.locator("#id_login").fill(email)
    page.locator("#id_password").fill(password)
    page.locator("#id_password").press("Enter")
    if secret is not None:
        page.wait_for_url("**/console/account/2fa/authenticate/")
        accessible(page)
        page.locator("#id_code").fill(fresh_code(secret, used))
        page.locator("#id_code").press("Enter")
    page.wait_for_url(re.compile(r".*/console/[a-z0-9-]+/$"))


def sign_out(page) -> None:
    """The header's sign-out button, and the page it leads to."""
    with page.expect_navigation():
        page.locator("form.sign-out button").click()
    page.wait_for_load_state()


def open_totp_enrolment(page, server: str) -> None:
    """The authenticator's enrolment page. allauth asks for the password again first when the
    session's sign-in is not a recent password or code (a sign-up is neither)."""
    page.goto(server + "/console/account/2fa/totp/activate/")
    if "/reauthenticate/" in page.url:
        accessible(page)
        page.locator("#id_password").fill(PASSWORD)
        page.locator("#id_password").press("Enter")
        page.wait_for_url("**/console/account/2fa/totp/activate/")


def invitation_link(address: str) -> str:
    [message] = [m for m in mail.outbox if m.to == [address]]
    [link] = re.findall(r"https?://\S+/console/invitations/[^/\s]+/", message.body)
    return link


def join(page, link: str, email: str) -> None:
    """Follow an invitation link as a newcomer: sign up for the invited address, accept."""
    page.goto(link)
    page.wait_for_url("**/console/account/signup/**")
    accessible(page)
    page.locator("#id_email").fill(email)
    page.locator("#id_password1").fill(PASSWORD)
    page.locator("#id_password2").fill(PASSWORD)
    page.locator("#id_password2").press("Enter")
    page.wait_for_url("**/console/invitations/**")
    accessible(page)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(re.compile(r".*/console/demo/$"))


def test_an_owner_invites_an_editor_and_support_who_join_and_the_editor_signs_in_with_totp(
    new_page, server, demo
):
    used: set[str] = set()
    demo_owner = demo_owner_ensure(brand=demo)  # the owner `make run` prints
    owner = new_page()
    sign_in(
        owner,
        server,
        demo_owner.email,
        password=demo_owner.password,
        secret=demo_owner.totp_secret,
        used=used,
    )
    owner.goto(server + "/console/demo/members/")
    for address, role in (("editor@demo.example", "editor"), ("support@demo.example", "support")):
        owner.locator("#invite-email").fill(address)
        owner.locator("#invite-role").select_option(role)
        owner.get_by_role("button", name="Send invitation").click()
        expect(owner.locator("#invitations-title + table")).to_contain_text(address)
    accessible(owner)
    assert sorted(demo.invitations.values_list("email", "role")) == [
        ("editor@demo.example", "editor"),
        ("support@demo.example", "support"),
    ]

    editor = new_page()
    join(editor, invitation_link("editor@demo.example"), "editor@demo.example")
    support = new_page()
    join(support, invitation_link("support@demo.example"), "support@demo.example")
    assert sorted(Membership.objects.filter(brand=demo).values_list("user__email", "role")) == [
        ("editor@demo.example", "editor"),
        ("owner@demo.example", "owner"),
        ("support@demo.example", "support"),
    ]
    # Support sees the overview, and the owners' pages are refused.
    assert support.goto(server + "/console/demo/api-keys/").status == 403

    # The editor enrols an authenticator app from the secret the page shows.
    open_totp_enrolment(editor, server)
    accessible(editor)
    secret = editor.locator("#authenticator_secret").input_value()
    editor.locator("#id_code").fill(fresh_code(secret, used))
    editor.locator("#id_code").press("Enter")
    editor.wait_for_url(lambda url: "/totp/activate/" not in url)
    accessible(editor)
    assert Authenticator.objects.filter(user__email="editor@demo.example", type="totp").count() == 1

    # Signed out, they sign in again: the password, then a code from the app.
    sign_out(editor)
    sign_in(editor, server, "editor@demo.example", secret=secret, used=used)
    assert editor.url == server + "/console/demo/"
    expect(editor.locator("nav a[href='/console/demo/members/']")).to_have_count(0)


@pytest.mark.parametrize("language", ["en", "de", "fr"])
def test_a_newcomers_sign_in_pages_pass_axe(new_page, server, demo, language):
    demo_owner_ensure(brand=demo)
    address = f"new-{language}@demo.example"
    issued = invitation_create(
        brand=demo,
        email=address,
        role="viewer",
        invited_by=Membership.objects.get(brand=demo, role="owner").user,
        url_builder=lambda token: f"{server}/console/invitations/{token}/",
        actor=TEST_ACTOR,
    )
    page = new_page()
    page.context.add_cookies([{"name": "django_language", "value": language, "url": server}])

    join(page, f"{server}/console/invitations/{issued.token}/", address)  # axe on sign-up
    assert page.evaluate("document.documentElement.lang") == language
    open_totp_enrolment(page, server)
    assert page.evaluate("document.documentElement.lang") == language
    accessible(page)

    sign_out(page)
    page.goto(server + "/console/account/password/reset/")
    assert page.evaluate("document.documentElement.lang") == language
    accessible(page)

    page.goto(server + "/console/account/login/code/")
    assert page.evaluate("document.documentElement.lang") == language
    accessible(page)
    mail.outbox.clear()
    page.locator("#id_email").fill(address)
    page.locator("#id_email").press("Enter")
    page.wait_for_url("**/console/account/login/code/confirm/")
    accessible(page)
    [message] = mail.outbox
    [code] = re.findall(r"^\s*([A-Z0-9]{3,}(?:-[A-Z0-9]{3,})?)\s*$", message.body, re.M)
    page.locator("#id_code").fill(code)
    page.locator("#id_code").press("Enter")
    page.wait_for_url(server + "/console/demo/")
