"""The preference centre (/p/<brand>/): what it shows, every write through its forms (exact ledger
and outbox rows, POST/redirect/GET, "Saved" in a live region), errors, languages, headers,
query counts, and what a GET must never do."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from consent.models import Contact
from consent.services import contact_upsert, notice_version_publish
from preferences.models import Hold, Topic
from preferences.services import SubscriptionChange, hold_start, preferences_update
from preferences.session import cookie_name
from preferences.topics import topic_create
from tests.actors import TEST_ACTOR
from tests.conftest import current_version
from tests.preferences.conftest import counts, ledger, outbox, stored
from tests.preferences.pages import assert_hosted_headers, checked_boxes, open_centre

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
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


def status_message(response) -> str:
    match = re.search(
        r'<div class="status[^"]*" role="status" aria-live="polite" id="status">(.*?)</div>',
        html_of(response),
        re.S,
    )
    assert match, "no live region"
    return re.sub(r"<[^>]+>", "", match.group(1)).strip()


def subscribe(brand, version, *rows, method="api"):
    return preferences_update(
        brand=brand,
        external_id="cust-1",
        method=method,
        recorded_by="test",
        subscriptions=[
            SubscriptionChange(
                topic=topic, channel=channel, status="subscribed", notice_version=version.public_id
            )
            for topic, channel in rows
        ],
    )


# --- What the page shows -----------------------------------------------------------------------


def test_the_centre_shows_topics_channels_cadences_and_the_exact_notice(page, topics, notice_version):
    response = page.get(HOME)

    assert response.status_code == 200
    html = html_of(response)
    assert '<html lang="en">' in html
    assert '<legend class="topic__name">Newsletter</legend>' in html
    for row in ("newsletter-email", "newsletter-sms", "offers-email", "launches-email"):
        assert f'<label for="sub-{row}">' in html
    assert 'name="cadence.newsletter.email"' in html
    assert "Monthly digest" in html
    assert 'name="cadence.offers.email"' not in html  # one cadence only: nothing to choose
    assert notice_version.text in html
    assert notice_version.public_id in html
    assert f'name="notice.email-marketing" value="{notice_version.public_id}"' in html
    assert "Messages you need" in html
    assert "Orders" in html
    assert 'name="sub.orders.email"' not in html  # transactional: no switch
    assert 'action="/p/acme/pause"' in html
    assert 'value="8"' in html
    assert 'href="/p/acme/unsubscribe-all/email"' in html
    assert 'href="/p/acme/unsubscribe-all/sms"' in html
    assert "What you've told us" in html
    assert "ada@example.com" in html
    assert 'id="quiz-answers"' in html
    assert 'action="/p/acme/my-data"' in html
    assert 'href="/p/acme/delete"' in html
    assert 'role="status"' in html
    assert 'href="#main"' in html
    assert 'style="' not in html
    assert "<script>" not in html
    assert_hosted_headers(response)


def test_no_box_is_pre_ticked_for_a_new_contact(page, brand, topics, make_topic, purpose):
    make_topic(brand, "tips", purpose, default_subscribed=True, channels=["email"])  # a brand default

    html = html_of(page.get(HOME))

    assert checked_boxes(html) == []
    assert "You have not agreed to this." in html


def test_boxes_show_what_the_contact_chose(page, brand, topics, notice_version):
    subscribe(brand, notice_version, ("newsletter", "sms"))

    html = html_of(page.get(HOME))

    assert checked_boxes(html) == [
        '<input type="checkbox" id="sub-newsletter-sms" name="sub.newsletter.sms" value="on" checked'
    ]
    assert "You have agreed to this." in html


def test_a_pending_subscription_says_it_awaits_confirmation(page, brand, topics, news_version):
    subscribe(brand, news_version, ("launches", "email"))

    html = html_of(page.get(HOME))

    assert 'id="sub-launches-email" name="sub.launches.email" value="on" checked' in html
    assert "Waiting for you to confirm" in html


def test_the_centre_renders_in_the_same_number_of_queries_for_1_or_15_topics(
    client, brand, contact, purpose, notice_version, make_topic, django_assert_num_queries
):
    make_topic(brand, "topic-0", purpose, channels=["email", "sms"], cadence_options=["weekly", "monthly"])
    subscribe(brand, notice_version, ("topic-0", "email"))
    hold_start(brand=brand, external_id="cust-1", started_by="customer", weeks=1, recorded_by="test")
    open_centre(client, brand, contact)
    assert client.get(HOME).status_code == 200  # reads and remembers the brand's configuration
    with CaptureQueriesContext(connection) as one:
        assert client.get(HOME).status_code == 200
    remembered = len(one.captured_queries)  # read now: every request empties the query log

    for index in range(1, 15):
        make_topic(
            brand, f"topic-{index}", purpose, channels=["email", "sms"], cadence_options=["weekly", "monthly"]
        )
        subscribe(brand, notice_version, (f"topic-{index}", "sms"))
    assert html_of(client.get(HOME)).count('class="topic"') == 15  # the changed configuration
    with django_assert_num_queries(remembered):
        response = client.get(HOME)
    assert html_of(response).count('class="topic"') == 15


def _statements(queries: CaptureQueriesContext) -> list[str]:
    return [sql for query in queries.captured_queries for sql in query["sql"].split(";\n")]


def test_the_centre_reads_everything_in_one_round_trip_of_prepared_statements_on_postgresql(
    client, brand, contact, purpose, notice_version, make_topic
):
    make_topic(brand, "topic-0", purpose, channels=["email", "sms"], cadence_options=["weekly", "monthly"])
    open_centre(client, brand, contact)
    with CaptureQueriesContext(connection) as first:
        assert client.get(HOME).status_code == 200
    first_statements, first_trips = _statements(first), len(first.captured_queries)
    with CaptureQueriesContext(connection) as second:
        assert client.get(HOME).status_code == 200

    assert first_statements[0].startswith('SELECT b."id"')
    # One round trip: the brand, the contact and (as JSON columns) the contact's rows and holds
    # in one statement; the brand's topics and purposes until this process remembers them.
    assert [first_trips, len(second.captured_queries)] == [1, 1]
    assert len(first_statements) == 3
    assert _statements(second) == first_statements[:1]
    assert "json_agg" in first_statements[0]
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = {row[0] for row in cursor.fetchall()}
    assert sum("FROM brands_brand b LEFT JOIN consent_contact c" in sql for sql in prepared) == 1
    assert sum("FROM preferences_topic t LEFT JOIN consent_purpose p" in sql for sql in prepared) == 1


def test_a_configuration_change_made_anywhere_shows_on_the_next_view(
    client, brand, contact, purpose, notice_version, make_topic
):
    make_topic(brand, "topic-0", purpose, channels=["email"])
    open_centre(client, brand, contact)
    assert "Topic 0" in html_of(client.get(HOME))  # remembered from here on

    # Straight SQL through the ORM, as an admin edit or a data migration would: no service runs.
    Topic.objects.filter(brand=brand, slug="topic-0").update(name="Renamed by hand")
    html = html_of(client.get(HOME))
    assert "Renamed by hand" in html

    newer = notice_version_publish(
        actor=TEST_ACTOR, purpose=purpose, language="en", title="Email news v2", text="New words."
    )
    html = html_of(client.get(HOME))
    assert f'value="{newer.public_id}"' in html
    assert "New words." in html
    assert f'value="{notice_version.public_id}"' not in html


def test_an_agents_hold_on_chosen_topics_and_channels_marks_only_their_rows(page, brand, topics, contact):
    hold_start(
        brand=brand,
        external_id="cust-1",
        started_by="agent",
        recorded_by="test",
        until=NOW + timedelta(days=10),
        reason="complaint",
        topics=["newsletter", "offers"],
        channels=["email"],
    )
    hold_start(  # over already: not shown
        brand=brand,
        external_id="cust-1",
        started_by="agent",
        recorded_by="test",
        until=NOW + timedelta(days=1),
        reason="old",
    )
    Hold.objects.filter(until=NOW + timedelta(days=1)).update(until=NOW - timedelta(minutes=1))

    html = html_of(page.get(HOME))

    row = r'<input type="checkbox" id="sub-([a-z]+-[a-z]+)".*?</div>\s*'
    note = r'(<p class="channel__note">Paused until ([^<]+)\.</p>)?'
    rows = re.findall(row + note, html, re.S)
    paused = {row: date for row, _, date in rows if date}
    assert paused == {"newsletter-email": "Dec. 2, 2026", "offers-email": "Dec. 2, 2026"}
    assert {row for row, _, _ in rows} >= {
        "newsletter-email",
        "newsletter-sms",
        "offers-email",
        "launches-email",
    }
    assert html.count("has paused marketing messages to you until") == 1


# --- Languages ---------------------------------------------------------------------------------


def test_the_contacts_language_wins(page, brand, topics, purpose):
    contact_upsert(brand=brand, external_id="cust-1", locale="de")
    german = current_version(purpose, "de")

    response = page.get(HOME, HTTP_ACCEPT_LANGUAGE="fr")

    html = html_of(response)
    assert response["Content-Language"] == "de"
    assert '<html lang="de">' in html
    assert "Ihre Einstellungen" in html
    assert "Auswahl speichern" in html
    assert german.text in html
    assert german.public_id in html
    assert "Neuigkeiten" in html  # the topic's own German description


def test_without_a_contact_locale_the_browser_decides(page, brand, topics):
    contact_upsert(brand=brand, external_id="cust-1", locale="")

    html = html_of(page.get(HOME, HTTP_ACCEPT_LANGUAGE="it;q=0.9, fr-CA;q=0.8, en;q=0.1"))

    assert '<html lang="fr">' in html
    assert "Vos préférences" in html


def test_otherwise_the_brands_default_language(page, brand, topics):
    contact_upsert(brand=brand, external_id="cust-1", locale="")
    type(brand).objects.filter(pk=brand.pk).update(default_language="de")

    html = html_of(page.get(HOME, HTTP_ACCEPT_LANGUAGE="ja"))

    assert '<html lang="de">' in html


@pytest.mark.parametrize(("language", "text"), [("de", "Abbestellen"), ("fr", "Se désabonner")])
def test_every_page_is_translated(client, brand, contact, newsletter, language, text):
    contact_upsert(brand=brand, external_id="cust-1", locale=language)
    from tests.preferences.pages import link

    assert text in html_of(client.get(link("unsubscribe", brand, contact, newsletter, "email")))


# --- Saving subscriptions ----------------------------------------------------------------------


def test_ticking_a_box_subscribes_and_records_consent_with_the_notice_shown(
    page, brand, contact, topics, notice_version
):
    before = counts()
    response = page.post(
        "/p/acme/subscriptions",
        {
            "sub.newsletter.email": "on",
            "cadence.newsletter.email": "monthly",
            "notice.email-marketing": notice_version.public_id,
        },
        HTTP_USER_AGENT="Browser/1.0",
        REMOTE_ADDR="203.0.113.77",
    )

    assert response.status_code == 303
    assert response["Location"] == HOME
    assert stored(contact) == {("newsletter", "email"): ("subscribed", "monthly")}
    assert ledger(contact) == [
        (1, "email-marketing", "granted", "preference_centre", notice_version.public_id)
    ]
    event = contact.consent_events.select_related("evidence").get()
    assert (event.evidence.ip, event.evidence.user_agent, event.evidence.page_url) == (
        "203.0.113.0",
        "Browser/1.0",
        "http://127.0.0.1:8000/p/acme/",
    )
    assert [entry[1] for entry in outbox(contact)] == ["consent.granted", "preferences.updated"]
    assert counts()["ledger"] == before["ledger"] + 1
    follow = page.get(HOME)
    assert status_message(follow) == "Saved. Your choices are up to date."
    assert status_message(page.get(HOME)) == ""  # shown once


def test_unticking_withdraws_in_the_same_number_of_clicks(page, brand, contact, topics, notice_version):
    subscribe(brand, notice_version, ("newsletter", "email"))

    response = page.post("/p/acme/subscriptions", {"notice.email-marketing": notice_version.public_id})

    assert response.status_code == 303
    assert stored(contact) == {("newsletter", "email"): ("unsubscribed", "weekly")}
    assert ledger(contact) == [
        (1, "email-marketing", "granted", "api", notice_version.public_id),
        (2, "email-marketing", "withdrawn", "preference_centre", None),
    ]


def test_changing_only_a_cadence(page, brand, contact, topics, notice_version):
    subscribe(brand, notice_version, ("newsletter", "email"))
    before = counts()

    page.post(
        "/p/acme/subscriptions",
        {
            "sub.newsletter.email": "on",
            "cadence.newsletter.email": "daily",
            "notice.email-marketing": notice_version.public_id,
        },
    )

    assert stored(contact) == {("newsletter", "email"): ("subscribed", "daily")}
    assert counts()["ledger"] == before["ledger"]
    assert outbox(contact)[-1][1] == "preferences.updated"


def test_saving_an_untouched_form_writes_nothing(page, brand, contact, topics, notice_version):
    subscribe(brand, notice_version, ("newsletter", "email"))
    before = counts()

    response = page.post(
        "/p/acme/subscriptions",
        {
            "sub.newsletter.email": "on",
            "cadence.newsletter.email": "weekly",
            "notice.email-marketing": notice_version.public_id,
        },
    )

    assert response.status_code == 303
    assert counts() == before


def test_a_double_opt_in_topic_stays_pending(page, brand, contact, topics, news_version):
    page.post(
        "/p/acme/subscriptions", {"sub.launches.email": "on", "notice.product-news": news_version.public_id}
    )

    assert stored(contact) == {("launches", "email"): ("pending", "immediate")}
    assert ledger(contact) == []
    assert "confirm" in status_message(page.get(HOME))


def test_a_notice_that_changed_meanwhile_is_not_consented_to(
    page, brand, contact, topics, purpose, notice_version
):
    html = html_of(page.get(HOME))
    assert notice_version.public_id in html
    newer = notice_version_publish(
        actor=TEST_ACTOR, purpose=purpose, language="en", title="New", text="New words."
    )
    before = counts()

    response = page.post(
        "/p/acme/subscriptions",
        {"sub.newsletter.email": "on", "notice.email-marketing": notice_version.public_id},
    )

    assert response.status_code == 422
    html = html_of(response)
    assert 'class="error-summary"' in html
    assert "autofocus" in html
    assert "changed while you had this page open" in html
    assert "New words." in html
    assert newer.public_id in html
    assert 'id="sub-newsletter-email" name="sub.newsletter.email" value="on" checked' in html  # kept as sent
    assert counts() == before


def test_a_tampered_cadence_is_an_error_not_a_write(page, brand, contact, topics, notice_version):
    before = counts()

    response = page.post(
        "/p/acme/subscriptions", {"sub.newsletter.email": "on", "cadence.newsletter.email": "hourly"}
    )

    assert response.status_code == 422
    assert "Choose one of the offered frequencies." in html_of(response)
    assert counts() == before


def test_writes_need_a_csrf_token(brand, contact, topics, notice_version):
    browser = open_centre(Client(enforce_csrf_checks=True), brand, contact)
    before = counts()

    refused = browser.post("/p/acme/subscriptions", {"sub.newsletter.email": "on"})

    assert refused.status_code == 403
    assert counts() == before
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html_of(browser.get(HOME))).group(1)
    accepted = browser.post(
        "/p/acme/subscriptions",
        {
            "csrfmiddlewaretoken": token,
            "sub.newsletter.email": "on",
            "notice.email-marketing": notice_version.public_id,
        },
        HTTP_ORIGIN="null",  # what browsers send under Referrer-Policy: no-referrer
    )
    assert accepted.status_code == 303
    foreign = browser.post(
        "/p/acme/subscriptions", {"csrfmiddlewaretoken": token}, HTTP_ORIGIN="https://evil.example"
    )
    assert foreign.status_code == 403


def test_without_a_session_writes_are_refused(client, brand, contact, topics, notice_version):
    before = counts()

    response = client.post("/p/acme/subscriptions", {"sub.newsletter.email": "on"})

    assert response.status_code == 403
    assert b"Email me a new link" in response.content
    assert counts() == before


# --- Other purposes ----------------------------------------------------------------------------


@pytest.fixture
def personalisation(brand, make_purpose):
    return make_purpose(brand, "personalisation", languages=("en", "de"))


def test_a_purpose_without_topics_is_given_and_withdrawn_with_one_button(
    page, brand, contact, personalisation
):
    version = current_version(personalisation)
    html = html_of(page.get(HOME))
    assert version.text in html
    assert "Allow this" in html

    page.post("/p/acme/consents/personalisation", {"decision": "granted", "notice": version.public_id})
    assert "Stop this" in html_of(page.get(HOME))
    page.post("/p/acme/consents/personalisation", {"decision": "withdrawn"})

    assert ledger(contact) == [
        (1, "personalisation", "granted", "preference_centre", version.public_id),
        (2, "personalisation", "withdrawn", "preference_centre", None),
    ]


def test_a_grant_must_name_the_notice_shown(page, brand, contact, personalisation):
    response = page.post("/p/acme/consents/personalisation", {"decision": "granted", "notice": "nv_other"})

    assert response.status_code == 422
    assert ledger(contact) == []


# --- Pause and resume --------------------------------------------------------------------------


def test_pause_for_weeks_and_resume(page, brand, contact, topics):
    response = page.post("/p/acme/pause", {"weeks": "4"})

    assert response.status_code == 303
    hold = Hold.objects.get(contact=contact)
    assert (hold.started_by, hold.until, hold.recorded_by) == (
        "customer",
        NOW + timedelta(weeks=4),
        "hosted:preference-centre",
    )
    follow = page.get(HOME)
    assert "Paused until" in status_message(follow)
    assert 'action="/p/acme/resume"' in html_of(follow)

    page.post("/p/acme/resume", {"hold": hold.public_id})

    hold.refresh_from_db()
    assert (hold.ended_at, hold.end_reason) == (NOW, "ended")
    assert [entry[1] for entry in outbox(contact)] == ["hold.started", "hold.ended"]


def test_a_pause_of_3_weeks_is_an_error(page, brand, contact, topics):
    response = page.post("/p/acme/pause", {"weeks": "3"})

    assert response.status_code == 422
    html = html_of(response)
    assert 'href="#id_weeks_0"' in html  # the first option: the legend has no id to land on
    assert 'aria-describedby="id_weeks-error" aria-invalid="true" id="id_weeks_0"' in html
    assert Hold.objects.count() == 0


def test_an_agents_hold_cannot_be_ended_from_the_page(page, brand, contact, topics):
    hold = hold_start(
        brand=brand, external_id="cust-1", started_by="agent", until=NOW + timedelta(days=3),
        reason="complaint", recorded_by="agent",
    )  # fmt: skip

    page.post("/p/acme/resume", {"hold": hold.public_id})

    hold.refresh_from_db()
    assert hold.ended_at is None
    assert "complaint" not in html_of(page.get(HOME))  # an internal reason is not shown


# --- Unsubscribe from all (confirm, then undo) -----------------------------------------------------


def test_unsubscribe_from_all_asks_first_then_can_be_undone(
    page, brand, contact, topics, notice_version, clock
):
    subscribe(brand, notice_version, ("newsletter", "email"), ("offers", "email"), ("newsletter", "sms"))
    before = counts()

    confirm = page.get("/p/acme/unsubscribe-all/email")
    assert confirm.status_code == 200
    assert "Newsletter" in html_of(confirm)
    assert "Offers" in html_of(confirm)
    assert counts() == before  # asking is not doing

    done = page.post("/p/acme/unsubscribe-all/email")
    assert done.status_code == 303
    assert stored(contact) == {
        ("newsletter", "email"): ("unsubscribed", "weekly"),
        ("offers", "email"): ("unsubscribed", "immediate"),
        ("launches", "email"): ("unsubscribed", "immediate"),  # never chosen; now said no to
        ("newsletter", "sms"): ("subscribed", "weekly"),
    }
    centre = page.get(HOME)
    assert "unsubscribed from all emails" in status_message(centre)
    assert 'action="/p/acme/unsubscribe-all/email/undo"' in html_of(centre)

    clock.shift(timedelta(seconds=30))
    page.post("/p/acme/unsubscribe-all/email/undo")

    assert stored(contact) == {
        ("newsletter", "email"): ("subscribed", "weekly"),
        ("offers", "email"): ("subscribed", "immediate"),
        ("launches", "email"): ("unsubscribed", "immediate"),  # was not on before, stays off
        ("newsletter", "sms"): ("subscribed", "weekly"),
    }
    assert contact.channel_opt_outs.get(channel="email").opted_out is False
    assert [entry[1] for entry in outbox(contact)][-3:] == [
        "preferences.updated",
        "contact.unsubscribed",
        "preferences.updated",
    ]
    assert "unsubscribe-all/email/undo" not in html_of(page.get(HOME))


def test_undo_regrants_consent_that_unsubscribing_from_all_withdrew(
    page, brand, contact, topics, notice_version, clock
):
    subscribe(brand, notice_version, ("newsletter", "email"))

    page.post("/p/acme/unsubscribe-all/email")
    clock.shift(timedelta(seconds=30))
    page.post("/p/acme/unsubscribe-all/email/undo")

    assert ledger(contact) == [
        (1, "email-marketing", "granted", "api", notice_version.public_id),
        (2, "email-marketing", "withdrawn", "preference_centre", None),
        (3, "email-marketing", "granted", "preference_centre", notice_version.public_id),
    ]


def test_unsubscribe_from_all_of_an_unused_channel_is_a_404(page, brand, contact, topics):
    assert page.get("/p/acme/unsubscribe-all/post").status_code == 404


# --- What you've told us -----------------------------------------------------------------------


def test_correct_a_fact(page, brand, contact):
    form = page.get("/p/acme/about-you/phone")
    assert 'autocomplete="tel"' in html_of(form)
    assert '<label class="field__label" for="id_value">' in html_of(form)

    response = page.post("/p/acme/about-you/phone", {"value": "+49 151 23456789"})

    assert response.status_code == 303
    contact.refresh_from_db()
    assert contact.phone == "+4915123456789"


def test_an_invalid_fact_is_refused_with_its_error(page, brand, contact):
    response = page.post("/p/acme/about-you/timezone", {"value": "Mars/Olympus"})

    assert response.status_code == 422
    html = html_of(response)
    assert 'href="#id_value"' in html
    assert 'aria-invalid="true"' in html
    contact.refresh_from_db()
    assert contact.timezone == ""


def test_delete_a_fact(page, brand, contact):
    page.post("/p/acme/about-you/email/delete")

    contact.refresh_from_db()
    assert (contact.email, contact.email_hmac) == (None, None)


def test_an_unknown_fact_is_a_404(page):
    assert page.get("/p/acme/about-you/shoe-size").status_code == 404


# --- Download and delete my data -----------------------------------------------------------------


def code_from(mailoutbox) -> str:
    """The step-up code in the last email (preferences.step_up)."""
    [code] = re.findall(r"^(\d{6})$", mailoutbox[-1].body, re.MULTILINE)
    return code


def ask_for_code(page, path, django_capture_on_commit_callbacks, data=None):
    with django_capture_on_commit_callbacks(execute=True):  # the code goes out after commit
        return page.post(path, data or {})


def test_download_my_data(
    page, brand, contact, topics, notice_version, mailoutbox, django_capture_on_commit_callbacks
):
    subscribe(brand, notice_version, ("newsletter", "email"))

    asked = ask_for_code(page, "/p/acme/my-data", django_capture_on_commit_callbacks)

    assert asked.status_code == 303
    assert asked["Location"] == "/p/acme/verify/export"
    assert mailoutbox[-1].to == ["ada@example.com"]
    form = page.get("/p/acme/verify/export")
    print(html_of(form))
    assert "we've emailed a code to a•••@example.com" in html_of(form)
    assert 'autocomplete="one-time-code"' in html_of(form)

    response = page.post("/p/acme/verify/export", {"code": code_from(mailoutbox)})

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert response["Content-Disposition"] == 'attachment; filename="acme-my-data-2026-11-22.json"'
    data = json.loads(response.content)
    assert data["contact"]["external_id"] == "cust-1"
    assert data["contact"]["email"] == "ada@example.com"
    row = {
        "topic": "newsletter",
        "channel": "email",
        "status": "subscribed",
        "cadence": "weekly",
        "cadence_options": ["weekly", "daily", "monthly"],
    }
    assert row in data["preferences"]["subscriptions"]
    [event] = data["consent_history"]
    assert event["decision"] == "granted"
    assert event["notice_version"]["text"] == notice_version.text


def test_download_needs_a_post(page):
    assert page.get("/p/acme/my-data").status_code == 405


def test_no_download_without_the_code(page, contact, mailoutbox, django_capture_on_commit_callbacks):
    assert page.get("/p/acme/verify/export")["Location"] == "/p/acme/#your-data"  # nothing asked for
    ask_for_code(page, "/p/acme/my-data", django_capture_on_commit_callbacks)
    code = code_from(mailoutbox)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"

    refused = page.post("/p/acme/verify/export", {"code": wrong})

    assert refused.status_code == 422
    assert "application/json" not in refused["Content-Type"]
    assert "That code isn&#39;t right." in html_of(refused)
    assert 'class="error-summary"' in html_of(refused)
    assert 'aria-invalid="true"' in html_of(refused)
    assert page.post("/p/acme/verify/export", {"code": code}).status_code == 200
    used = page.post("/p/acme/verify/export", {"code": code})  # single use
    assert used.status_code == 422
    assert "That code has been used or replaced." in html_of(used)


def test_a_new_code_can_be_sent_from_the_verify_page(
    page, contact, mailoutbox, django_capture_on_commit_callbacks
):
    ask_for_code(page, "/p/acme/my-data", django_capture_on_commit_callbacks)
    first = code_from(mailoutbox)

    again = ask_for_code(page, "/p/acme/verify/export", django_capture_on_commit_callbacks, {"resend": "1"})

    assert again["Location"] == "/p/acme/verify/export"
    assert len(mailoutbox) == 2
    second = code_from(mailoutbox)
    if first != second:
        assert page.post("/p/acme/verify/export", {"code": first}).status_code == 422
    assert page.post("/p/acme/verify/export", {"code": second}).status_code == 200


def test_delete_my_data_asks_then_erases_and_ends_the_session(
    page, brand, contact, topics, notice_version, mailoutbox, django_capture_on_commit_callbacks
):
    subscribe(brand, notice_version, ("newsletter", "email"))
    before = counts()

    ask = page.get("/p/acme/delete")
    assert ask.status_code == 200
    assert "Yes, delete my data" in html_of(ask)
    assert counts() == before
    asked = ask_for_code(page, "/p/acme/delete", django_capture_on_commit_callbacks)
    assert asked["Location"] == "/p/acme/verify/erase"
    assert Contact.objects.get(pk=contact.pk).erased_at is None  # not without the code

    response = page.post("/p/acme/verify/erase", {"code": code_from(mailoutbox)})

    assert response.status_code == 303
    assert response["Location"] == "/p/acme/deleted"
    assert response.cookies[cookie_name()].value == ""  # the session ends
    contact = Contact.objects.get(pk=contact.pk)
    assert contact.erased_at is not None
    assert contact.email is None
    assert b"Open your preferences" in page.get(HOME).content
    assert page.get("/p/acme/deleted").status_code == 200


# --- Headers, GETs, sign-out ---------------------------------------------------------------------


def test_every_hosted_response_carries_the_security_headers(page, brand, contact, topics):
    for url in (HOME, "/p/acme/theme.css", "/p/acme/link", "/p/acme/unsubscribe-all/email", "/p/acme/nope"):
        assert_hosted_headers(page.get(url))


def test_the_theme_is_the_brands_validated_colour(client, brand):
    type(brand).objects.filter(pk=brand.pk).update(primary_colour="#FFDD00")

    css = client.get("/p/acme/theme.css")

    assert css["Content-Type"].startswith("text/css")
    assert css.content.decode() == (
        ":root { --brand: #ffdd00; --on-brand: #000000; --brand-ink: #1a1a1a; "
        '--font: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }\n'
    )


def test_a_bad_colour_never_reaches_the_css(client, brand):
    type(brand).objects.filter(pk=brand.pk).update(primary_colour="red;}*{")  # 7 characters: fits the column

    assert "--brand: #1f5f8b;" in client.get("/p/acme/theme.css").content.decode()


def test_get_requests_never_write(page, brand, contact, topics, notice_version):
    subscribe(brand, notice_version, ("newsletter", "email"))
    before = counts()

    for url in (
        HOME,
        "/p/acme/unsubscribe-all/email",
        "/p/acme/delete",
        "/p/acme/about-you/email",
        "/p/acme/link",
    ):
        assert page.get(url).status_code == 200

    assert counts() == before


def test_sign_out_ends_the_session(page):
    response = page.post("/p/acme/sign-out")

    assert response.status_code == 303
    assert b"Open your preferences" in page.get(HOME).content


def test_a_signed_out_cookie_replayed_opens_nothing(page, brand, contact, topics, notice_version):
    """Sign-out ends the session on the server: a copy of the cookie taken before it (another
    tab, a shared computer, a stolen cookie) shows the "email me a link" page, changes nothing,
    and the centre's GET still takes one round trip."""
    old_cookie = page.cookies[cookie_name()].value
    assert page.post("/p/acme/sign-out").status_code == 303
    replay = Client()
    replay.cookies[cookie_name()] = old_cookie
    before = counts()

    shown = replay.get(HOME)
    saved = replay.post("/p/acme/unsubscribe-all/email")

    assert shown.status_code == 200
    assert b"Open your preferences" in shown.content
    assert b"Newsletter" not in shown.content
    assert shown.cookies[cookie_name()].value == ""  # the stale cookie is cleared
    assert saved.status_code == 403
    assert counts() == before
    assert Contact.objects.get(pk=contact.pk).page_session_generation == 1


def test_a_new_link_after_signing_out_opens_the_centre_again(page, brand, contact):
    page.post("/p/acme/sign-out")

    open_centre(page, brand, contact)

    assert b"Open your preferences" not in page.get(HOME).content
    assert b'action="/p/acme/sign-out"' in page.get(HOME).content


def test_signing_out_is_scoped_to_the_contact_of_its_brand(page, client, brand, other_brand, contact):
    outsider, _ = contact_upsert(brand=other_brand, external_id="cust-1")
    other, _ = contact_upsert(brand=brand, external_id="cust-2")

    page.post("/p/acme/sign-out")

    generations = dict(Contact.objects.values_list("pk", "page_session_generation"))
    assert generations == {contact.pk: 1, outsider.pk: 0, other.pk: 0}


def test_the_centre_without_a_session_offers_a_new_link(client, brand):
    response = client.get(HOME)

    assert response.status_code == 200
    assert b'action="/p/acme/link"' in response.content


def test_an_unknown_brand_is_a_404(client, brand):
    assert client.get("/p/nobody/").status_code == 404


def test_many_topics_of_a_new_brand(client, brand, contact, purpose):
    """Topics can be created after the page loaded once; the form adapts."""
    topic_create(actor=TEST_ACTOR, brand=brand, slug="late", name="Late", purpose=purpose)
    open_centre(client, brand, contact)

    assert b'name="sub.late.email"' in client.get(HOME).content


# --- Global Privacy Control, double opt-in mail ----------------------------------------------------


@pytest.fixture
def sale_purpose(brand, make_purpose):
    purpose = make_purpose(brand, "sale-of-data")
    type(purpose).objects.filter(pk=purpose.pk).update(sale_or_sharing=True)
    return purpose


def test_a_gpc_signal_is_honoured_and_said_so(page, brand, contact, sale_purpose):
    response = page.get(HOME, HTTP_SEC_GPC="1")

    assert "Opt-out preference signal honoured" in html_of(response)
    assert ledger(contact) == [(1, "sale-of-data", "withdrawn", "gpc", None)]
    later = page.get(HOME)
    assert "Opt-out preference signal honoured" not in html_of(later)
    assert page.get(HOME, HTTP_SEC_GPC="1").status_code == 200
    assert len(ledger(contact)) == 1  # recorded once; an absent signal is not an opt-in


@pytest.mark.parametrize("value", ["0", "true", "1 ", "yes"])
def test_other_gpc_values_are_no_signal(page, brand, contact, sale_purpose, value):
    html = html_of(page.get(HOME, HTTP_SEC_GPC=value))

    assert "Opt-out preference signal honoured" not in html
    assert ledger(contact) == []


def test_well_known_gpc_json_is_served(client, settings):
    settings.GPC_LAST_UPDATE = "2026-11-23"

    response = client.get("/.well-known/gpc.json")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert json.loads(response.content) == {"gpc": True, "lastUpdate": "2026-11-23"}


def test_ticking_a_double_opt_in_topic_mails_a_confirmation_and_it_can_be_resent(
    page, brand, contact, topics, news_version, clock, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        page.post(
            "/p/acme/subscriptions",
            {"sub.launches.email": "on", "notice.product-news": news_version.public_id},
        )
    assert [m.to for m in mailoutbox] == [["ada@example.com"]]
    confirm_path = re.search(r"http://127\.0\.0\.1:8000(/p/acme/c/\S+)", mailoutbox[0].body).group(1)
    html = html_of(page.get(HOME))
    assert 'form="resend-launches"' in html

    with django_capture_on_commit_callbacks(execute=True):
        page.post("/p/acme/confirmation/launches/resend")
    assert "moments ago" in status_message(page.get(HOME))
    assert len(mailoutbox) == 1

    clock.shift(timedelta(minutes=10))
    with django_capture_on_commit_callbacks(execute=True):
        page.post("/p/acme/confirmation/launches/resend")
    assert "sent the confirmation email again" in status_message(page.get(HOME))
    assert len(mailoutbox) == 2

    clock.shift(timedelta(minutes=1))
    assert page.post(confirm_path).status_code == 200  # the first email's link still confirms
    assert stored(contact) == {("launches", "email"): ("subscribed", "immediate")}


def test_correct_the_email_address(page, brand, contact, mailoutbox, django_capture_on_commit_callbacks):
    asked = ask_for_code(
        page, "/p/acme/about-you/email", django_capture_on_commit_callbacks, {"value": " Grace@Example.COM "}
    )

    assert asked["Location"] == "/p/acme/verify/email"
    assert mailoutbox[-1].to == ["grace@example.com"]  # the code proves the new address works
    contact.refresh_from_db()
    assert contact.email == "ada@example.com"  # nothing changes before the code comes back
    assert "g•••@example.com" in html_of(page.get("/p/acme/verify/email"))

    response = page.post("/p/acme/verify/email", {"code": code_from(mailoutbox)})

    assert response.status_code == 303
    contact.refresh_from_db()
    assert contact.email == "grace@example.com"
    assert b"grace@example.com" in page.get(HOME).content
