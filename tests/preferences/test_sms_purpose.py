"""Texts under their own purpose and notice (TCPA, STANDARDS §9 #19 and #20): a topic offered by
email and SMS records an SMS grant against the SMS purpose's notice, with the number consented,
and the hosted page shows the SMS box under that notice."""

from __future__ import annotations

import pytest

from consent.models import ConsentEvent, ConsentEvidence
from consent.services import contact_upsert
from preferences.demo import seed_demo
from preferences.models import Topic
from preferences.services import preferences_update
from tests.conftest import current_version
from tests.preferences.conftest import change_rows, counts, ledger
from tests.preferences.pages import open_centre

HOME = "/p/acme/"


@pytest.fixture
def sms_purpose(brand, make_purpose):
    return make_purpose(brand, "sms-marketing")


@pytest.fixture
def offers(brand, purpose, sms_purpose, make_topic):
    return make_topic(brand, "offers", purpose, sms_purpose=sms_purpose, channels=["email", "sms"])


@pytest.fixture
def texter(brand):
    contact, _ = contact_upsert(
        brand=brand, external_id="cust-1", email="ada@example.com", phone="+14155550123"
    )
    return contact


def subscribe(brand, *rows):
    return preferences_update(
        brand=brand, external_id="cust-1", method="api", recorded_by="test", subscriptions=change_rows(*rows)
    )


def test_an_sms_grant_is_recorded_against_the_sms_notice_with_the_number(brand, texter, offers, sms_purpose):
    sms_version = current_version(sms_purpose)

    subscribe(brand, ("offers", "sms", sms_version.public_id))

    assert ledger(texter) == [(1, "sms-marketing", "granted", "api", sms_version.public_id)]
    evidence = ConsentEvidence.objects.get(event__contact=texter)
    assert (evidence.phone, evidence.message) == ("+14155550123", None)


def test_an_email_grant_carries_no_number(brand, texter, offers, notice_version):
    subscribe(brand, ("offers", "email", notice_version.public_id))

    assert ledger(texter) == [(1, "email-marketing", "granted", "api", notice_version.public_id)]
    assert ConsentEvidence.objects.get(event__contact=texter).phone == ""


def test_the_email_notice_cannot_grant_texts(brand, texter, offers, notice_version):
    before = counts()
    with pytest.raises(Exception, match="is not the notice of topic 'offers' on 'sms'"):
        subscribe(brand, ("offers", "sms", notice_version.public_id))
    assert counts() == before


def test_texts_need_a_number(brand, contact, offers, sms_purpose):
    before = counts()
    with pytest.raises(Exception, match="Texts need a phone number"):
        subscribe(brand, ("offers", "sms", current_version(sms_purpose).public_id))
    assert counts() == before


def test_withdrawing_texts_leaves_email_consent(brand, texter, offers, notice_version, sms_purpose):
    subscribe(brand, ("offers", "email", notice_version.public_id))
    subscribe(brand, ("offers", "sms", current_version(sms_purpose).public_id))
    preferences_update(
        brand=brand, external_id="cust-1", method="api", recorded_by="test", unsubscribed_all={"sms": True}
    )
    assert [row[1:3] for row in ledger(texter)] == [
        ("email-marketing", "granted"),
        ("sms-marketing", "granted"),
        ("sms-marketing", "withdrawn"),
    ]


def test_the_centre_shows_the_sms_box_under_the_sms_notice_with_the_number(
    client, brand, texter, offers, purpose, sms_purpose
):
    html = open_centre(client, brand, texter).get(HOME).content.decode()

    email_section = html[
        html.index('id="purpose-email-marketing"') : html.index('id="purpose-sms-marketing"')
    ]
    sms_section = html[html.index('id="purpose-sms-marketing"') :]
    assert 'name="sub.offers.email"' in email_section
    assert 'name="sub.offers.sms"' not in email_section
    assert "Text for sms-marketing in en." in sms_section
    assert 'name="sub.offers.sms"' in sms_section
    assert "Texts go to +14155550123." in sms_section
    assert 'id="topic-offers-email"' in html  # ids stay unique
    assert 'id="topic-offers-sms"' in html


def test_ticking_the_sms_box_on_the_centre_grants_the_sms_purpose(client, brand, texter, offers, sms_purpose):
    page = open_centre(client, brand, texter)
    sms_version = current_version(sms_purpose)
    response = page.post(
        HOME + "subscriptions",
        {"sub.offers.sms": "on", "notice.sms-marketing": sms_version.public_id, "notice.email-marketing": ""},
    )
    assert response.status_code == 303, response.content
    assert ledger(texter) == [(1, "sms-marketing", "granted", "preference_centre", sms_version.public_id)]
    assert ConsentEvidence.objects.get(event__contact=texter).phone == "+14155550123"


def test_the_demo_puts_texts_under_their_own_notice(db):
    brand, _ = seed_demo()
    seed_demo()  # idempotent
    topics = {
        t.slug: (t.purpose.slug if t.purpose else None, t.sms_purpose.slug if t.sms_purpose else None)
        for t in Topic.objects.filter(brand=brand).select_related("purpose", "sms_purpose")
    }
    assert topics == {
        "newsletter": ("email-marketing", None),
        "offers": ("email-marketing", "sms-marketing"),
        "restock-alerts": ("email-marketing", "sms-marketing"),
        "orders": (None, None),
    }
    sms = brand.purposes.get(slug="sms-marketing")
    texts = {v.language: v.text for v in sms.notice.versions.all() if v == current_version(sms, v.language)}
    assert set(texts) == {"en", "de", "fr"}
    assert "Consent is not a condition of any purchase" in texts["en"]
    assert "Msg & data rates may apply" in texts["en"]
    assert "Reply STOP to cancel at any time, HELP for help." in texts["en"]
    assert texts["en"].startswith("By ticking a text box below you agree that Demo Outfitters")
    # Nothing recorded but the German customer's newsletter sign-up (preferences.demo) and the
    # crowd's choices (preferences.demo_crowd), whose texts are granted under the texts' notice.
    assert list(
        ConsentEvent.objects.filter(brand=brand)
        .exclude(contact__external_id__startswith="shopper-")
        .values_list("contact__external_id", "purpose__slug")
    ) == [("cust-43", "email-marketing")]
    texting = ConsentEvent.objects.filter(brand=brand, purpose=sms, decision="granted")
    assert texting.exists()
    assert set(texting.values_list("notice_version__notice__purpose__slug", flat=True)) == {"sms-marketing"}
