"""What every destination must hear, and how it hears it: contact.erased whatever the event
filter, per-endpoint pseudonyms, and opt-outs a destination has not acknowledged in 15 business
days flagged in the API and emailed to the brand once."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.conf import settings

from brands.models import Scope
from consent.erasure import contact_erase
from sync import tasks
from sync.delivery import redelivery
from sync.delivery.opt_outs import business_days_after, overdue_before
from sync.models import Delivery, Endpoint, Event, EventType
from sync.outbox.serializers import timestamp
from tests.actors import TEST_ACTOR
from tests.conftest import current_version
from tests.sync.webhook_support import deliveries, fanout, make_endpoint, send, write_event

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("published")]


def grant(api, purpose, external_id="cust-1"):
    body = {
        "purpose": purpose.slug,
        "decision": "granted",
        "notice_version": current_version(purpose).public_id,
    }
    response = api.post(f"/api/v1/contacts/{external_id}/consents", body, format="json")
    assert response.status_code == 201


# --- contact.erased reaches every endpoint ---------------------------------------------------


def test_an_endpoint_that_filters_event_types_still_receives_contact_erased(
    brand, contact, api, purpose, receiver
):
    endpoint = make_endpoint(brand, receiver.url(), event_types=["consent.granted"])
    receiver.secrets.append(endpoint.secret)
    grant(api, purpose)

    contact_erase(brand=brand, contact=contact, requested_via="api")
    fanout(endpoint)

    # The grant, not the erasure's withdrawal (filtered out), and the erasure.
    assert [d.type for d in deliveries(endpoint)] == ["consent.granted", "contact.erased"]
    for delivery in deliveries(endpoint):
        assert send(delivery).outcome == "succeeded"
    erased = Event.objects.get(brand=brand, type=EventType.CONTACT_ERASED)
    assert json.loads(receiver.received[1].body) == {
        "type": "contact.erased",
        "timestamp": timestamp(erased.created_at),
        "data": {
            "contact": "cust-1",
            "sequence": erased.sequence,
            "erased_at": erased.data["erased_at"],
            "requested_via": "api",
        },
    }
    assert receiver.received[1].payload["type"] == "contact.erased"  # verified signature
    # The filter itself is what the brand set.
    assert Endpoint.objects.get(pk=endpoint.pk).event_types == ["consent.granted"]


# --- pseudonymous contacts ---------------------------------------------------------------------


def expected_pseudonym(endpoint_public_id: str, contact_ref: int) -> str:
    """The derivation the README documents, written out again."""
    key = hmac.new(
        settings.IDENTIFIER_PEPPER.encode(),
        b"webhook-pseudonym\x00" + endpoint_public_id.encode(),
        hashlib.sha256,
    ).digest()
    return "psn_" + hmac.new(key, str(contact_ref).encode(), hashlib.sha256).hexdigest()[:32]


def test_pseudonymous_endpoints_receive_their_own_stable_pseudonym(brand, make_client, receiver):
    admin = make_client(brand, [Scope.ADMIN])
    created = admin.post(
        "/api/v1/endpoints", {"url": receiver.url(), "pseudonymous_contacts": True}, format="json"
    )
    assert created.status_code == 201
    assert created.json()["pseudonymous_contacts"] is True
    first = Endpoint.objects.get(public_id=created.json()["id"])
    second = make_endpoint(brand, receiver.url(), pseudonymous_contacts=True)
    plain = make_endpoint(brand, receiver.url())
    receiver.secrets.extend([first.secret, second.secret, plain.secret])
    one = write_event(brand, 7, 1)
    two = write_event(brand, 7, 2, EventType.CONSENT_GRANTED)

    for endpoint in (first, second, plain):
        fanout(endpoint)
        for delivery in deliveries(endpoint):
            assert send(delivery).outcome == "succeeded"

    bodies = [json.loads(item.body) for item in receiver.received]
    for index, endpoint in enumerate((first, second)):
        name = expected_pseudonym(endpoint.public_id, 7)
        assert bodies[2 * index : 2 * index + 2] == [
            {
                "type": "consent.withdrawn",
                "timestamp": timestamp(one.created_at),
                "data": {"contact": name, "sequence": 1, "purpose": "email-marketing"},
            },
            {
                "type": "consent.granted",
                "timestamp": timestamp(two.created_at),
                "data": {"contact": name, "sequence": 2, "purpose": "email-marketing"},
            },
        ]
    assert expected_pseudonym(first.public_id, 7) != expected_pseudonym(second.public_id, 7)
    assert [body["data"]["contact"] for body in bodies[4:]] == ["cust-7", "cust-7"]
    assert not any("cust-7" in item.body for item in receiver.received[:4])


def test_the_pseudonym_can_be_switched_on_through_patch(brand, make_client, receiver):
    admin = make_client(brand, [Scope.ADMIN])
    endpoint = make_endpoint(brand, receiver.url())
    response = admin.patch(
        f"/api/v1/endpoints/{endpoint.public_id}", {"pseudonymous_contacts": True}, format="json"
    )
    assert (response.status_code, response.json()["pseudonymous_contacts"]) == (200, True)
    receiver.secrets.append(endpoint.secret)
    write_event(brand, 3, 1)
    fanout(endpoint)
    [delivery] = deliveries(endpoint)
    assert json.loads(delivery.body)["data"]["contact"] == expected_pseudonym(endpoint.public_id, 3)


def test_an_erased_contact_keeps_its_pseudonym_at_a_pseudonymous_endpoint(
    brand, contact, api, purpose, receiver
):
    endpoint = make_endpoint(brand, receiver.url(), pseudonymous_contacts=True)
    receiver.secrets.append(endpoint.secret)
    grant(api, purpose)
    fanout(endpoint)

    contact_erase(brand=brand, contact=contact, requested_via="api")
    fanout(endpoint)

    name = expected_pseudonym(endpoint.public_id, contact.pk)
    assert [(d.type, json.loads(d.body)["data"]["contact"]) for d in deliveries(endpoint)] == [
        ("consent.granted", name),
        ("consent.withdrawn", name),
        ("contact.erased", name),
    ]


# --- opt-outs not acknowledged -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "count", "expected"),
    [
        (date(2026, 3, 2), 15, date(2026, 3, 23)),  # Monday: three weeks later, Monday
        (date(2026, 3, 6), 1, date(2026, 3, 9)),  # Friday: the next Monday
        (date(2026, 3, 7), 15, date(2026, 3, 27)),  # Saturday: the third Friday after
    ],
)
def test_business_days(day, count, expected):
    assert business_days_after(day, count) == expected


def test_the_overdue_line_is_the_end_of_the_fifteenth_business_day():
    # Made on Monday 2 March: due by the end of Monday 23 March.
    assert overdue_before(datetime(2026, 3, 23, 23, 59, tzinfo=UTC)) == datetime(2026, 3, 2, tzinfo=UTC)
    assert overdue_before(datetime(2026, 3, 24, 0, 0, tzinfo=UTC)) == datetime(2026, 3, 3, tzinfo=UTC)
    # Opt-outs of a weekend count from the Monday after: by Saturday 28 March those of Friday
    # 6 March, Saturday 7 and Sunday 8 are all overdue, and nothing more falls due until Tuesday.
    assert overdue_before(datetime(2026, 3, 28, 12, tzinfo=UTC)) == datetime(2026, 3, 9, tzinfo=UTC)
    assert overdue_before(datetime(2026, 3, 30, 23, 59, tzinfo=UTC)) == datetime(2026, 3, 9, tzinfo=UTC)
    assert overdue_before(datetime(2026, 3, 31, 0, 0, tzinfo=UTC)) == datetime(2026, 3, 10, tzinfo=UTC)


MONDAY = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
DUE_END = datetime(2026, 3, 24, 0, 0, tzinfo=UTC)  # after Monday 23 March, the 15th business day


def test_unacknowledged_opt_outs_are_flagged_and_emailed_once(
    brand, make_client, receiver, mailoutbox, settings
):
    settings.WEBHOOK_BATCH_SIZE = 1  # each send() sends the one delivery it names
    brand.contact_email = "privacy@acme.example"
    brand.save(update_fields=["contact_email"])
    admin = make_client(brand, [Scope.ADMIN])
    endpoint = make_endpoint(brand, receiver.url())
    quiet = make_endpoint(brand, receiver.url())  # acknowledges everything
    receiver.secrets.extend([endpoint.secret, quiet.secret])
    url = f"/api/v1/endpoints/{endpoint.public_id}"

    with time_machine.travel(MONDAY, tick=False):
        write_event(brand, 1, 1, EventType.CONSENT_WITHDRAWN)  # answered 500: never acknowledged
        write_event(brand, 2, 1, EventType.CONTACT_UNSUBSCRIBED)  # left pending
        write_event(brand, 3, 1, EventType.CONSENT_GRANTED)  # not an opt-out
        write_event(brand, 4, 1, EventType.CONSENT_WITHDRAWN)  # acknowledged (2xx)
        fanout(endpoint)
        fanout(quiet)
        withdrawn, unsubscribed, granted, acknowledged = deliveries(endpoint)
        receiver.answers = [(500, {}, "down"), (500, {}, "down"), (200, {}, "ok")]
        assert send(withdrawn).outcome == "failed"
        assert send(granted).outcome == "failed"
        assert send(acknowledged).outcome == "succeeded"
        for delivery in deliveries(quiet):
            assert send(delivery).outcome == "succeeded"

    with time_machine.travel(DUE_END - timedelta(minutes=1), tick=False):
        assert admin.get(url).json()["opt_outs_overdue"] == 0
        assert tasks.opt_outs_overdue_notify() == 0
    assert mailoutbox == []

    with time_machine.travel(DUE_END, tick=False):
        body = admin.get(url).json()
        assert (body["opt_outs_overdue"], body["opt_outs_overdue_since"]) == (2, "2026-03-02T10:00:00Z")
        listed = admin.get("/api/v1/endpoints").json()["endpoints"]
        assert [(e["id"], e["opt_outs_overdue"]) for e in listed] == [
            (endpoint.public_id, 2),
            (quiet.public_id, 0),
        ]
        overdue = admin.get(f"{url}/deliveries?overdue=true").json()["deliveries"]
        assert [d["id"] for d in overdue] == [unsubscribed.public_id, withdrawn.public_id]
        assert admin.get(f"{url}/deliveries?overdue=maybe").status_code == 422
        assert tasks.opt_outs_overdue_notify() == 1
    with time_machine.travel(DUE_END + timedelta(hours=5), tick=False):
        assert tasks.opt_outs_overdue_notify() == 0  # told already

    [mail] = mailoutbox
    assert mail.to == ["privacy@acme.example"]
    assert mail.subject == "[Candor] A webhook endpoint of Acme Ltd has not acknowledged opt-outs"
    assert (
        f"The webhook endpoint {endpoint.public_id} of Acme Ltd has not acknowledged 2 opt-outs "
        "(withdrawals or unsubscribes) within 15 business days. The oldest was sent on 2026-03-02."
    ) in mail.body
    assert Endpoint.objects.get(pk=endpoint.pk).opt_outs_flagged_at == DUE_END

    # Acknowledged at last: the period ends, and the flag with it.
    with time_machine.travel(DUE_END + timedelta(days=1), tick=False):
        receiver.answers = [(200, {}, "ok")]
        for delivery in (withdrawn, unsubscribed):
            queued = redelivery.deliveries_redeliver(endpoint=endpoint, delivery=delivery, actor=TEST_ACTOR)
            assert queued == 1
            assert send(delivery).outcome == "succeeded"
        assert admin.get(url).json()["opt_outs_overdue"] == 0
        assert tasks.opt_outs_overdue_notify() == 0
    assert Endpoint.objects.get(pk=endpoint.pk).opt_outs_flagged_at is None

    # A later opt-out left unacknowledged is a new period: told again, once.
    later = datetime(2026, 4, 6, 9, 0, tzinfo=UTC)  # a Monday
    with time_machine.travel(later, tick=False):
        write_event(brand, 5, 1, EventType.CONSENT_WITHDRAWN)
        fanout(endpoint)
    with time_machine.travel(later + timedelta(days=30), tick=False):
        assert tasks.opt_outs_overdue_notify() == 1
        assert tasks.opt_outs_overdue_notify() == 0
    assert len(mailoutbox) == 2
    assert "has not acknowledged 1 opt-out (a withdrawal or an unsubscribe)" in mailoutbox[1].body
    assert Delivery.objects.filter(endpoint=quiet).exclude(status="succeeded").count() == 0


def test_the_email_goes_to_the_owners_when_the_brand_has_no_contact_email(brand, receiver, mailoutbox):
    from django.contrib.auth import get_user_model

    from brands.models import Membership

    owner = get_user_model().objects.create_user(username="owner", email="owner@acme.example", password="x")
    Membership.objects.create(user=owner, brand=brand, role=Membership.Role.OWNER)
    endpoint = make_endpoint(brand, receiver.url())
    with time_machine.travel(MONDAY, tick=False):
        write_event(brand, 1, 1, EventType.CONTACT_UNSUBSCRIBED)
        fanout(endpoint)
    with time_machine.travel(DUE_END, tick=False):
        assert tasks.opt_outs_overdue_notify() == 1
    assert [mail.to for mail in mailoutbox] == [["owner@acme.example"]]


def test_the_email_speaks_the_brands_language(brand, receiver, mailoutbox):
    brand.contact_email = "datenschutz@acme.example"
    brand.default_language = "de"
    brand.save(update_fields=["contact_email", "default_language"])
    endpoint = make_endpoint(brand, receiver.url())
    with time_machine.travel(MONDAY, tick=False):
        write_event(brand, 1, 1, EventType.CONSENT_WITHDRAWN)
        fanout(endpoint)
    with time_machine.travel(DUE_END, tick=False):
        assert tasks.opt_outs_overdue_notify() == 1
    [mail] = mailoutbox
    assert mail.subject == "[Candor] Ein Webhook-Endpunkt von Acme Ltd hat Widersprüche nicht bestätigt"
    assert f"Der Webhook-Endpunkt {endpoint.public_id} von Acme Ltd hat 1 Widerspruch" in mail.body
