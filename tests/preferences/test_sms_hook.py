"""POST /hooks/twilio/{brand}/sms: Twilio's signature, each keyword and its variants, exact ledger
rows and TwiML replies, unknown numbers, tenant isolation and retried MessageSids."""

from __future__ import annotations

import base64
import hashlib
import hmac
from io import StringIO
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from config.errors import Unprocessable
from consent.models import ConsentEvidence
from consent.services import contact_upsert
from preferences.models import ChannelOptOut, InboundSms, TwilioAccount
from preferences.services import preferences_update
from preferences.sms import keyword_of, token_decrypt, twilio_account_set, twilio_signature
from tests.conftest import current_version
from tests.preferences.conftest import change_rows, counts, ledger, stored

TOKEN = "0123456789abcdef0123456789abcdef"
SID = "AC" + "0123456789abcdef" * 2
OTHER_TOKEN = "fedcba9876543210" * 2
URL = "/hooks/twilio/acme/sms"
PHONE = "+14155550123"
STOP_REPLY = (
    '<?xml version="1.0" encoding="UTF-8"?><Response><Message>Acme Ltd: you are unsubscribed and will '
    "get no more texts from us. Reply START to subscribe again.</Message></Response>"
)


@pytest.fixture
def account(brand):
    return twilio_account_set(brand=brand, account_sid=SID, auth_token=TOKEN)


@pytest.fixture
def sms_purpose(brand, make_purpose):
    return make_purpose(brand, "sms-marketing")


@pytest.fixture
def offers(brand, purpose, sms_purpose, make_topic):
    return make_topic(brand, "offers", purpose, sms_purpose=sms_purpose, channels=["email", "sms"])


@pytest.fixture
def texter(brand, offers, sms_purpose, notice_version):
    contact, _ = contact_upsert(brand=brand, external_id="cust-1", email="ada@example.com", phone=PHONE)
    preferences_update(
        brand=brand,
        external_id="cust-1",
        method="api",
        recorded_by="test",
        subscriptions=change_rows(
            ("offers", "sms", current_version(sms_purpose).public_id),
            ("offers", "email", notice_version.public_id),
        ),
    )
    return contact


def sign(url: str, params: dict[str, str], token: str = TOKEN) -> str:
    return twilio_signature(url=url, params=params.items(), auth_token=token)


def text(client, body, *, sid="SM1", sender=PHONE, url=URL, token=TOKEN, signature=None):
    params = {"AccountSid": SID, "MessageSid": sid, "From": sender, "To": "+15005550006", "Body": body}
    signature = sign(settings.PUBLIC_BASE_URL + url, params, token) if signature is None else signature
    return client.post(
        url,
        urlencode(params),
        content_type="application/x-www-form-urlencoded",
        headers={"X-Twilio-Signature": signature},
    )


def test_the_signature_matches_twilios_documented_example():
    # Twilio's documented algorithm, computed here independently of preferences.sms: the URL, then
    # each parameter's name and value sorted by name, HMAC-SHA1 with the auth token, base64.
    url = "https://example.com/myapp.php?foo=1&bar=2"
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+12349013030",
        "Digits": "1234",
        "From": "+12349013030",
        "To": "+18005551212",
    }
    payload = url + "".join(k + params[k] for k in sorted(params))
    independent = base64.b64encode(hmac.new(TOKEN.encode(), payload.encode(), hashlib.sha1).digest()).decode()
    assert sign(url, params) == independent
    assert sign(url, {**params, "Digits": "1235"}) != independent


def test_the_token_is_stored_encrypted(account):
    stored_token = TwilioAccount.objects.get(pk=account.pk).auth_token_encrypted
    assert TOKEN not in stored_token
    assert token_decrypt(stored_token) == TOKEN


@pytest.mark.parametrize(
    "body",
    [
        "STOP",
        "stop",
        "Stop.",
        "please STOP texting me",
        "STOPALL",
        "unsubscribe",
        "Cancel",
        "END",
        "quit",
        "REVOKE",
        "opt out",
        "Opt-Out",
        "OPTOUT",
    ],
)
def test_every_stop_word_withdraws_texts_at_once(client, brand, account, texter, body):
    response = text(client, body)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/xml; charset=utf-8"
    assert response.content.decode() == STOP_REPLY
    assert ledger(texter)[2:] == [(3, "sms-marketing", "withdrawn", "sms", None)]
    evidence = ConsentEvidence.objects.get(event__contact=texter, event__sequence=3)
    assert evidence.phone == PHONE
    assert evidence.message["message_sid"] == "SM1"
    assert evidence.message["body"] == body
    assert (evidence.message["from"], evidence.message["to"]) == (PHONE, "+15005550006")
    assert stored(texter) == {
        ("offers", "sms"): ("unsubscribed", "immediate"),
        ("offers", "email"): ("subscribed", "immediate"),
    }
    assert ChannelOptOut.objects.get(contact=texter, channel="sms").opted_out is True


@pytest.mark.parametrize(
    ("body", "keyword"),
    [
        ("START", "start"),
        ("unstop", "start"),
        ("Yes", "start"),
        ("yes please stop", "stop"),
        ("HELP", "help"),
        ("info?", "help"),
        ("Hello there", None),
        ("I want more", None),
    ],
)
def test_keywords(body, keyword):
    assert keyword_of(body) == keyword


def test_a_retried_message_sid_changes_nothing_twice(client, brand, account, texter):
    first = text(client, "STOP")
    before = counts()
    again = text(client, "STOP")
    assert again.content == first.content
    assert counts() == before
    assert InboundSms.objects.count() == 1


def test_start_after_a_texted_stop_restores_that_numbers_texts(client, brand, account, texter, sms_purpose):
    text(client, "STOP", sid="SM1")
    response = text(client, "START", sid="SM2")

    assert "you are subscribed again" in response.content.decode()
    assert ledger(texter)[2:] == [
        (3, "sms-marketing", "withdrawn", "sms", None),
        (4, "sms-marketing", "granted", "sms", current_version(sms_purpose).public_id),
    ]
    assert stored(texter)[("offers", "sms")][0] == "subscribed"
    assert ChannelOptOut.objects.get(contact=texter, channel="sms").opted_out is False


def test_start_without_a_texted_stop_grants_nothing(client, brand, account, texter):
    preferences_update(
        brand=brand, external_id="cust-1", method="api", recorded_by="t", unsubscribed_all={"sms": True}
    )
    before = ledger(texter)
    response = text(client, "START", sid="SM9")
    assert "nothing to restart" in response.content.decode()
    assert ledger(texter) == before


def test_help_answers_with_the_brands_contact_details(client, brand, account, texter):
    brand.contact_email = "help@acme.example"
    brand.save(update_fields=["contact_email"])
    before = ledger(texter)
    response = text(client, "help")
    assert response.content.decode() == (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Message>Acme Ltd: for help contact '
        "help@acme.example. Msg &amp; data rates may apply. Reply STOP to cancel.</Message></Response>"
    )
    assert ledger(texter) == before


def test_an_unknown_number_is_only_counted(client, brand, account, texter):
    before = counts()
    response = text(client, "STOP", sender="+14155550199")
    assert response.status_code == 200
    assert "we have no texts on record for this number" in response.content.decode()
    assert counts() == before
    assert InboundSms.objects.count() == 0
    assert TwilioAccount.objects.get(pk=account.pk).unknown_senders == 1


@pytest.mark.parametrize(
    "how",
    ["missing", "wrong-token", "tampered", "other-url"],
)
def test_a_bad_signature_is_refused_and_records_nothing(client, brand, account, texter, how):
    before, inbound = counts(), InboundSms.objects.count()
    if how == "missing":
        response = text(client, "STOP", signature="")
    elif how == "wrong-token":
        response = text(client, "STOP", token="other")
    elif how == "tampered":
        params = {"AccountSid": SID, "MessageSid": "SM1", "From": PHONE, "To": "+1", "Body": "HELLO"}
        signature = sign(settings.PUBLIC_BASE_URL + URL, params)
        params["Body"] = "STOP"
        response = client.post(
            URL,
            urlencode(params),
            content_type="application/x-www-form-urlencoded",
            headers={"X-Twilio-Signature": signature},
        )
    else:
        response = text(client, "STOP", signature=sign(settings.PUBLIC_BASE_URL + "/other", {}))
    assert response.status_code == 403
    assert (counts(), InboundSms.objects.count()) == (before, inbound)


def test_another_brands_hook_cannot_touch_this_brands_contacts(client, brand, other_brand, account, texter):
    twilio_account_set(brand=other_brand, account_sid=SID, auth_token=OTHER_TOKEN)
    before = counts()
    response = text(client, "STOP", url="/hooks/twilio/outsider/sms", token=OTHER_TOKEN)
    assert "no texts on record" in response.content.decode()
    assert counts() == before
    assert TwilioAccount.objects.get(brand=other_brand).unknown_senders == 1
    # and this brand's token does not open the other brand's hook
    assert text(client, "STOP", url="/hooks/twilio/outsider/sms").status_code == 403


def test_a_brand_without_an_account_refuses(client, brand, texter):
    assert text(client, "STOP").status_code == 403


def test_the_hook_needs_no_csrf_token_but_is_rate_limited(brand, account, texter, settings):
    from django.test import Client

    settings.SMS_HOOK_RATE = "2/min"
    strict = Client(enforce_csrf_checks=True)
    assert text(strict, "hello", sid="A").status_code == 200
    assert text(strict, "hello", sid="B").status_code == 200
    limited = text(strict, "STOP", sid="C")
    assert limited.status_code == 429
    assert int(limited["Retry-After"]) >= 1
    assert ChannelOptOut.objects.filter(contact=texter).count() == 0


def test_start_never_lifts_a_suppression(client, brand, account, texter):
    text(client, "STOP", sid="SM1")
    type(texter).objects.filter(pk=texter.pk).update(suppressed=True)
    before = ledger(texter)
    response = text(client, "START", sid="SM2")
    assert "nothing to restart" in response.content.decode()
    assert ledger(texter) == before
    assert ChannelOptOut.objects.get(contact=texter, channel="sms").opted_out is True


def test_erasure_clears_the_number_and_the_message(client, brand, account, texter):
    from consent.erasure import contact_erase

    text(client, "please STOP texting me")
    contact_erase(brand=brand, contact=texter, requested_via="api")

    cleared = list(ConsentEvidence.objects.filter(event__contact=texter).values_list("phone", "message"))
    assert cleared == [("", None)] * len(ledger(texter))
    assert InboundSms.objects.count() == 0


@pytest.mark.parametrize(
    ("sid", "token", "field"),
    [
        ("AC123", TOKEN, "account_sid"),
        ("SK" + "0" * 32, TOKEN, "account_sid"),
        (SID, "", "auth_token"),
        (SID, "not-a-token-but-long-enough-1234", "auth_token"),
    ],
)
def test_an_account_is_refused_unless_it_looks_like_twilios(brand, sid, token, field):
    with pytest.raises(Unprocessable) as refused:
        twilio_account_set(brand=brand, account_sid=sid, auth_token=token)
    assert list(refused.value.errors or {}) == [field]
    assert not TwilioAccount.objects.exists()


def test_the_command_sets_the_account_with_the_token_from_the_environment(brand, monkeypatch):
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    out = StringIO()
    call_command("twilio_account", "--brand", brand.slug, "--account-sid", SID, stdout=out)
    account = TwilioAccount.objects.get(brand=brand)
    assert (account.account_sid, token_decrypt(account.auth_token_encrypted)) == (SID, TOKEN)
    assert TOKEN not in out.getvalue()
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "nope")
    with pytest.raises(CommandError, match="An auth token is 32 hex digits"):
        call_command("twilio_account", "--brand", brand.slug, "--account-sid", SID, stdout=StringIO())
