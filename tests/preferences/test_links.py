"""Signed links: purpose-bound tokens, expiry per kind, tampering, key rotation, the 303 swap
for a session, the expired-link page, "email me a new link", rate limits, issue_link, and the
unsubscribe-headers API."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import time_machine
from django.core import mail, signing
from django.core.management import CommandError, call_command
from django.test import Client, override_settings

from consent.services import contact_upsert
from preferences.session import cookie_name
from preferences.tokens import (
    LinkKind,
    TokenExpired,
    TokenInvalid,
    fingerprint,
    link_path,
    token_issue,
    token_read,
)
from tests.preferences.conftest import counts
from tests.preferences.pages import assert_hosted_headers, link, open_centre

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(NOW, tick=False):
        yield


# --- Tokens ------------------------------------------------------------------------------------


def test_a_token_carries_brand_contact_kind_topic_channel_time_and_key_id(brand, contact, newsletter):
    token = token_issue(kind="unsubscribe", brand=brand, contact=contact, topic=newsletter, channel="sms")

    claims = token_read(token, kind="unsubscribe")

    assert (claims.kind, claims.brand_id, claims.contact_id, claims.topic_id, claims.channel) == (
        LinkKind.UNSUBSCRIBE,
        brand.pk,
        contact.pk,
        newsletter.pk,
        "sms",
    )
    assert claims.issued_at == NOW
    assert re.fullmatch(r"[A-Za-z0-9._-]+", token)  # URL-safe as it is
    assert len(token) < 90  # short enough for an email link


@pytest.mark.parametrize(
    ("issued_as", "read_as"),
    [
        ("manage", "unsubscribe"),
        ("unsubscribe", "manage"),
        ("confirm", "manage"),
        ("manage", "confirm"),
        ("unsubscribe", "confirm"),
        ("confirm", "unsubscribe"),
    ],
)
def test_a_token_of_one_kind_is_not_a_token_of_another(brand, contact, issued_as, read_as):
    token = token_issue(kind=issued_as, brand=brand, contact=contact)

    with pytest.raises(TokenInvalid):
        token_read(token, kind=read_as)


def test_a_token_is_django_signing_with_a_salt_per_kind(brand, contact, newsletter):
    token = token_issue(kind="unsubscribe", brand=brand, contact=contact, topic=newsletter, channel="email")

    signer = signing.TimestampSigner(salt="candor.link.unsubscribe", sep=".")
    assert signer.unsign_object(token) == [brand.pk, contact.pk, newsletter.pk, "email"]
    with pytest.raises(signing.BadSignature):
        signing.TimestampSigner(salt="candor.link.manage", sep=".").unsign_object(token)
    manage = token_issue(kind="manage", brand=brand, contact=contact)
    assert signing.TimestampSigner(salt="candor.link.manage", sep=".").unsign_object(manage) == [
        brand.pk,
        contact.pk,
    ]


def test_the_same_payload_signed_for_another_purpose_is_refused(brand, contact):
    payload = [brand.pk, contact.pk]
    for other in (
        signing.TimestampSigner(salt="candor.link.confirm", sep=".").sign_object(payload),
        signing.TimestampSigner(sep=".").sign_object(payload),  # Django's default salt
        signing.dumps(payload, salt="candor.link.manage"),  # the right salt, not our separator
    ):
        with pytest.raises(TokenInvalid):
            token_read(other, kind="manage")


def _retimed(token: str, issued: datetime) -> str:
    payload, _, signature = token.split(".")
    return f"{payload}.{signing.b62_encode(int(issued.timestamp()))}.{signature}"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda token: signing.b64_encode(b'[1,1,null,"sms"]').decode() + token[token.index(".") :],
        lambda token: _retimed(token, NOW + timedelta(seconds=1)),
        lambda token: token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
        lambda token: token + "x",
        lambda token: token.replace(".", ":"),
    ],
    ids=["payload", "issued", "signature", "appended", "separator"],
)
def test_changing_any_part_breaks_it(brand, contact, newsletter, tamper):
    token = token_issue(kind="unsubscribe", brand=brand, contact=contact, topic=newsletter, channel="email")

    with pytest.raises(TokenInvalid):
        token_read(tamper(token), kind="unsubscribe")


NON_ASCII = ["é", "1.4m__1Oé.m.3.ya...tnth20.8dfEoBlHgE9RxwQH6ukNqA", "WzMsMTIzNF0.1Dxé.abc", "Ａ" * 10]


JUNK = ["", "x", "1.2.3", "." * 8, "a" * 500, "1.abc.m.1.1...1.zz", "a.b.c"]


@pytest.mark.parametrize("junk", JUNK + NON_ASCII)
def test_junk_is_invalid(junk):
    with pytest.raises(TokenInvalid):
        token_read(junk, kind="manage")


@pytest.mark.parametrize(
    ("kind", "still_valid", "expired"),
    [
        ("manage", timedelta(days=30), timedelta(days=30, seconds=1)),
        ("unsubscribe", timedelta(days=180), timedelta(days=180, seconds=1)),
        ("confirm", timedelta(hours=72), timedelta(hours=72, seconds=1)),
    ],
)
def test_each_kind_expires_after_its_own_lifetime(brand, contact, kind, still_valid, expired):
    token = token_issue(kind=kind, brand=brand, contact=contact)

    assert token_read(token, kind=kind, now=NOW + still_valid).contact_id == contact.pk
    with pytest.raises(TokenExpired) as caught:
        token_read(token, kind=kind, now=NOW + expired)
    assert caught.value.token.contact_id == contact.pk  # authentic, so the page may say who


@override_settings(LINK_MANAGE_DAYS=7, LINK_UNSUBSCRIBE_DAYS=90)
def test_lifetimes_come_from_settings(brand, contact):
    manage = token_issue(kind="manage", brand=brand, contact=contact)
    unsubscribe = token_issue(kind="unsubscribe", brand=brand, contact=contact)

    with pytest.raises(TokenExpired):
        token_read(manage, kind="manage", now=NOW + timedelta(days=7, seconds=1))
    token_read(unsubscribe, kind="unsubscribe", now=NOW + timedelta(days=90))
    with pytest.raises(TokenExpired):
        token_read(unsubscribe, kind="unsubscribe", now=NOW + timedelta(days=90, seconds=1))


def test_the_unsubscribe_lifetime_cannot_be_set_below_90_days(monkeypatch):
    from django.core.exceptions import ImproperlyConfigured

    from config.env import env_int

    monkeypatch.setenv("LINK_UNSUBSCRIBE_DAYS", "60")
    with pytest.raises(ImproperlyConfigured):
        env_int("LINK_UNSUBSCRIBE_DAYS", 180, minimum=90)


def test_a_token_from_the_future_is_invalid(brand, contact):
    token = token_issue(kind="manage", brand=brand, contact=contact, now=NOW + timedelta(hours=1))

    with pytest.raises(TokenInvalid):
        token_read(token, kind="manage")


def test_rotation_a_token_signed_under_a_fallback_key_still_works(brand, contact, settings):
    settings.SECRET_KEY = "old-secret-" + "x" * 40
    token = token_issue(kind="manage", brand=brand, contact=contact)

    settings.SECRET_KEY = "new-secret-" + "y" * 40
    settings.SECRET_KEY_FALLBACKS = ["old-secret-" + "x" * 40]
    assert token_read(token, kind="manage").contact_id == contact.pk
    assert token_read(token_issue(kind="manage", brand=brand, contact=contact), kind="manage")

    settings.SECRET_KEY_FALLBACKS = []  # the old secret retired: its links stop working
    with pytest.raises(TokenInvalid):
        token_read(token, kind="manage")


def test_rotation_through_the_landing_page(client, brand, contact, settings):
    settings.SECRET_KEY = "old-secret-" + "x" * 40
    url = link("manage", brand, contact)
    settings.SECRET_KEY = "new-secret-" + "y" * 40
    settings.SECRET_KEY_FALLBACKS = ["old-secret-" + "x" * 40]

    response = client.get(url)

    assert response.status_code == 303
    assert client.get("/p/acme/").status_code == 200  # the session survives too


def test_fingerprint_is_short_and_not_the_token(brand, contact):
    token = token_issue(kind="manage", brand=brand, contact=contact)

    assert len(fingerprint(token)) == 12
    assert fingerprint(token) not in token


# --- The landing page: swap for a session ------------------------------------------------------


def test_a_manage_link_is_swapped_for_a_session_and_a_303_to_a_url_without_the_token(client, brand, contact):
    url = link("manage", brand, contact)
    token = url.rsplit("/", 1)[1]

    response = client.get(url)

    assert response.status_code == 303
    assert response["Location"] == "/p/acme/"
    assert token not in response["Location"]
    cookie = response.cookies[cookie_name()]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert cookie["secure"] is True  # tests run with DEBUG off, as production does
    assert cookie["path"] == "/"
    assert int(cookie["max-age"]) == 3600
    assert_hosted_headers(response)
    page = client.get("/p/acme/")
    assert page.status_code == 200
    assert b"Ada@Example.com".lower() in page.content.lower()


def test_the_session_lapses_after_an_idle_hour(client, brand, contact):
    open_centre(client, brand, contact)

    with time_machine.travel(NOW + timedelta(minutes=59), tick=False):
        assert b"Your preferences" in client.get("/p/acme/").content  # and this refreshes it
    with time_machine.travel(NOW + timedelta(minutes=59 + 61), tick=False):
        response = client.get("/p/acme/")
    assert response.status_code == 200
    assert b"Open your preferences" in response.content
    assert b"Email me a new link" in response.content


def test_the_cookie_is_reissued_only_when_it_ages_or_what_it_carries_changes(
    client, brand, contact, newsletter
):
    open_centre(client, brand, contact)  # at NOW

    with time_machine.travel(NOW + timedelta(minutes=4), tick=False):
        assert cookie_name() not in client.get("/p/acme/").cookies  # fresh: nothing to re-sign
        changed = client.post("/p/acme/unsubscribe-all/email")  # the undo list changes
    with time_machine.travel(NOW + timedelta(minutes=9), tick=False):
        aged = client.get("/p/acme/")

    assert changed.status_code == 303
    assert changed.cookies[cookie_name()].value
    assert int(aged.cookies[cookie_name()]["max-age"]) == 3600


def test_a_session_of_one_brand_does_not_open_another(client, brand, other_brand, contact):
    open_centre(client, brand, contact)

    response = client.get("/p/outsider/")

    assert b"Open your preferences" in response.content


def test_a_tampered_session_cookie_is_no_session(client, brand, contact):
    open_centre(client, brand, contact)
    client.cookies[cookie_name()] = client.cookies[cookie_name()].value.replace("e", "f", 1)

    assert b"Open your preferences" in client.get("/p/acme/").content


@pytest.mark.parametrize("kind", ["unsubscribe", "confirm"])
def test_other_kinds_do_not_open_the_centre(client, brand, contact, kind):
    token = token_issue(kind=kind, brand=brand, contact=contact)

    response = client.get(link_path(kind="manage", brand=brand, token=token))

    assert response.status_code == 404
    assert cookie_name() not in response.cookies


def test_a_manage_token_is_not_an_unsubscribe_token(client, brand, contact):
    token = token_issue(kind="manage", brand=brand, contact=contact)

    assert client.get(link_path(kind="unsubscribe", brand=brand, token=token)).status_code == 404
    assert (
        client.post(
            link_path(kind="unsubscribe", brand=brand, token=token), {"List-Unsubscribe": "One-Click"}
        ).status_code
        == 404
    )


def test_forged_tampered_and_foreign_tokens_get_the_same_404_as_an_unknown_url(
    client, brand, other_brand, contact
):
    unknown = client.get("/p/acme/no-such-page")
    good = link("manage", brand, contact).rsplit("/", 1)[1]
    outsider, _ = contact_upsert(brand=other_brand, external_id="cust-1")
    foreign = token_issue(kind="manage", brand=other_brand, contact=outsider)

    for token in ["forged", good[:-2] + ("AA" if not good.endswith("AA") else "BB"), good + "x", foreign]:
        response = client.get(f"/p/acme/t/{token}")
        assert response.status_code == 404
        assert response.content == unknown.content
        assert cookie_name() not in response.cookies
    assert unknown.status_code == 404
    assert_hosted_headers(unknown)


@pytest.mark.parametrize("token", NON_ASCII)
@pytest.mark.parametrize("kind", ["t", "u", "c"])
def test_non_ascii_tokens_get_the_same_404_as_an_unknown_url(client, brand, contact, kind, token):
    unknown = client.get("/p/acme/no-such-page")

    responses = [client.get(f"/p/acme/{kind}/{token}"), client.post(f"/p/acme/{kind}/{token}")]
    if kind == "u":
        responses.append(client.post(f"/p/acme/u/{token}", {"List-Unsubscribe": "One-Click"}))

    for response in responses:
        assert response.status_code == 404
        assert response.content == unknown.content


# Percent-encoded as a browser or a fuzzer sends them: accented, zero-width, fullwidth, emoji, a
# lone surrogate and bytes that are no UTF-8 at all, NUL, whitespace, dots, and far too long.
ODD_TOKENS = [
    "%C3%A9",
    "WzMsMTIzNF0.1Dx%C3%A9.abc",
    "1.4m__1O%C3%A9.m.3.ya...tnth20.8dfEoBlHgE9RxwQH6ukNqA",
    "%E2%80%8B",
    "%EF%BC%A1%EF%BC%A1",
    "%F0%9F%98%80",
    "%ED%A0%80",
    "%FF%FE",
    "a%00b",
    "%20",
    "%0A",
    "..",
    "x" * 300,
    "%C3%A9" * 150,
]


@pytest.mark.parametrize("token", ODD_TOKENS)
@pytest.mark.parametrize("kind", ["t", "u", "c"])
def test_odd_tokens_get_the_same_answer_as_an_unknown_link_on_every_method(
    client, brand, contact, kind, token
):
    client.raise_request_exception = False  # a 500 must show as a status, not stop the test
    unknown = client.get("/p/acme/no-such-page")
    url = f"/p/acme/{kind}/{token}"

    for method in ("get", "post", "head"):
        response = getattr(client, method)(url)
        assert (method, response.status_code) == (method, 404)
        assert response.content == (b"" if method == "head" else unknown.content)
    if kind == "u":
        one_click = client.post(url, {"List-Unsubscribe": "One-Click"})
        assert (one_click.status_code, one_click.content) == (404, unknown.content)
    for method in ("put", "patch", "delete", "options"):
        assert getattr(client, method)(url).status_code == 405  # as for a good token


def test_an_erased_contacts_links_lead_nowhere(client, brand, contact):
    url = link("manage", brand, contact)
    type(contact).objects.filter(pk=contact.pk).update(erased_at=NOW)

    assert client.get(url).status_code == 404


def test_an_unknown_brand_is_a_404(client, brand, contact):
    token = token_issue(kind="manage", brand=brand, contact=contact)

    assert client.get(f"/p/nobody/t/{token}").status_code == 404


def test_following_links_writes_nothing(client, brand, contact, topics):
    before = counts()

    client.get(link("manage", brand, contact))
    client.get("/p/acme/")
    client.head(link("manage", brand, contact))
    client.get(link("unsubscribe", brand, contact, topics[0], "email"))

    assert counts() == before


# --- Expired manage links and "email me a new link" ----------------------------------------------


def test_an_expired_manage_link_offers_a_new_link_and_no_session(client, brand, contact):
    url = link("manage", brand, contact)

    with time_machine.travel(NOW + timedelta(days=31), tick=False):
        response = client.get(url)

    assert response.status_code == 410
    assert cookie_name() not in response.cookies
    html = response.content.decode()
    assert "This link has expired" in html
    assert 'action="/p/acme/link"' in html
    assert 'type="email"' in html
    assert 'autocomplete="email"' in html
    assert "Unsubscribe from all emails" in html  # stopping never needs a fresh link


def test_an_expired_manage_link_still_stops_all_emails_with_a_post(client, brand, contact, newsletter):
    url = link("manage", brand, contact)

    with time_machine.travel(NOW + timedelta(days=31), tick=False):
        response = client.post(url, {"action": "unsubscribe_all"})

    assert response.status_code == 200
    assert b"unsubscribed" in response.content
    assert contact.channel_opt_outs.get(channel="email").opted_out is True


def _ask(client, email):
    return client.post("/p/acme/link", {"email": email})


def test_email_me_a_new_link_answers_identically_for_known_and_unknown_addresses(client, brand, contact):
    known = _ask(client, "ADA@example.com ")
    sent = list(mail.outbox)
    unknown = _ask(client, "nobody@example.com")

    assert known.status_code == unknown.status_code == 202
    assert known.content == unknown.content
    assert dict(known.headers) == dict(unknown.headers)
    assert known.cookies.keys() == unknown.cookies.keys() == set()
    assert len(sent) == 1
    assert len(mail.outbox) == 1
    message = sent[0]
    assert message.to == ["ada@example.com"]
    assert "Demo" not in message.subject
    assert "Acme Ltd" in message.subject
    html = message.alternatives[0][0]
    urls = re.findall(r"http://127\.0\.0\.1:8000(/p/acme/t/[A-Za-z0-9._-]+)", message.body)
    assert len(urls) == 1
    assert urls[0] in html
    for template in ("emails/new_link_subject.txt", "emails/new_link_message.txt"):
        assert template  # the triplet exists (rendered above)

    fresh = Client()
    assert fresh.get(urls[0]).status_code == 303  # the link in the email works
    assert fresh.get("/p/acme/").status_code == 200


def test_the_new_link_is_sent_only_after_the_response(client, brand, contact, monkeypatch):
    """The reply does not wait for the mail, so its timing cannot tell known from unknown."""
    from django.test import RequestFactory

    from preferences import views

    request = RequestFactory().post("/p/acme/link", {"email": "ada@example.com"})
    request._dont_enforce_csrf_checks = True
    response = views.link_request(request, "acme")
    assert response.status_code == 202
    assert mail.outbox == []
    response.close()  # what the WSGI server does once the body is sent
    assert [m.to for m in mail.outbox] == [["ada@example.com"]]


def test_the_new_link_email_speaks_the_contacts_language(client, brand, contact):
    contact_upsert(brand=brand, external_id="cust-1", locale="de")

    _ask(client, "ada@example.com")

    assert "Ihr Link" in mail.outbox[0].subject
    assert "Tage" in mail.outbox[0].body


def test_an_invalid_address_is_refused_with_an_error_summary(client, brand):
    response = _ask(client, "not an address")

    assert response.status_code == 422
    html = response.content.decode()
    assert 'class="error-summary"' in html
    assert 'href="#id_email"' in html
    assert 'aria-invalid="true"' in html
    assert 'aria-describedby="id_email-hint id_email-error"' in html
    assert mail.outbox == []


def test_link_requests_are_limited_per_address(client, brand, contact):
    for _ in range(3):
        assert _ask(client, "ada@example.com").status_code == 202

    limited = _ask(client, "Ada@Example.com")
    other = _ask(client, "nobody@example.com")

    assert limited.status_code == 429
    assert 1 <= int(limited["Retry-After"]) <= 3600
    assert len(mail.outbox) == 3
    assert other.status_code == 202
    unknown_limited = [_ask(client, "nobody@example.com").status_code for _ in range(3)]
    assert unknown_limited == [202, 202, 429]  # the same rule whether known or not


def test_bad_tokens_are_limited_per_ip(client, brand, contact):
    for _ in range(10):
        assert client.get("/p/acme/t/forged").status_code == 404

    limited = client.get("/p/acme/t/forged")
    one_click = client.post("/p/acme/u/forged", {"List-Unsubscribe": "One-Click"})
    unsubscribe_page = client.get("/p/acme/u/forged")

    assert limited.status_code == one_click.status_code == unsubscribe_page.status_code == 429
    assert 1 <= int(limited["Retry-After"]) <= 60
    assert one_click["Content-Type"] == "text/plain; charset=utf-8"
    assert_hosted_headers(limited)
    with time_machine.travel(NOW + timedelta(minutes=1), tick=False):
        assert client.get("/p/acme/t/forged").status_code == 404


# --- issue_link -------------------------------------------------------------------------------


def test_issue_link_prints_a_working_manage_url_alone_on_the_last_line(client, brand, contact):
    out = StringIO()
    call_command("issue_link", "--brand", "acme", "--contact", "cust-1", "--kind", "manage", stdout=out)

    last = out.getvalue().strip().splitlines()[-1]
    assert re.fullmatch(r"http://127\.0\.0\.1:8000/p/acme/t/[A-Za-z0-9._-]+", last)
    assert client.get(last.removeprefix("http://127.0.0.1:8000")).status_code == 303


def test_issue_link_prints_an_unsubscribe_url_for_a_topic(client, brand, contact, newsletter):
    out = StringIO()
    call_command(
        "issue_link", "--brand", "acme", "--contact", "cust-1", "--kind", "unsubscribe",
        "--topic", "newsletter", "--channel", "sms", stdout=out,
    )  # fmt: skip

    last = out.getvalue().strip().splitlines()[-1]
    claims = token_read(last.rsplit("/", 1)[1], kind="unsubscribe")
    assert (claims.topic_id, claims.channel) == (newsletter.pk, "sms")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--brand", "nope", "--contact", "cust-1", "--kind", "manage"], "No brand"),
        (["--brand", "acme", "--contact", "nobody", "--kind", "manage"], "No contact"),
        (["--brand", "acme", "--contact", "cust-1", "--kind", "unsubscribe", "--topic", "nope"], "No topic"),
        (
            ["--brand", "acme", "--contact", "cust-1", "--kind", "unsubscribe", "--topic", "orders"],
            "transactional",
        ),
        (
            ["--brand", "acme", "--contact", "cust-1", "--kind", "manage", "--topic", "newsletter"],
            "only with",
        ),
    ],
)
def test_issue_link_refuses_what_does_not_exist(brand, contact, topics, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("issue_link", *args, stdout=StringIO())


# --- The unsubscribe-headers API ---------------------------------------------------------------

HEADERS_URL = "/api/v1/contacts/{}/unsubscribe-headers"


def test_unsubscribe_headers_give_one_https_uri_and_the_one_click_post(pref_api, client, contact, newsletter):
    response = pref_api.get(HEADERS_URL.format("cust-1"), {"topic": "newsletter"})

    assert response.status_code == 200
    body = response.json()
    assert body["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    match = re.fullmatch(r"<http://127\.0\.0\.1:8000(/p/acme/u/([A-Za-z0-9._-]+))>", body["List-Unsubscribe"])
    assert match
    claims = token_read(match.group(2), kind="unsubscribe")
    assert (claims.contact_id, claims.topic_id, claims.channel) == (contact.pk, newsletter.pk, "email")
    assert client.post(match.group(1), {"List-Unsubscribe": "One-Click"}).status_code == 200


def test_unsubscribe_headers_for_a_channel_without_a_topic(pref_api, contact, newsletter):
    body = pref_api.get(HEADERS_URL.format("cust-1"), {"channel": "sms"}).json()

    token = body["List-Unsubscribe"].strip("<>").rsplit("/", 1)[1]
    claims = token_read(token, kind="unsubscribe")
    assert (claims.topic_id, claims.channel) == (None, "sms")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"topic": "nope"}, "topic"),
        ({"topic": "orders"}, "topic"),
        ({"topic": "offers", "channel": "sms"}, "channel"),
        ({"channel": "pigeon"}, "channel"),
    ],
)
def test_unsubscribe_headers_refuse_unknown_topics_and_channels(pref_api, contact, topics, params, field):
    response = pref_api.get(HEADERS_URL.format("cust-1"), params)

    assert response.status_code == 422
    assert list(response.json()["errors"]) == [field]


def test_unsubscribe_headers_need_the_scope_and_the_brands_own_contact(
    make_client, brand, outsider_pref_api, contact, newsletter
):
    consent_only = make_client(brand, ["consent:read"])

    assert consent_only.get(HEADERS_URL.format("cust-1")).status_code == 403
    assert outsider_pref_api.get(HEADERS_URL.format("cust-1")).status_code == 404


def test_tokens_never_reach_the_logs(client, brand, contact, caplog):
    good = link("manage", brand, contact).rsplit("/", 1)[1]
    forged = good[:-4] + "AAAA"

    with caplog.at_level("INFO"):
        client.get(f"/p/acme/t/{forged}")
        client.post(f"/p/acme/u/{forged}", {"List-Unsubscribe": "One-Click"})

    assert caplog.records  # the refusals and the 404s were logged …
    assert forged not in caplog.text  # … by fingerprint only
    assert fingerprint(forged) in caplog.text
