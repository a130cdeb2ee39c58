"""Erasure reaches the webhook log: deliveries about an erased contact, sent or not, name the
pseudonym and hold no address, and the receivers' answers to them are gone."""

from __future__ import annotations

import json
import threading
from typing import Any
from unittest import mock

import pytest
from django.db import connection as db_connection
from django.db import transaction
from django.utils import timezone
from werkzeug import Request, Response

from consent.erasure import contact_erase
from consent.identifiers import erased_external_id
from sync.delivery import endpoints, erasure
from sync.delivery import fanout as fanout_module
from sync.models import Attempt, Delivery, EventType
from sync.outbox.events import event_record
from tests.actors import TEST_ACTOR
from tests.conftest import current_version
from tests.sync.webhook_support import deliveries, fanout, make_endpoint, send, settle

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("published")]

ADDRESS = "ada@example.com"


def echo(request: Request) -> Response:
    return Response(f"got {request.get_data(as_text=True)}", status=200)


def test_erasure_rewrites_the_contacts_deliveries_and_clears_the_answers(
    brand, contact, other_brand, api, purpose, receiver
):
    endpoint = make_endpoint(brand, receiver.url(), include_personal_data=True)
    receiver.secrets.append(endpoint.secret)
    receiver.answers = [echo]
    body = {
        "purpose": purpose.slug,
        "decision": "granted",
        "notice_version": current_version(purpose).public_id,
    }
    assert api.post("/api/v1/contacts/cust-1/consents", body, format="json").status_code == 201
    with transaction.atomic():  # an event that carries the address (sent: the endpoint asked)
        event_record(
            brand=brand,
            type=EventType.PREFERENCES_UPDATED,
            contact_ref=contact.pk,
            subject="cust-1",
            sequence=1000,
            data={"email": ADDRESS, "phone": "+4915123456789"},
            occurred_at=timezone.now(),
        )
    assert fanout(endpoint) == 2
    sent, pending = deliveries(endpoint)
    assert send(sent).outcome == "succeeded"  # the receiver's answer echoes the body
    assert "cust-1" in Attempt.objects.get(delivery=sent).response_excerpt
    assert ADDRESS in pending.body
    # Another brand's deliveries about its own contact are not touched.
    elsewhere = endpoints.endpoint_create(actor=TEST_ACTOR, brand=other_brand, url=receiver.url())
    Delivery.objects.create(
        endpoint=elsewhere,
        msg_id="msg_x",
        type="consent.granted",
        contact_ref=contact.pk,
        body='{"data":{"contact":"cust-1"}}',
        next_attempt_at=timezone.now(),
    )

    report = contact_erase(brand=brand, contact=contact, requested_via="api")

    pseudonym = erased_external_id(brand_id=brand.pk, contact_id=contact.pk, external_id="cust-1")
    assert report.deliveries_rewritten == 2
    for delivery in deliveries(endpoint):
        assert "cust-1" not in delivery.body
        assert ADDRESS not in delivery.body
        assert "+4915123456789" not in delivery.body
        assert json.loads(delivery.body)["data"]["contact"] == pseudonym
    assert json.loads(Delivery.objects.get(pk=sent.pk).body)["type"] == "consent.granted"
    assert set(
        Attempt.objects.filter(delivery__endpoint=endpoint).values_list("response_excerpt", flat=True)
    ) == {""}
    assert Delivery.objects.get(msg_id="msg_x").body == '{"data":{"contact":"cust-1"}}'

    # The pending one goes out rewritten, signed, under its webhook-id; then the erasure's own
    # withdrawal (the pseudonym) and contact.erased, which names the old id on purpose (the
    # destination erases its copy by it).
    assert send(pending).outcome == "succeeded"
    assert fanout(endpoint) == 2
    withdrawn, erased = deliveries(endpoint)[-2:]
    assert send(withdrawn).outcome == send(erased).outcome == "succeeded"
    _, second, third, fourth = receiver.received
    assert second.headers["Webhook-Id"] == pending.msg_id
    assert second.payload["data"] == {"contact": pseudonym, "sequence": 1000}
    assert (third.payload["type"], third.payload["data"]["contact"]) == ("consent.withdrawn", pseudonym)
    assert (fourth.payload["type"], fourth.payload["data"]["contact"]) == ("contact.erased", "cust-1")


def test_forgetting_a_contact_without_deliveries_changes_nothing(brand, contact):
    assert (
        erasure.deliveries_forget_contact(
            brand_id=brand.pk, contact_ref=contact.pk, pseudonym="x", email=None, phone=None
        )
        == 0
    )


def test_the_rewrite_commits_or_rolls_back_with_the_erasure(brand, contact, api, purpose, receiver):
    """Delivery hears of the erasure from the outbox (sync.outbox.listeners), inside the
    erasure's transaction: rolled back with it, nothing is rewritten."""
    endpoint = make_endpoint(brand, receiver.url())
    body = {
        "purpose": purpose.slug,
        "decision": "granted",
        "notice_version": current_version(purpose).public_id,
    }
    assert api.post("/api/v1/contacts/cust-1/consents", body, format="json").status_code == 201
    assert fanout(endpoint) == 1
    [before] = deliveries(endpoint)

    seen: list[tuple[int, str]] = []

    def erase_then_fail() -> None:
        with transaction.atomic():
            report = contact_erase(brand=brand, contact=contact, requested_via="api")
            seen.append((report.deliveries_rewritten, Delivery.objects.get(pk=before.pk).body))
            raise RuntimeError("the erasure's transaction fails after the rewrite")

    with pytest.raises(RuntimeError):
        erase_then_fail()

    [(rewritten, inside)] = seen
    assert rewritten == 1
    assert "cust-1" not in inside

    assert deliveries(endpoint)[0].body == before.body
    assert json.loads(before.body)["data"]["contact"] == "cust-1"


def test_a_fanout_that_read_events_before_an_erasure_saves_none_of_them_after_it(
    brand, contact, api, purpose, receiver
):
    """The fan-out reads the contact's event, the contact is erased (and its deliveries
    rewritten) while the fan-out is between reading and saving: what it saves must name the
    pseudonym all the same."""
    endpoint = make_endpoint(brand, receiver.url())
    body = {
        "purpose": purpose.slug,
        "decision": "granted",
        "notice_version": current_version(purpose).public_id,
    }
    assert api.post("/api/v1/contacts/cust-1/consents", body, format="json").status_code == 201
    settle()
    read, go_on = threading.Event(), threading.Event()
    original = fanout_module._fanout_insert
    saves: list[int] = []

    def save_after_the_erasure(**kwargs: Any) -> bool:
        read.set()  # the events are read and the deliveries built
        assert go_on.wait(20)
        saves.append(len(kwargs["rows"]))
        return original(**kwargs)

    def fan_out() -> None:
        try:
            fanout_module.endpoint_fanout(endpoint_id=endpoint.pk)
        finally:
            db_connection.close()

    with (
        mock.patch.object(fanout_module, "_fanout_insert", side_effect=save_after_the_erasure),
        mock.patch.object(fanout_module, "_endpoint_batch_send", return_value=None),
    ):
        worker = threading.Thread(target=fan_out)
        worker.start()
        assert read.wait(20)
        contact_erase(brand=brand, contact=contact, requested_via="api")
        go_on.set()
        worker.join(30)
    assert not worker.is_alive()

    pseudonym = erased_external_id(brand_id=brand.pk, contact_id=contact.pk, external_id="cust-1")
    saved = [json.loads(delivery.body) for delivery in deliveries(endpoint)]
    # The first save was refused (an erasure came between); the second read the renamed events.
    assert saves == [1, 3]
    assert [(item["type"], item["data"]["contact"]) for item in saved] == [
        ("consent.granted", pseudonym),
        ("consent.withdrawn", pseudonym),
        ("contact.erased", "cust-1"),  # on purpose: the destination erases its copy by it
    ]
