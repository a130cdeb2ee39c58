"""A "no" given in Salesforce comes back by polling (the org has no webhooks to call Candor): the
connectors_poll beat task reads the records changed since the connector's watermark and records
them in the ledger with method `connector`, once, without echoing them back. And the reconciler's
view of the org: expected vs vendor_read, slot_signal, slots_turn_off."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from django.conf import settings as django_settings

from consent.models import ConsentEvent, Contact
from preferences.models import ChannelOptOut
from sync import tasks
from sync.delivery.connectors.inbound import signals_record
from sync.delivery.connectors.polling import connector_poll
from sync.delivery.connectors.salesforce import SalesforceAdapter
from sync.delivery.connectors.vendors import Target
from sync.delivery.sending import http_client
from sync.models import Attempt, Connector, ConnectorEcho, InboundSignal
from sync.outbox.contact_state import ContactState, contacts_state
from tests.connectors.salesforce_support import CREDENTIALS, connect, person, sf
from tests.connectors.support import grant, withdraw
from tests.connectors.test_salesforce_connector import consents, send
from tests.fakes.salesforce import FakeSalesforce
from tests.sync.webhook_support import published

__all__ = ["published", "sf"]

pytestmark = pytest.mark.django_db(transaction=True)


def fresh(connector: Connector) -> Connector:
    return Connector.objects.select_related("endpoint", "brand").get(pk=connector.pk)


@pytest.fixture
def linked(
    make_client: Any, brand: Any, purpose: Any, contact: Contact, sf: FakeSalesforce, published: Any
) -> Any:
    """Ada granted in Candor and pushed to the org; the connector polled once (its watermark set)."""
    contact_id = person(sf)
    connector = connect(make_client, brand, sf)
    grant(brand, purpose)
    send(connector)
    assert connector_poll(connector=fresh(connector)) == []
    sf.requests.clear()
    return connector, contact_id


def test_the_beat_schedule_polls_connectors():
    entry = django_settings.CELERY_BEAT_SCHEDULE["connectors-poll"]
    assert entry["task"] == "sync.tasks.connectors_poll"
    assert entry["schedule"] == float(django_settings.CONNECTORS_POLL_SECONDS)


def test_an_opt_out_flag_set_in_salesforce_is_a_withdrawal_with_the_vendors_evidence(
    linked, sf, contact, purpose
):
    connector, contact_id = linked
    watermark = json.loads(fresh(connector).poll_watermark)
    sf.edit("Contact", contact_id, HasOptedOutOfEmail=True)
    stamp = sf.find("Contact", Id=contact_id)[0]["SystemModstamp"]
    before = ConsentEvent.objects.count()

    assert tasks.connectors_poll.apply().get() == {"connectors": 1, "signals": 1}

    [row] = ConsentEvent.objects.order_by("sequence")[before:]
    assert (row.purpose_id, row.decision, row.method, row.recorded_by) == (
        purpose.pk,
        "withdrawn",
        "connector",
        f"connector:{connector.public_id}",
    )
    message = row.evidence.message
    shown = (
        f"{stamp.strftime('%Y-%m-%dT%H:%M:%S.')}{stamp.microsecond // 1000:03d}+0000"  # as the org shows it
    )
    event_id = f"{contact_id}:HasOptedOutOfEmail:{shown}"
    assert (message["vendor"], message["connector"], message["event_id"], message["kind"]) == (
        "salesforce",
        connector.public_id,
        event_id,
        "unsubscribed",
    )
    assert message["vendor_flag"] == "HasOptedOutOfEmail"
    assert message["vendor_record"] == contact_id
    assert ChannelOptOut.objects.get(contact=contact, channel="email").opted_out is True
    assert row.occurred_at == stamp
    # The watermark moved to the record's stamp; the poll asked for flags since the old one.
    moved = json.loads(fresh(connector).poll_watermark)
    assert moved["person"] > watermark["person"]
    assert datetime.fromisoformat(moved["person"].replace("Z", "+00:00")) == stamp
    assert fresh(connector).polled_at is not None
    asked = [r["q"] for r in sf.requests if r["path"] == "/query"]
    assert asked[0].startswith(
        "SELECT Id, IndividualId, Candor_Id__c, Email, Phone, HasOptedOutOfEmail, SystemModstamp "
        "FROM Contact WHERE SystemModstamp >= "
    )
    assert asked[0].endswith("AND (HasOptedOutOfEmail = true) ORDER BY SystemModstamp, Id")


def test_a_second_poll_records_nothing_twice_and_nothing_is_echoed(linked, sf, contact):
    connector, contact_id = linked
    sf.edit("Contact", contact_id, HasOptedOutOfEmail=True)
    connector_poll(connector=fresh(connector))
    rows, signals = ConsentEvent.objects.count(), InboundSignal.objects.count()
    # The record is re-read (the minute's overlap): a duplicate, nothing written.
    assert connector_poll(connector=fresh(connector)) == ["duplicate"]
    assert (ConsentEvent.objects.count(), InboundSignal.objects.count()) == (rows, signals)
    # The withdrawal it caused is not pushed back to Salesforce as a change of the flag; the
    # purpose's consent records it withdrew are turned OptOut to match.
    echoed = set(ConnectorEcho.objects.filter(connector=connector).values_list("event_id", flat=True))
    assert echoed
    sf.requests.clear()
    send(connector)
    written = {
        row["attributes"]["type"]
        for r in sf.requests
        if r["path"] == "/composite/sobjects"
        for row in r["body"]["records"]
    }
    assert written == {"ContactPointTypeConsent", "ContactPointConsent"}
    assert {row["PrivacyConsentStatus"] for row in sf.find("ContactPointTypeConsent")} == {"OptOut"}
    assert {row["PrivacyConsentStatus"] for row in sf.find("ContactPointConsent")} == {"OptOut"}
    excerpts = {
        a.response_excerpt
        for a in Attempt.objects.filter(delivery__endpoint=connector.endpoint, delivery__event_id__in=echoed)
    }
    # The first batch turned them off; a later one of the same change found them in step.
    turned = (
        "Not pushed back: this change came from this vendor. "
        "Its other slots for this contact were turned off to match."
    )
    assert turned in excerpts
    assert excerpts <= {turned, "Not pushed: this change came from this vendor."}
    # Read back by the next poll, Candor's own OptOuts change nothing.
    rows = ConsentEvent.objects.count()
    assert set(connector_poll(connector=fresh(connector))) <= {"unchanged", "duplicate"}
    assert ConsentEvent.objects.count() == rows


def test_an_opt_out_consent_in_salesforce_withdraws_that_purpose_only(linked, sf, contact, purpose):
    connector, _ = linked
    [cptc] = consents(sf)
    sf.edit("ContactPointTypeConsent", cptc["Id"], PrivacyConsentStatus="OptOut")
    outcomes = connector_poll(connector=fresh(connector))
    assert outcomes == ["recorded"]
    signal = InboundSignal.objects.get()
    assert signal.event_id.startswith(f"{cptc['Id']}:")
    assert ConsentEvent.objects.filter(contact=contact, method="connector", decision="withdrawn").count() == 1
    assert not ChannelOptOut.objects.filter(contact=contact, opted_out=True).exists()  # not the channel


def test_an_opt_out_on_the_addresss_consent_is_polled_into_the_ledger(linked, sf, contact, purpose):
    connector, _ = linked
    [cpc] = sf.find("ContactPointConsent")
    sf.edit("ContactPointConsent", cpc["Id"], PrivacyConsentStatus="OptOut")  # a user, on the address
    watermark = json.loads(fresh(connector).poll_watermark)
    before = ConsentEvent.objects.count()
    assert connector_poll(connector=fresh(connector)) == ["recorded"]
    [row] = ConsentEvent.objects.order_by("sequence")[before:]
    assert (row.purpose_id, row.decision, row.method, row.contact_id) == (
        purpose.pk,
        "withdrawn",
        "connector",
        contact.pk,
    )
    stamp = sf.find("ContactPointConsent", Id=cpc["Id"])[0]["SystemModstamp"]
    assert row.evidence.message["event_id"].startswith(f"{cpc['Id']}:")
    assert row.evidence.message["vendor_record"] == cpc["Id"]
    assert row.occurred_at == stamp
    assert not ChannelOptOut.objects.filter(contact=contact, opted_out=True).exists()  # not the channel
    # Its own watermark moved to the record's stamp; the others' did not.
    moved = json.loads(fresh(connector).poll_watermark)
    assert datetime.fromisoformat(moved["point"].replace("Z", "+00:00")) == stamp
    assert (moved["person"], moved["consent"]) == (watermark["person"], watermark["consent"])
    # Read again (the minute's overlap): a duplicate, nothing written.
    assert connector_poll(connector=fresh(connector)) == ["duplicate"]
    assert ConsentEvent.objects.count() == before + 1


def test_a_watermark_from_before_addresses_were_read_still_polls(linked, sf, contact):
    connector, _ = linked
    marks = json.loads(fresh(connector).poll_watermark)
    del marks["point"]
    Connector.objects.filter(pk=connector.pk).update(poll_watermark=json.dumps(marks))
    [cpc] = sf.find("ContactPointConsent")
    sf.edit("ContactPointConsent", cpc["Id"], PrivacyConsentStatus="OptOut")
    assert connector_poll(connector=fresh(connector)) == ["recorded"]
    assert "point" in json.loads(fresh(connector).poll_watermark)


def test_candors_own_opt_out_read_back_changes_nothing(linked, sf, brand, purpose, contact):
    connector, _ = linked
    withdraw(brand, purpose)
    send(connector)
    rows = ConsentEvent.objects.count()
    # Both OptOuts Candor wrote (the ContactPointTypeConsent and the ContactPointConsent) read back.
    assert connector_poll(connector=fresh(connector)) == ["unchanged", "unchanged"]
    assert ConsentEvent.objects.count() == rows


def test_a_poll_the_org_refuses_keeps_the_watermark(linked, sf):
    connector, contact_id = linked
    watermark = fresh(connector).poll_watermark
    sf.edit("Contact", contact_id, HasOptedOutOfEmail=True)
    sf.outage(1)
    assert connector_poll(connector=fresh(connector)) is None
    assert fresh(connector).poll_watermark == watermark
    assert connector_poll(connector=fresh(connector)) == ["recorded"]


def test_pages_of_changes_are_all_read(make_client, brand, purpose, sf, published):
    sf.page_size = 3
    ids = [person(sf, external_id=f"c{i}", email=f"p{i}@example.com") for i in range(7)]
    connector = connect(make_client, brand, sf)
    connector_poll(connector=fresh(connector))
    for record_id in ids:
        sf.edit("Contact", record_id, HasOptedOutOfEmail=True)
    assert connector_poll(connector=fresh(connector)) == ["unknown_contact"] * 7  # not in Candor
    assert len(sf.api_calls("/query/")) == 2


# --- the reconciler's view ---------------------------------------------------------------------


def target_of(connector: Connector, sf: FakeSalesforce) -> Target:
    return Target(
        public_id=connector.public_id,
        base_url=sf.base_url,
        credentials=CREDENTIALS,
        mapping=connector.mapping,
    )


def test_expected_and_vendor_read_agree_until_drift_is_injected(linked, sf, brand, contact):
    connector, contact_id = linked
    adapter = SalesforceAdapter()
    state = contacts_state(brand_id=brand.pk, contact_refs=[contact.pk])[contact.pk]
    slot = f"consent:{sf.dup}:Email"
    expected = adapter.expected(connector.mapping, state)
    assert expected == {slot: "subscribed", "flag:HasOptedOutOfEmail": "subscribed"}
    stranger = ContactState(contact_ref=999, external_id="nobody", email="x@example.com", phone=None)
    read = adapter.vendor_read(target_of(connector, sf), [state, stranger], client=http_client())
    assert read == {contact.pk: expected, 999: {slot: "unknown", "flag:HasOptedOutOfEmail": "unknown"}}
    # Four queries for the batch: the records, the type consents, the addresses, their consents.
    assert [r["path"] for r in sf.requests] == ["/query"] * 4

    [cptc] = consents(sf)
    sf.edit("ContactPointTypeConsent", cptc["Id"], PrivacyConsentStatus="OptOut")
    sf.edit("Contact", contact_id, HasOptedOutOfEmail=True)
    drifted = adapter.vendor_read(target_of(connector, sf), [state], client=http_client())
    assert drifted == {contact.pk: {slot: "unsubscribed", "flag:HasOptedOutOfEmail": "unsubscribed"}}


def test_vendor_read_takes_an_opt_out_on_the_address_alone_as_the_slots_no(linked, sf, brand, contact):
    connector, _ = linked
    adapter = SalesforceAdapter()
    state = contacts_state(brand_id=brand.pk, contact_refs=[contact.pk])[contact.pk]
    slot = f"consent:{sf.dup}:Email"
    [cpc] = sf.find("ContactPointConsent")
    sf.edit("ContactPointConsent", cpc["Id"], PrivacyConsentStatus="OptOut")
    assert [c["PrivacyConsentStatus"] for c in consents(sf)] == ["OptIn"]  # the type consent says yes
    read = adapter.vendor_read(target_of(connector, sf), [state], client=http_client())
    assert read == {contact.pk: {slot: "unsubscribed", "flag:HasOptedOutOfEmail": "subscribed"}}


def test_the_slot_signal_records_the_vendors_no(linked, sf, brand, contact, purpose):
    connector, _ = linked
    adapter = SalesforceAdapter()
    state = contacts_state(brand_id=brand.pk, contact_refs=[contact.pk])[contact.pk]
    signal = adapter.slot_signal(connector.mapping, f"consent:{sf.dup}:Email", state, event_id="recon-1")
    assert (signal.event_id, signal.channel, signal.purposes, signal.external_id, signal.whole_channel) == (
        "recon-1",
        "email",
        ("email-marketing",),
        "cust-1",
        False,
    )
    assert signals_record(connector=fresh(connector), signals=[signal]) == ["recorded"]
    assert ConsentEvent.objects.filter(contact=contact, method="connector", decision="withdrawn").count() == 1
    flag = adapter.slot_signal(connector.mapping, "flag:HasOptedOutOfEmail", state, event_id="recon-2")
    assert (flag.event_id, flag.whole_channel, flag.channel) == ("recon-2", True, "email")


def test_slots_turn_off_changes_exactly_those_slots(make_client, brand, purpose, sf, published):
    # Two people the org holds as opted in, with no Candor consent behind them.
    ids = [person(sf, external_id=f"c{i}", email=f"p{i}@example.com") for i in range(2)]
    parties = [sf.insert("Individual", LastName=f"P{i}") for i in range(2)]
    for record_id, party in zip(ids, parties, strict=True):
        sf.edit("Contact", record_id, IndividualId=party)
    optins = [
        sf.insert(
            "ContactPointTypeConsent",
            Name="Imported",
            PartyId=party,
            DataUsePurposeId=sf.dup,
            ContactPointType="Email",
            PrivacyConsentStatus="OptIn",
        )
        for party in parties
    ]
    connector = connect(make_client, brand, sf)
    states = [
        ContactState(contact_ref=i, external_id=f"c{i}", email=f"p{i}@example.com", phone=None)
        for i in range(2)
    ]
    before = {row["Id"]: dict(row) for row in consents(sf)}
    results = SalesforceAdapter().slots_turn_off(
        target_of(connector, sf),
        [(states[0], f"consent:{sf.dup}:Email"), (states[1], "flag:HasOptedOutOfEmail")],
        client=http_client(),
    )
    assert [r.succeeded for r in results] == [True, True]
    after = {row["Id"]: row for row in consents(sf)}
    assert after.keys() == before.keys()  # nothing created
    assert after[optins[0]]["PrivacyConsentStatus"] == "OptOut"
    assert after[optins[1]] == before[optins[1]]  # untouched
    assert [sf.find("Contact", Id=i)[0]["HasOptedOutOfEmail"] for i in ids] == [False, True]
    # The consent slot's "no" is written on the first one's address too; the second has none.
    [point] = sf.find("ContactPointEmail")
    assert (point["ParentId"], point["EmailAddress"]) == (parties[0], "p0@example.com")
    [cpc] = sf.find("ContactPointConsent")
    assert (cpc["ContactPointId"], cpc["PrivacyConsentStatus"]) == (point["Id"], "OptOut")
