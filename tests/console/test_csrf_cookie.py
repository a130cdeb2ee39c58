"""The CSRF cookie behind the console's forms (config.csrf): sent with the first page that needs
it, not again while the browser holds it, and anew when signing in changes the secret. Every
page's fields carry the cookie's secret and are accepted where CSRF is checked."""

from __future__ import annotations

import re
from http.cookies import SimpleCookie

from django.http import HttpResponse
from django.middleware.csrf import _unmask_cipher_token
from django.test import Client

from tests.console.conftest import PASSWORD

FIELD = re.compile(r'<input type="hidden" name="csrfmiddlewaretoken" value="(\w+)">')


def cookie_sent(response: HttpResponse) -> str | None:
    """The CSRF cookie's value if this response sets it."""
    morsel = response.cookies.get("csrftoken")
    return morsel.value if morsel is not None else None


def test_the_cookie_goes_with_the_first_page_only_and_the_fields_keep_working(
    brand, make_staff, signed_in, topics
):
    owner = signed_in(make_staff(brand, "owner"))

    first = owner.get("/console/acme/audit/")
    later = [owner.get(path) for path in ("/console/acme/audit/", "/console/acme/", "/console/acme/topics/")]

    secret = cookie_sent(first)
    assert secret is not None
    assert len(secret) == 32
    assert [(r.status_code, cookie_sent(r)) for r in later] == [(200, None)] * 3
    tokens = [token for response in later for token in FIELD.findall(response.content.decode())]
    assert len(set(tokens)) == 3  # a new mask for each page
    assert {_unmask_cipher_token(token) for token in tokens} == {secret}
    checked = Client(enforce_csrf_checks=True)
    checked.cookies = owner.cookies
    accepted = checked.post(
        "/console/language/",
        {"action": "language", "language": "fr", "next": "/console/acme/", "csrfmiddlewaretoken": tokens[-1]},
    )
    assert accepted.status_code == 302
    unsigned = {"action": "language", "language": "fr", "next": "/console/acme/"}
    refused = checked.post("/console/language/", unsigned)
    assert refused.status_code == 403


def test_a_lapsed_or_unusable_cookie_is_replaced_with_the_next_page(brand, make_staff, signed_in, topics):
    owner = signed_in(make_staff(brand, "owner"))
    kept = cookie_sent(owner.get("/console/acme/audit/"))

    def replaced() -> None:
        response = owner.get("/console/acme/audit/")
        secret = cookie_sent(response)
        assert secret is not None
        assert len(secret) == 32
        assert secret != kept
        assert {_unmask_cipher_token(t) for t in FIELD.findall(response.content.decode())} == {secret}

    del owner.cookies["csrftoken"]  # the browser let it lapse
    replaced()
    owner.cookies = SimpleCookie({"sessionid": owner.cookies["sessionid"].value, "csrftoken": "!" * 32})
    replaced()


def test_signing_in_sends_a_new_secret(brand, make_staff):
    make_staff(brand, "viewer")
    client = Client()
    before = cookie_sent(client.get("/console/account/login/"))

    signed = client.post("/console/account/login/", {"login": "viewer@acme.test", "password": PASSWORD})

    after = cookie_sent(signed)
    assert signed.status_code == 302
    assert before is not None
    assert after not in {None, before}
    page = client.get("/console/acme/")
    assert cookie_sent(page) is None
    assert {_unmask_cipher_token(t) for t in FIELD.findall(page.content.decode())} == {after}
