"""The preference centre as a person reads it (issue 11, "The hosted page"): notices by version and
date, purposes with nothing to opt into that can be objected to, confirmations in the new
language where the person is looking, country names, the brand's logo and typeface."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import time_machine
from django.conf import settings
from django.contrib.staticfiles import finders

from brands.models import Brand, Typeface
from config.middleware import HOSTED_PAGE_CSP
from consent.models import ConsentEvent, ConsentType, LegalBasis
from consent.services import consent_record, contact_upsert
from preferences.demo import seed_demo
from tests.conftest import current_version
from tests.preferences.conftest import ledger
from tests.preferences.pages import open_centre

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
HOME = "/p/acme/"


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def page(client, brand, contact):
    return open_centre(client, brand, contact)


def html_of(response) -> str:
    return response.content.decode()


def section(html: str, section_id: str) -> str:
    """The HTML of the <section>, <form> or <div> with this id, up to the next one of the page's
    top-level parts."""
    start = html.index(f'id="{section_id}"')
    following = [html.find(marker, start + 1) for marker in ('<section class="section"', "\n<form ")]
    ends = [at for at in following if at != -1]
    return html[start : min(ends) if ends else len(html)]


def text_of(fragment: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment)).strip()


# --- Notices: a version and a date, never an internal id ---------------------------------------


@pytest.mark.parametrize(
    ("locale", "shown"),
    [
        ("en", "Version 1, 23 November 2026"),
        ("de", "Version 1, 23. November 2026"),
        ("fr", "Version 1 du 23 novembre 2026"),
    ],
)
def test_a_notice_reads_as_its_version_and_date_never_its_id(
    page, brand, contact, make_purpose, locale, shown
):
    purpose = make_purpose(brand, "personalisation", languages=("en", "de", "fr"))
    version = current_version(purpose, locale)
    contact_upsert(brand=brand, external_id=contact.external_id, locale=locale)

    html = html_of(page.get(HOME))

    card = section(html, "purpose-personalisation")
    assert f'<span class="notice__version">{shown}</span>' in card
    assert version.text in card
    # The id is in the form (what the grant is recorded against), not in what people read.
    assert version.public_id not in text_of(html)
    assert f'value="{version.public_id}"' in card


def test_the_text_is_open_while_the_page_asks_and_a_click_away_once_agreed(
    page, brand, contact, make_purpose
):
    purpose = make_purpose(brand, "personalisation")
    version = current_version(purpose)

    asking = section(html_of(page.get(HOME)), "purpose-personalisation")
    assert '<details class="notice" open>' in asking
    consent_record(
        brand=brand,
        external_id=contact.external_id,
        purpose_slug="personalisation",
        decision="granted",
        notice_version_id=version.public_id,
        method="api",
        recorded_by="test",
    )
    agreed = section(html_of(page.get(HOME)), "purpose-personalisation")

    assert '<details class="notice">' in agreed
    assert '<summary class="notice__summary"><span class="notice__toggle">Full text</span>' in agreed
    assert version.text in agreed


# --- A purpose with nothing to opt into: its basis, how long, and an objection -----------------


@pytest.fixture
def customer_updates(brand, make_purpose):
    return make_purpose(brand, "customer-updates", consent_type=ConsentType.IMPLIED)


@pytest.fixture
def analytics(brand, make_purpose):
    return make_purpose(brand, "analytics", legal_basis=LegalBasis.LEGITIMATE_INTEREST)


def test_implied_consent_says_its_basis_and_offers_an_objection(page, brand, contact, customer_updates):
    card = section(html_of(page.get(HOME)), "purpose-customer-updates")

    assert "You have not agreed to this." not in card
    assert (
        "You did not opt in to this. The law lets us do it for a limited time because you bought from "
        "us or asked us something (implied consent): for 2 years after a purchase, or 6 months after "
        "an inquiry."
    ) in card
    assert "You can object at any time, and we stop." in card
    assert '<input type="hidden" name="decision" value="withdrawn">' in card
    assert '<button type="submit" class="button button--secondary">Object to this</button>' in card


def test_implied_consent_from_a_purchase_says_how_long_it_lasts(page, brand, contact, customer_updates):
    consent_record(
        brand=brand,
        external_id=contact.external_id,
        purpose_slug="customer-updates",
        decision="granted",
        notice_version_id=current_version(customer_updates).public_id,
        method="import",
        recorded_by="test",
        implied_basis="purchase",
    )

    card = section(html_of(page.get(HOME)), "purpose-customer-updates")

    assert "This lasts until 23 November 2028." in card  # CASL: 2 years after a purchase
    assert "Object to this" in card


def test_objecting_records_a_withdrawal_with_the_pages_evidence(page, brand, contact, customer_updates):
    response = page.post(
        "/p/acme/consents/customer-updates",
        {"decision": "withdrawn"},
        HTTP_USER_AGENT="Mozilla/5.0 (test)",
        REMOTE_ADDR="203.0.113.77",
    )

    assert response.status_code == 303
    assert response["Location"] == "/p/acme/#purpose-customer-updates"
    assert ledger(contact) == [(1, "customer-updates", "withdrawn", "preference_centre", None)]
    event = ConsentEvent.objects.select_related("evidence").get(contact=contact)
    assert (event.consent_type, event.actor, event.recorded_by, event.expires_at) == (
        "implied",
        "subject",
        "hosted:preference-centre",
        None,
    )
    assert (event.evidence.ip, event.evidence.user_agent, event.evidence.page_url) == (
        "203.0.113.0",
        "Mozilla/5.0 (test)",
        f"{settings.PUBLIC_BASE_URL}/p/acme/",
    )
    card = section(html_of(page.get(HOME)), "purpose-customer-updates")
    assert "You objected to this, so we no longer do it." in card
    assert "Object to this" not in card
    assert "Saved. Your choices are up to date." in card  # the confirmation, where the redirect leads


def test_objecting_twice_writes_one_row(page, brand, contact, customer_updates):
    page.post("/p/acme/consents/customer-updates", {"decision": "withdrawn"})
    page.post("/p/acme/consents/customer-updates", {"decision": "withdrawn"})

    assert ledger(contact) == [(1, "customer-updates", "withdrawn", "preference_centre", None)]


def test_a_legitimate_interest_can_be_objected_to(page, brand, contact, analytics):
    card = section(html_of(page.get(HOME)), "purpose-analytics")
    assert "We do it because it is in our legitimate interest, as the law allows." in card

    page.post("/p/acme/consents/analytics", {"decision": "withdrawn"})

    assert ledger(contact) == [(1, "analytics", "withdrawn", "preference_centre", None)]


def test_express_consent_never_given_is_not_withdrawn_by_a_forged_post(page, brand, contact, make_purpose):
    make_purpose(brand, "personalisation")

    page.post("/p/acme/consents/personalisation", {"decision": "withdrawn"})

    assert ledger(contact) == []


# --- "Saved", in the new language, where the person is looking ---------------------------------


def test_after_a_change_of_language_saved_is_said_in_the_new_one_beside_what_changed(page, contact):
    response = page.post("/p/acme/about-you/locale", {"value": "de"})

    assert response.status_code == 303
    assert response["Location"] == "/p/acme/#told-us"
    html = html_of(page.get(HOME))
    assert '<html lang="de">' in html
    told_us = section(html, "told-us")
    assert (
        '<div class="status status--here" role="status" aria-live="polite" id="status">'
        '<p class="status__message">Gespeichert. Ihre Auswahl ist aktuell.</p></div>'
    ) in told_us
    assert html.count('role="status"') == 1  # not at the top of the page as well
    assert told_us.index("status--here") < told_us.index('<dl class="facts">')


def test_a_pause_is_confirmed_in_the_pause_section(page, brand, contact):
    page.post("/p/acme/pause", {"weeks": "2"})

    html = html_of(page.get(HOME))

    pause = section(html, "pause")
    assert (
        '<div class="status status--here" role="status" aria-live="polite" id="status">'
        '<p class="status__message">Paused until Dec. 7, 2026. Messages you need, like order updates, '
        "still arrive.</p></div>"
    ) in pause
    assert html.count('role="status"') == 1


def test_a_save_without_a_place_is_confirmed_at_the_top(page, brand, contact):
    page.post("/p/acme/subscriptions", {})

    html = html_of(page.get(HOME))

    top = html[: html.index("<h1>")]
    assert (
        '<div class="status" role="status" aria-live="polite" id="status">'
        '<p class="status__message">Saved. Your choices are up to date.</p></div>'
    ) in top


# --- Country or region -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "code", "shown"),
    [
        ("en", "DE", "Germany"),
        ("de", "DE", "Deutschland"),
        ("fr", "DE", "Allemagne"),
        ("en", "US-CA", "California, United States"),
        ("fr", "CA-QC", "Québec, Canada"),
        ("de", "ZW", "ZW"),  # not in the table: the code
    ],
)
def test_the_country_or_region_reads_as_its_name(page, brand, contact, locale, code, shown):
    contact_upsert(brand=brand, external_id=contact.external_id, locale=locale, jurisdiction=code)

    told_us = section(html_of(page.get(HOME)), "told-us")

    assert f'<p class="fact__value">{shown}</p>' in told_us
    contact.refresh_from_db()
    assert contact.jurisdiction == code  # stored as the code


# --- The brand's logo and typeface -------------------------------------------------------------


def test_the_brands_logo_is_shown_and_its_origin_allowed_for_that_page_only(page, brand, contact):
    Brand.objects.filter(pk=brand.pk).update(logo_url="https://cdn.example.com/acme/logo.svg")

    response = page.get(HOME)

    assert (
        '<p class="masthead__brand"><img class="masthead__logo" '
        'src="https://cdn.example.com/acme/logo.svg" alt="Acme Ltd"></p>'
    ) in html_of(response)
    assert response["Content-Security-Policy"] == HOSTED_PAGE_CSP.replace(
        "img-src 'self' data:", "img-src 'self' data: https://cdn.example.com"
    )
    assert page.get("/p/acme/theme.css")["Content-Security-Policy"] == HOSTED_PAGE_CSP


def test_without_a_logo_the_name_and_the_strict_csp(page, brand, contact):
    response = page.get(HOME)

    assert '<p class="masthead__brand">Acme Ltd</p>' in html_of(response)
    assert response["Content-Security-Policy"] == HOSTED_PAGE_CSP


@pytest.mark.parametrize(
    "logo_url",
    ["https://user:secret@cdn.example.com/logo.svg", "https://cdn.example.com;script-src*/logo.svg"],
)
def test_a_logo_url_that_could_widen_the_csp_is_not_used(page, brand, contact, logo_url):
    Brand.objects.filter(pk=brand.pk).update(logo_url=logo_url)

    response = page.get(HOME)

    assert "<img" not in html_of(response)
    assert response["Content-Security-Policy"] == HOSTED_PAGE_CSP


def test_the_theme_carries_the_brands_typeface(client, brand):
    Brand.objects.filter(pk=brand.pk).update(typeface=Typeface.SERIF)

    css = client.get("/p/acme/theme.css").content.decode()

    assert '--font: Charter, "Bitstream Charter", "Sitka Text", Cambria, Georgia, serif; }' in css


def test_the_demo_brand_has_a_logo_of_its_own_and_a_typeface(db, settings):
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:8123"

    brand, _key = seed_demo()
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:8124"  # served elsewhere: the next seed follows
    again, _key = seed_demo()

    assert (brand.logo_url, brand.typeface) == (
        "http://127.0.0.1:8123/static/img/demo-outfitters.svg",
        Typeface.HUMANIST,
    )
    assert Brand.objects.get(pk=again.pk).logo_url == "http://127.0.0.1:8124/static/img/demo-outfitters.svg"
    assert finders.find("img/demo-outfitters.svg") is not None
