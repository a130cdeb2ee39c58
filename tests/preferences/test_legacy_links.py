"""Links in the old home-made token format (`1.<kid>.<kind>.…`, issued until December 2026) still
work until they expire. Delete this file with `_legacy_read` in preferences/tokens.py."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings

from preferences.one_click import one_click_apply_pending
from preferences.services import SubscriptionChange, preferences_update
from preferences.session import cookie_name
from preferences.tokens import LinkKind, TokenExpired, TokenInvalid, link_path, token_read
from tests.preferences.conftest import stored

# Issued by the old preferences/tokens.py itself (commit 914fc13) under FIXTURE_SECRET for
# brand 3, contact 1234, topic 7 at ISSUED.
FIXTURE_SECRET = "legacy-fixture-secret-" + "k" * 40
ISSUED = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)
FIXTURES = {
    "manage": ("1.4m__1OEw.m.3.ya...tnth20.8dfEoBlHgE9RxwQH6ukNqA", None, None),
    "unsubscribe": ("1.4m__1OEw.u.3.ya.7.email.tnth20.-RJH2eLYcyy5USuUEbHKfA", 7, "email"),
    "confirm": ("1.4m__1OEw.c.3.ya.7.sms.tnth20.OxGqGYAFQgfywvOLMIt0fQ", 7, "sms"),
}
NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def _b36(value: int) -> str:
    out = ""
    while True:
        value, rest = divmod(value, 36)
        out = "0123456789abcdefghijklmnopqrstuvwxyz"[rest] + out
        if not value:
            return out


def legacy_token(
    kind: str,
    brand_id: int,
    contact_id: int,
    topic_id: int | None = None,
    channel: str | None = None,
    *,
    issued: datetime,
    secret: str | None = None,
) -> str:
    """The old issuer, written out independently of the reader under test."""
    secret = secret or settings.SECRET_KEY
    kid = base64.urlsafe_b64encode(
        hmac.new(secret.encode(), b"candor.link-kid", hashlib.sha256).digest()[:6]
    ).decode()
    fields = [
        "1",
        kid,
        kind[0],
        _b36(brand_id),
        _b36(contact_id),
        _b36(topic_id) if topic_id is not None else "",
        channel or "",
        _b36(int(issued.timestamp())),
    ]
    payload = ".".join(fields)
    key = hmac.new(secret.encode(), f"candor.link.{kind}".encode(), hashlib.sha256).digest()
    mac = base64.urlsafe_b64encode(hmac.new(key, payload.encode(), hashlib.sha256).digest()[:16])
    return f"{payload}.{mac.decode().rstrip('=')}"


# --- The reader ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", FIXTURES)
def test_the_helper_issues_exactly_what_the_old_code_issued(kind):
    token, topic, channel = FIXTURES[kind]

    assert legacy_token(kind, 3, 1234, topic, channel, issued=ISSUED, secret=FIXTURE_SECRET) == token


@pytest.mark.parametrize("kind", FIXTURES)
def test_an_old_token_reads_as_it_did(settings, kind):
    settings.SECRET_KEY = FIXTURE_SECRET
    token, topic, channel = FIXTURES[kind]

    claims = token_read(token, kind=kind, now=ISSUED + timedelta(hours=1))

    assert (claims.kind, claims.brand_id, claims.contact_id, claims.topic_id, claims.channel) == (
        LinkKind(kind),
        3,
        1234,
        topic,
        channel,
    )
    assert claims.issued_at == ISSUED


@pytest.mark.parametrize(
    ("kind", "still_valid", "expired"),
    [
        ("manage", timedelta(days=30), timedelta(days=30, seconds=1)),
        ("unsubscribe", timedelta(days=180), timedelta(days=180, seconds=1)),
        ("confirm", timedelta(hours=72), timedelta(hours=72, seconds=1)),
    ],
)
def test_an_old_token_expires_as_it_did(settings, kind, still_valid, expired):
    settings.SECRET_KEY = FIXTURE_SECRET
    token = FIXTURES[kind][0]

    assert token_read(token, kind=kind, now=ISSUED + still_valid).contact_id == 1234
    with pytest.raises(TokenExpired) as caught:
        token_read(token, kind=kind, now=ISSUED + expired)
    assert caught.value.token.contact_id == 1234


@pytest.mark.parametrize(("issued_as", "read_as"), [("manage", "unsubscribe"), ("unsubscribe", "confirm")])
def test_an_old_token_of_one_kind_is_not_a_token_of_another(settings, issued_as, read_as):
    settings.SECRET_KEY = FIXTURE_SECRET
    token = FIXTURES[issued_as][0]
    relabelled = token.replace(f".{issued_as[0]}.", f".{read_as[0]}.", 1)

    for candidate in (token, relabelled):
        with pytest.raises(TokenInvalid):
            token_read(candidate, kind=read_as, now=ISSUED)


@pytest.mark.parametrize("position", [1, 3, 4, 5, 6, 7, 8])
def test_changing_any_part_of_an_old_token_breaks_it(settings, position):
    settings.SECRET_KEY = FIXTURE_SECRET
    parts = FIXTURES["unsubscribe"][0].split(".")
    parts[position] = parts[position] + "1" if position != 6 else "sms"

    with pytest.raises(TokenInvalid):
        token_read(".".join(parts), kind="unsubscribe", now=ISSUED)


def test_an_old_token_under_a_rotated_secret_works_while_it_is_a_fallback(settings):
    settings.SECRET_KEY = "new-secret-" + "y" * 40
    settings.SECRET_KEY_FALLBACKS = [FIXTURE_SECRET]

    assert token_read(FIXTURES["manage"][0], kind="manage", now=ISSUED).contact_id == 1234

    settings.SECRET_KEY_FALLBACKS = []
    with pytest.raises(TokenInvalid):
        token_read(FIXTURES["manage"][0], kind="manage", now=ISSUED)


# --- Through the pages -------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def _old_link(kind, brand, contact, topic=None, channel=None, *, age=timedelta(days=1)):
    token = legacy_token(kind, brand.pk, contact.pk, topic.pk if topic else None, channel, issued=NOW - age)
    return link_path(kind=kind, brand=brand, token=token)


def _subscribe(brand, topic, version):
    change = SubscriptionChange(
        topic=topic, channel="email", status="subscribed", notice_version=version.public_id
    )
    preferences_update(
        brand=brand,
        external_id="cust-1",
        method="api",
        recorded_by="test",
        subscriptions=[change],
    )


def test_an_old_manage_link_opens_the_centre(client, brand, contact):
    response = client.get(_old_link("manage", brand, contact))

    assert response.status_code == 303
    assert cookie_name() in response.cookies


def test_an_old_manage_link_past_its_lifetime_shows_the_expired_page(client, brand, contact):
    response = client.get(_old_link("manage", brand, contact, age=timedelta(days=31)))

    assert response.status_code == 410
    assert cookie_name() not in response.cookies


def test_an_old_link_of_another_brand_is_a_404(client, brand, other_brand, contact):
    token = legacy_token("manage", other_brand.pk, contact.pk, issued=NOW)

    assert client.get(f"/p/acme/t/{token}").status_code == 404


def test_an_old_one_click_link_unsubscribes(client, brand, contact, newsletter, notice_version):
    _subscribe(brand, "newsletter", notice_version)
    url = _old_link("unsubscribe", brand, contact, newsletter, "email", age=timedelta(days=179))

    response = client.post(url, {"List-Unsubscribe": "One-Click"})
    one_click_apply_pending()

    assert response.status_code == 200
    assert stored(contact)[("newsletter", "email")][0] == "unsubscribed"


def test_an_old_confirm_link_confirms(client, brand, contact, launches, news_version):
    _subscribe(brand, "launches", news_version)
    url = _old_link("confirm", brand, contact, launches, "email", age=timedelta(0))

    with time_machine.travel(NOW + timedelta(minutes=1), tick=False):
        response = client.post(url)

    assert response.status_code == 200
    assert stored(contact) == {("launches", "email"): ("subscribed", "immediate")}
