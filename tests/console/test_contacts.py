"""The support desk: finding one contact (by external id, or by exact email through its HMAC),
their file in a fixed number of queries, pausing and resuming their marketing, and a fresh
preference link, with the exact rows, outbox events and audit entries each writes, and
nothing of another brand's."""

from __future__ import annotations

import json
import re
import smtplib
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from brands.models import AuditEntry
from consent.erasure import contact_erase
from consent.models import ConsentEvent
from consent.services import contact_upsert
from preferences.models import Hold
from sync.models import Event
from tests.actors import audit_mark, audit_rows
from tests.console.conftest import decide

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def agent(brand, make_staff):
    return make_staff(brand, "support")


@pytest.fixture
def desk(agent, signed_in):
    return signed_in(agent)


@pytest.fixture
def ada(brand):
    return contact_upsert(brand=brand, external_id="cust-1", email="Ada@Example.com")[0]


def outbox(contact):
    return [
        (e.sequence, e.type, e.data)
        for e in Event.objects.filter(contact_ref=contact.pk).order_by("sequence")
    ]


def written():
    return (
        ConsentEvent.objects.count(),
        Event.objects.count(),
        Hold.objects.count(),
        AuditEntry.objects.count(),
        len(mail.outbox),
    )


def page_of(brand, contact):
    return f"/console/{brand.slug}/contacts/{contact.pk}/"


# --- Finding a contact -----------------------------------------------------------------------


def test_support_finds_a_contact_by_external_id(brand, ada, desk):
    response = desk.post(
        "/console/acme/contacts/", {"action": "find", "by": "external_id", "value": "cust-1"}
    )
    assert (response.status_code, response["Location"]) == (302, page_of(brand, ada))


@pytest.mark.parametrize("typed", ["ada@example.com", "  ADA@example.COM "])
def test_support_finds_a_contact_by_exact_email_through_its_hmac(brand, ada, desk, typed):
    response = desk.post("/console/acme/contacts/", {"action": "find", "by": "email", "value": typed})
    assert (response.status_code, response["Location"]) == (302, page_of(brand, ada))


def test_an_address_is_never_matched_in_part_nor_as_an_id(brand, ada, desk):
    partial = desk.post("/console/acme/contacts/", {"action": "find", "by": "email", "value": "ada@example"})
    assert partial.status_code == 400
    assert "Enter an email address in the form name@example.com." in partial.content.decode()
    as_id = desk.post("/console/acme/contacts/", {"action": "find", "by": "external_id", "value": "cust"})
    assert as_id.status_code == 200
    assert "No contact of this brand has that external id or email address." in as_id.content.decode()
    assert "cust-1" not in as_id.content.decode()


def test_another_brands_contact_is_not_found_and_the_answer_reveals_nothing(brand, other_brand, ada, desk):
    contact_upsert(brand=other_brand, external_id="theirs-1", email="bob@example.com")

    def answer(by, value):
        response = desk.post("/console/acme/contacts/", {"action": "find", "by": by, "value": value})
        assert response.status_code == 200
        body = re.sub(r'name="csrfmiddlewaretoken" value="\w+"', "", response.content.decode())
        return body.replace(value, "VALUE")

    # Known to another brand or to nobody: the same page.
    assert answer("email", "bob@example.com") == answer("email", "nobody@example.com")
    assert answer("external_id", "theirs-1") == answer("external_id", "nobody-1")
    assert "theirs-1" not in answer("email", "bob@example.com")


def test_several_contacts_with_one_address_are_offered_to_choose_from(brand, ada, desk):
    with time_machine.travel(NOW + timedelta(minutes=1), tick=False):
        second = contact_upsert(brand=brand, external_id="cust-2", email="ada@example.com")[0]
    response = desk.post(
        "/console/acme/contacts/", {"action": "find", "by": "email", "value": "ada@example.com"}
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert body.index(f'href="{page_of(brand, second)}"') < body.index(f'href="{page_of(brand, ada)}"')


def test_an_erased_contact_is_not_found_by_its_old_address(brand, ada, desk):
    contact_erase(brand=brand, contact=ada, reason="asked", requested_via="api")
    response = desk.post(
        "/console/acme/contacts/", {"action": "find", "by": "email", "value": "ada@example.com"}
    )
    assert response.status_code == 200
    assert "No contact of this brand" in response.content.decode()


@pytest.mark.parametrize("role", ["viewer", "editor"])
def test_viewers_and_editors_have_no_support_desk(brand, ada, make_staff, signed_in, role):
    client = signed_in(make_staff(brand, role))
    before = written()
    assert client.get("/console/acme/contacts/").status_code == 403
    assert client.get(page_of(brand, ada)).status_code == 403
    assert (
        client.post(page_of(brand, ada), {"action": "start_hold", "days": "14", "reason": "x"}).status_code
        == 403
    )
    assert client.post(page_of(brand, ada), {"action": "send_link", "channel": "email"}).status_code == 403
    assert written() == before
    assert 'href="/console/acme/contacts/"' not in client.get("/console/acme/").content.decode()


def test_the_navigation_offers_the_desk_to_support(desk):
    assert 'href="/console/acme/contacts/"' in desk.get("/console/acme/").content.decode()


# --- The contact's file ----------------------------------------------------------------------


def test_the_file_shows_what_the_contact_told_consents_subscriptions_holds_and_history(
    brand, ada, desk, topics, purpose
):
    decide(brand, "cust-1", purpose, "granted")
    decide(brand, "cust-1", purpose, "withdrawn")
    body = desk.get(page_of(brand, ada)).content.decode()
    assert "ada@example.com" in body  # what the contact told the brand
    assert "Acme" in body
    history = body[body.index('id="history"') :]
    # Newest first, each with its receipt.
    events = list(ConsentEvent.objects.filter(contact=ada).order_by("-sequence"))
    assert [e.sequence for e in events] == [2, 1]
    assert history.index(f"/receipts/{events[0].pk}/") < history.index(f"/receipts/{events[1].pk}/")
    consents = body[body.index('id="consents-title"') : body.index('id="subscriptions-title"')]
    assert "<code>email-marketing</code>" in consents
    assert "Withdrawn" in consents
    subscriptions = body[body.index('id="subscriptions-title"') : body.index('id="history"')]
    assert subscriptions.count("<tr>") == 1 + 4  # newsletter (email, sms), offers, launches
    assert "No pauses." in body


def test_the_file_takes_the_same_queries_whatever_the_length_of_the_history(
    brand, ada, desk, purpose, topics
):
    decide(brand, "cust-1", purpose, "granted")

    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert desk.get(page_of(brand, ada)).status_code == 200
        return len(captured.captured_queries)

    queries()  # once to warm what a process keeps between requests
    short = queries()
    for n in range(40):
        decide(brand, "cust-1", purpose, "withdrawn" if n % 2 == 0 else "granted")
    assert queries() == short


def test_the_history_pages_by_keyset_newest_first(brand, ada, desk, purpose):
    for n in range(30):
        decide(brand, "cust-1", purpose, "granted" if n % 2 == 0 else "withdrawn")
    first = desk.get(page_of(brand, ada)).content.decode()
    assert f'href="{page_of(brand, ada)}?before=6#history"' in first
    shown = [e.pk for e in ConsentEvent.objects.filter(contact=ada, sequence__gte=6)]
    assert all(f"/receipts/{pk}/" in first for pk in shown)
    second = desk.get(page_of(brand, ada) + "?before=6").content.decode()
    rest = ConsentEvent.objects.filter(contact=ada).order_by("-sequence")
    assert [f"/receipts/{e.pk}/" in second for e in rest] == [False] * 25 + [True] * 5
    assert f'href="{page_of(brand, ada)}?before=' not in second
    for bad in ["x", "0", "-1", "9" * 30]:
        assert desk.get(page_of(brand, ada) + f"?before={bad}").status_code == 400


def test_another_brands_contact_is_404_by_id_and_nothing_is_written(brand, other_brand, desk, purpose):
    theirs = contact_upsert(brand=other_brand, external_id="theirs-1", email="bob@example.com")[0]
    url = f"/console/acme/contacts/{theirs.pk}/"
    before = written()
    assert desk.get(url).status_code == 404
    assert desk.post(url, {"action": "start_hold", "days": "14", "reason": "complaint"}).status_code == 404
    assert desk.post(url, {"action": "send_link", "channel": "email"}).status_code == 404
    assert desk.get("/console/acme/contacts/999999/").status_code == 404
    assert written() == before


def test_a_receipt_is_shown_and_downloaded_only_under_its_own_contact(brand, other_brand, ada, desk, purpose):
    decide(brand, "cust-1", purpose, "granted")
    event = ConsentEvent.objects.get(contact=ada)
    url = f"{page_of(brand, ada)}receipts/{event.pk}/"
    page = desk.get(url)
    assert page.status_code == 200
    assert "KI-CR-v1.1.0" in page.content.decode()
    signed = desk.get(url + "?download=kantara")
    assert signed["Content-Disposition"] == f'attachment; filename="receipt-{event.pk}-kantara.json"'
    assert set(json.loads(signed.content)) == {"receipt", "jws", "kid", "jwks_url"}
    dpv = desk.get(url + "?download=dpv")
    assert (dpv["Content-Type"], json.loads(dpv.content)["@type"]) == (
        "application/ld+json",
        "dpv:ConsentRecord",
    )
    assert desk.get(url + "?download=pdf").status_code == 400
    # Another contact's event under this contact, and this event under another brand's contact.
    other = contact_upsert(brand=brand, external_id="cust-2")[0]
    assert desk.get(f"{page_of(brand, other)}receipts/{event.pk}/").status_code == 404
    theirs = contact_upsert(brand=other_brand, external_id="theirs-1")[0]
    assert desk.get(f"/console/acme/contacts/{theirs.pk}/receipts/{event.pk}/").status_code == 404


# --- Holds -----------------------------------------------------------------------------------


def test_support_pauses_marketing_for_14_days_with_a_reason(brand, ada, agent, desk, topics, make_client):
    mark = audit_mark()
    response = desk.post(
        page_of(brand, ada),
        {"action": "start_hold", "days": "14", "until": "", "reason": "Complaint, no upsell"},
    )
    assert (response.status_code, response["Location"]) == (302, page_of(brand, ada))
    hold = Hold.objects.get()
    until = NOW + timedelta(days=14)
    assert (hold.contact_id, hold.until, hold.started_by, hold.reason, hold.recorded_by, hold.channels) == (
        ada.pk,
        until,
        "agent",
        "Complaint, no upsell",
        f"console:staff:{agent.pk}",
        [],
    )
    assert list(hold.topics.all()) == []
    # The webhook body is the API's for an agent's hold.
    assert outbox(ada) == [
        (
            1,
            "hold.started",
            {
                "contact": "cust-1",
                "sequence": 1,
                "hold": hold.public_id,
                "until": "2026-12-06T10:00:00.000000Z",
                "topics": [],
                "channels": [],
                "started_by": "agent",
            },
        )
    ]
    assert audit_rows(brand, since_id=mark) == [
        (
            "staff",
            "support@acme.test",
            "hold.started",
            "contact",
            str(ada.pk),
            None,
            {
                "hold": hold.public_id,
                "until": until.isoformat(),
                "topics": [],
                "channels": [],
                "started_by": "agent",
            },
            "Complaint, no upsell",
        )
    ]
    assert ConsentEvent.objects.count() == 0
    page = desk.get(page_of(brand, ada)).content.decode()
    assert "Marketing paused." in page
    assert "Complaint, no upsell" in page
    api = make_client(brand, ["preferences:read"])
    holds = api.get("/api/v1/contacts/cust-1/preferences").json()["holds"]
    assert [(h["id"], h["until"], h["started_by"], h["reason"]) for h in holds] == [
        (hold.public_id, "2026-12-06T10:00:00Z", "agent", "Complaint, no upsell")
    ]


def test_a_pause_until_a_date_ends_as_that_day_does(brand, ada, desk, topics):
    response = desk.post(
        page_of(brand, ada), {"action": "start_hold", "until": "2026-12-24", "reason": "Until Christmas"}
    )
    assert response.status_code == 302
    assert Hold.objects.get().until == datetime(2026, 12, 25, tzinfo=UTC)


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"days": "14", "reason": ""}, "Give the reason for the pause."),
        ({"days": "14", "reason": "   "}, "Give the reason for the pause."),
        ({"days": "", "until": "", "reason": "x"}, "Give a number of days or a date."),
        ({"days": "14", "until": "2026-12-24", "reason": "x"}, "Give a number of days or a date, not both."),
        ({"until": "2026-11-21", "reason": "x"}, "The date must be today or later."),
        ({"until": "24/12/2026", "reason": "x"}, "Enter a date, such as 2027-01-31."),
        ({"days": "0", "reason": "x"}, "Pause for at least 1 day."),
        ({"days": "366", "reason": "x"}, "Pause for at most 365 days."),
        ({"days": "two", "reason": "x"}, "Enter a whole number of days."),
        ({"days": "14", "reason": "x" * 501}, "Keep the reason under 500 characters."),
    ],
)
def test_a_bad_pause_is_refused_as_such_and_writes_nothing(brand, ada, desk, topics, form, message):
    before = written()
    response = desk.post(page_of(brand, ada), {"action": "start_hold", **form})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert written() == before


def test_support_ends_a_pause(brand, ada, desk, topics):
    desk.post(page_of(brand, ada), {"action": "start_hold", "days": "14", "reason": "Complaint"})
    hold = Hold.objects.get()
    mark = audit_mark()
    # Two hours on (a staff session lasts eight).
    with time_machine.travel(NOW + timedelta(hours=2), tick=False):
        response = desk.post(page_of(brand, ada), {"action": "end_hold", "hold": hold.public_id})
        assert (response.status_code, response["Location"]) == (302, page_of(brand, ada))
        again = desk.post(page_of(brand, ada), {"action": "end_hold", "hold": hold.public_id})
        assert (again.status_code, again["Location"]) == (302, page_of(brand, ada))
    hold.refresh_from_db()
    ended = NOW + timedelta(hours=2)
    assert (hold.ended_at, hold.end_reason) == (ended, "ended")
    assert outbox(ada)[1:] == [
        (
            2,
            "hold.ended",
            {
                "contact": "cust-1",
                "sequence": 2,
                "hold": hold.public_id,
                "ended_at": "2026-11-22T12:00:00.000000Z",
                "reason": "ended",
            },
        )
    ]
    # Ending it again changed nothing and wrote no second entry.
    assert audit_rows(brand, since_id=mark) == [
        (
            "staff",
            "support@acme.test",
            "hold.ended",
            "contact",
            str(ada.pk),
            {"hold": hold.public_id, "until": (NOW + timedelta(days=14)).isoformat(), "ended_at": None},
            {"hold": hold.public_id, "ended_at": ended.isoformat(), "end_reason": "ended"},
            "",
        )
    ]


def test_another_contacts_hold_cannot_be_ended_from_this_page(brand, other_brand, ada, desk, topics):
    other = contact_upsert(brand=brand, external_id="cust-2")[0]
    desk.post(page_of(brand, other), {"action": "start_hold", "days": "14", "reason": "Complaint"})
    hold = Hold.objects.get()
    before = written()
    response = desk.post(page_of(brand, ada), {"action": "end_hold", "hold": hold.public_id})
    assert response.status_code == 422
    assert "That pause is not one of this contact" in response.content.decode()
    assert desk.post(page_of(brand, ada), {"action": "end_hold"}).status_code == 400
    assert written() == before
    assert Hold.objects.get().ended_at is None


def test_an_erased_contact_can_be_read_and_not_changed(brand, ada, desk, topics):
    contact_erase(brand=brand, contact=ada, reason="asked", requested_via="api")
    page = desk.get(page_of(brand, ada))
    assert page.status_code == 200
    assert "This contact was erased" in page.content.decode()
    before = written()
    hold = desk.post(page_of(brand, ada), {"action": "start_hold", "days": "14", "reason": "x"})
    assert hold.status_code == 409
    link = desk.post(page_of(brand, ada), {"action": "send_link", "channel": "email"})
    assert link.status_code == 409
    assert written() == before


# --- A fresh link ----------------------------------------------------------------------------


def test_support_sends_a_fresh_link_that_only_the_contact_sees(brand, ada, desk, settings):
    settings.PUBLIC_BASE_URL = "http://testserver"
    mark = audit_mark()
    response = desk.post(page_of(brand, ada), {"action": "send_link", "channel": "email"}, follow=True)
    assert response.status_code == 200
    body = response.content.decode()
    assert "A new link to their preferences is on its way to their email address." in body
    assert "/p/acme/t/" not in body
    [message] = mail.outbox
    assert message.to == ["ada@example.com"]
    assert "http://testserver/p/acme/t/" in message.body
    assert audit_rows(brand, since_id=mark) == [
        (
            "staff",
            "support@acme.test",
            "link.sent",
            "contact",
            str(ada.pk),
            None,
            {"kind": "manage", "channel": "email"},
            "",
        )
    ]
    assert Event.objects.count() == 0


def test_links_to_one_address_are_limited_with_the_hosted_pages(brand, ada, desk):
    for _ in range(3):
        assert desk.post(page_of(brand, ada), {"action": "send_link", "channel": "email"}).status_code == 302
    before = written()
    refused = desk.post(page_of(brand, ada), {"action": "send_link", "channel": "email"})
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert written() == before


def test_no_link_without_an_address_and_none_recorded_when_mail_fails(brand, ada, desk):
    bare = contact_upsert(brand=brand, external_id="cust-2")[0]
    before = written()
    assert desk.post(page_of(brand, bare), {"action": "send_link", "channel": "email"}).status_code == 409
    assert desk.post(page_of(brand, ada), {"action": "send_link"}).status_code == 400
    with mock.patch(
        "django.core.mail.EmailMultiAlternatives.send", side_effect=smtplib.SMTPServerDisconnected()
    ):
        failed = desk.post(page_of(brand, ada), {"action": "send_link", "channel": "email"})
    assert failed.status_code == 503
    assert "The email could not be sent, and nothing was recorded." in failed.content.decode()
    assert written() == before
