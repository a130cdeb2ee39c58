"""The Salesforce connector against the fake org: configuration checked against the org, consent
pushed onto Individual / ContactPointTypeConsent and the Contact's flags through the delivery
pipeline, opt-out winning."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from django.utils import timezone

from brands.models import Scope
from consent.services import contact_upsert
from preferences.services import preferences_update
from sync.delivery.connectors.salesforce import SalesforceAdapter
from sync.delivery.connectors.salesforce_auth import DATA, api_call
from sync.delivery.connectors.vendors import Item, Target
from sync.delivery.fanout import endpoint_fanout
from sync.delivery.sending import http_client
from sync.models import Attempt, Connector, Delivery
from sync.outbox.contact_state import ContactState, contacts_state
from tests.connectors.salesforce_support import (
    CLIENT_SECRET,
    CREDENTIALS,
    JWT_CLIENT,
    JWT_USER,
    PRIVATE_PEM,
    body,
    connect,
    mapping,
    person,
    sf,
)
from tests.connectors.support import drain, grant, withdraw
from tests.fakes.salesforce import FakeSalesforce
from tests.sync.webhook_support import published

__all__ = ["published", "sf"]

pytestmark = pytest.mark.django_db(transaction=True)


def send(connector: Connector) -> None:
    endpoint_fanout(endpoint_id=connector.endpoint_id)
    drain(connector.endpoint)


def consents(fake: FakeSalesforce) -> list[dict[str, Any]]:
    return fake.find("ContactPointTypeConsent")


def point_consents(fake: FakeSalesforce) -> list[dict[str, Any]]:
    return fake.find("ContactPointConsent")


def shown(row: dict[str, Any], *names: str) -> dict[str, Any]:
    return {name: row[name] for name in names}


# --- configuration ------------------------------------------------------------------------------


def test_connecting_checks_the_org_and_keeps_the_secret(make_client, brand, purpose, sf, caplog):
    api = make_client(brand, [Scope.ADMIN])
    reply = api.post("/api/v1/connectors", body(sf), format="json")
    assert reply.status_code == 201, reply.content
    assert CLIENT_SECRET not in reply.content.decode()
    assert CLIENT_SECRET not in caplog.text
    # The check read the purposes (and described the object, which the log does not keep).
    assert [r["path"] for r in sf.requests] == ["/query"]
    assert sf.requests[0]["q"] == "SELECT Id, Name FROM DataUsePurpose ORDER BY Name"
    test = api.post(f"/api/v1/connectors/{reply.json()['id']}/test").json()
    assert test["ok"] is True
    assert {"id": sf.dup, "name": "DataUsePurpose Email marketing"} in test["lists"]
    assert {row["id"] for row in test["lists"]} >= {"Contact.Candor_Id__c", "Contact.Email"}


def test_the_jwt_bearer_credentials_connect_too(make_client, brand, purpose, sf):
    credentials = {"client_id": JWT_CLIENT, "username": JWT_USER, "private_key": PRIVATE_PEM}
    connector = connect(make_client, brand, sf, credentials=credentials)
    assert connector.vendor == "salesforce"
    assert PRIVATE_PEM not in connector.credentials


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"mapping": {"object": "Account"}}, "mapping.object", "Contact or Lead"),
        (
            {"purposes": [{"purpose": "nope", "data_use_purpose": "0ZW5g0000000001AAA"}]},
            "mapping.purposes.0",
            "Unknown purpose",
        ),
        (
            {"purposes": [{"purpose": "email-marketing", "data_use_purpose": "x"}]},
            "mapping.purposes.0",
            "DataUsePurpose",
        ),
        (
            {
                "purposes": [
                    {
                        "purpose": "email-marketing",
                        "data_use_purpose": "0ZW5g0000000001AAA",
                        "channels": ["phone", "sms"],
                    }
                ]
            },
            "mapping.purposes.0",
            "share Salesforce's Phone",
        ),
        ({"flags": {"HasOptedOutOfPost": "email"}}, "mapping.flags", "Unknown flag"),
        ({"flags": {"DoNotCall": "fax"}}, "mapping.flags", "Candor channel"),
        ({"purposes": [], "flags": {}}, "mapping", "at least one"),
        ({"match_field": "Candor Id"}, "mapping.match_field", "External ID"),
    ],
)
def test_a_bad_mapping_is_a_422_naming_the_field(make_client, brand, purpose, sf, change, field, words):
    bad = {**mapping(sf), **change} if "mapping" not in change else change["mapping"]
    reply = make_client(brand, [Scope.ADMIN]).post("/api/v1/connectors", body(sf, mapping=bad), format="json")
    assert reply.status_code == 422, reply.content
    assert words in " ".join(reply.json()["errors"][field])
    assert not Connector.objects.exists()


@pytest.mark.parametrize(
    "bad",
    [
        {"object": "Contact", "match_field": "Email", "purposes": [{"purpose": ["x"], "topic": {"a": 1}}]},
        {"object": "Contact", "match_field": "Email", "purposes": [{"channels": [["email"]]}]},
        {"object": "Contact", "match_field": "Email", "flags": {"DoNotCall": ["phone"]}},
        {"object": "Contact", "match_field": "Email", "purposes": "all"},
        {"object": ["Contact"], "match_field": 3, "flags": []},
        [],
    ],
)
def test_odd_json_in_a_mapping_is_a_422_not_an_error(make_client, brand, purpose, sf, bad):
    reply = make_client(brand, [Scope.ADMIN]).post("/api/v1/connectors", body(sf, mapping=bad), format="json")
    assert reply.status_code in (400, 422), reply.content
    assert sf.requests == []


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (
            {"purposes": [{"purpose": "email-marketing", "data_use_purpose": "0ZW5g0000000999AAA"}]},
            "0ZW5g0000000999AAA",
        ),
        ({"match_field": "Loyalty_Id__c"}, "Contact.Loyalty_Id__c"),
    ],
)
def test_what_the_org_does_not_have_is_a_422_naming_it(make_client, brand, purpose, sf, change, named):
    reply = make_client(brand, [Scope.ADMIN]).post(
        "/api/v1/connectors", body(sf, mapping={**mapping(sf), **change}), format="json"
    )
    assert reply.status_code == 422, reply.content
    assert named in reply.json()["errors"]["mapping"][0]


def test_the_orgs_my_domain_is_required(make_client, brand, purpose, sf):
    reply = make_client(brand, [Scope.ADMIN]).post(
        "/api/v1/connectors", body(sf, api_base_url=""), format="json"
    )
    assert reply.status_code == 422
    assert "My Domain" in reply.json()["errors"]["api_base_url"][0]
    assert not Connector.objects.exists()


def test_bad_credentials_are_a_422_on_credentials(make_client, brand, purpose, sf):
    api = make_client(brand, [Scope.ADMIN])
    wrong = {"client_id": "3MVG9.candor.client", "client_secret": "not-the-secret"}
    reply = api.post("/api/v1/connectors", body(sf, credentials=wrong), format="json")
    assert reply.status_code == 422
    assert "credentials" in reply.json()["errors"]
    assert "not-the-secret" not in reply.content.decode()
    shape = api.post("/api/v1/connectors", body(sf, credentials={"api_key": "x"}), format="json")
    assert shape.status_code == 422
    assert "JWT bearer" in shape.json()["errors"]["credentials"][0]
    key = api.post(
        "/api/v1/connectors",
        body(
            sf,
            credentials={"client_id": JWT_CLIENT, "username": JWT_USER, "private_key": "-----BEGIN nonsense"},
        ),
        format="json",
    )
    assert key.status_code == 422
    assert "private_key" in key.json()["errors"]["credentials"][0]


# --- push ---------------------------------------------------------------------------------------


def test_a_grant_reaches_the_consent_model_and_a_withdrawal_turns_it_off(
    make_client, brand, purpose, contact, sf, published
):
    contact_id = person(sf)
    connector = connect(make_client, brand, sf)
    grant(brand, purpose)
    send(connector)
    individual = sf.find("Individual")
    assert [(i["LastName"], i["FirstName"]) for i in individual] == [("Lovelace", "Ada")]
    [record] = sf.find("Contact", Id=contact_id)
    assert record["IndividualId"] == individual[0]["Id"]
    assert record["HasOptedOutOfEmail"] is False
    [cptc] = consents(sf)
    assert {
        k: cptc[k]
        for k in (
            "PartyId",
            "DataUsePurposeId",
            "ContactPointType",
            "CaptureContactPointType",
            "PrivacyConsentStatus",
            "CaptureSource",
        )
    } == {
        "PartyId": individual[0]["Id"],
        "DataUsePurposeId": sf.dup,
        "ContactPointType": "Email",
        "CaptureContactPointType": "Web",
        "PrivacyConsentStatus": "OptIn",
        "CaptureSource": "Candor",
    }
    assert cptc["CaptureDate"] == cptc["EffectiveFrom"]
    assert abs((timezone.now() - cptc["CaptureDate"]).total_seconds()) < 60
    # The address, under the Individual, and its own consent with the same status and dates.
    [point] = sf.find("ContactPointEmail")
    assert shown(point, "ParentId", "EmailAddress") == {
        "ParentId": individual[0]["Id"],
        "EmailAddress": "ada@example.com",
    }
    assert sf.find("ContactPointPhone") == []  # no phone channel mapped
    [cpc] = point_consents(sf)
    assert shown(
        cpc,
        "ContactPointId",
        "DataUsePurposeId",
        "CaptureContactPointType",
        "PrivacyConsentStatus",
        "CaptureSource",
        "CaptureDate",
        "EffectiveFrom",
    ) == {
        "ContactPointId": point["Id"],
        "DataUsePurposeId": sf.dup,
        "CaptureContactPointType": "Web",
        "PrivacyConsentStatus": "OptIn",
        "CaptureSource": "Candor",
        "CaptureDate": cptc["CaptureDate"],
        "EffectiveFrom": cptc["CaptureDate"],
    }

    withdraw(brand, purpose)
    send(connector)
    [after] = consents(sf)
    assert after["Id"] == cptc["Id"]  # the same record, changed: no second consent
    assert after["PrivacyConsentStatus"] == "OptOut"
    [cpc_after] = point_consents(sf)
    assert (cpc_after["Id"], cpc_after["PrivacyConsentStatus"]) == (cpc["Id"], "OptOut")
    assert cpc_after["CaptureDate"] == after["CaptureDate"] > cpc["CaptureDate"]
    assert [p["Id"] for p in sf.find("ContactPointEmail")] == [point["Id"]]  # matched, not made again
    assert len(sf.find("Individual")) == 1
    assert set(Delivery.objects.filter(endpoint=connector.endpoint).values_list("status", flat=True)) == {
        "succeeded"
    }
    log = json.dumps(
        make_client(brand, [Scope.ADMIN]).get(f"/api/v1/connectors/{connector.public_id}/deliveries").json()
    )
    assert CLIENT_SECRET not in log


def test_a_withdrawal_before_the_send_never_lets_an_opt_in_out(
    make_client, brand, purpose, contact, sf, published
):
    person(sf)
    connector = connect(make_client, brand, sf)
    grant(brand, purpose)
    withdraw(brand, purpose)
    send(connector)
    assert [c["PrivacyConsentStatus"] for c in consents(sf)] == ["OptOut"]
    assert [c["PrivacyConsentStatus"] for c in point_consents(sf)] == ["OptOut"]
    writes = [r for r in sf.requests if r["path"] == "/composite/sobjects"]
    statuses = [
        (row["attributes"]["type"], row.get("PrivacyConsentStatus"))
        for r in writes
        for row in r["body"]["records"]
        if "PrivacyConsentStatus" in row
    ]
    # Once each: the second delivery found nothing to change.
    assert statuses == [("ContactPointConsent", "OptOut"), ("ContactPointTypeConsent", "OptOut")]


def test_unsubscribe_from_all_sets_the_flag_and_nothing_is_written_twice(
    make_client, brand, purpose, contact, sf, published
):
    contact_id = person(sf)
    connector = connect(make_client, brand, sf)
    preferences_update(
        brand=brand, external_id="cust-1", method="api", recorded_by="t", unsubscribed_all={"email": True}
    )
    send(connector)
    [record] = sf.find("Contact", Id=contact_id)
    assert record["HasOptedOutOfEmail"] is True
    sf.requests.clear()
    Delivery.objects.all().delete()
    # A push of the same state finds nothing to change: reads, no writes.
    adapter = SalesforceAdapter()
    target = Target(
        public_id=connector.public_id,
        base_url=sf.base_url,
        credentials=CREDENTIALS,
        mapping=connector.mapping,
    )

    state = contacts_state(brand_id=brand.pk, contact_refs=[contact.pk])[contact.pk]
    [result] = adapter.push(
        target, [Item(delivery_id=1, type="x", contact_ref=contact.pk, state=state)], client=http_client()
    )
    assert result.succeeded
    assert result.excerpt.startswith("Nothing to change")
    # The contact, its Individual's consents, its email addresses, their consents: no writes.
    assert [r["q"].split(" FROM ")[1].split()[0] for r in sf.requests] == [
        "Contact",
        "ContactPointTypeConsent",
        "ContactPointEmail",
        "ContactPointConsent",
    ]


def test_a_contact_the_org_does_not_have_is_not_created(make_client, brand, purpose, contact, sf, published):
    connector = connect(make_client, brand, sf)
    grant(brand, purpose)
    send(connector)
    assert sf.find("Contact") == []
    assert sf.find("Individual") == []
    assert consents(sf) == []
    attempt = Attempt.objects.get(delivery__endpoint=connector.endpoint)
    assert attempt.outcome == "succeeded"
    assert "Not in Salesforce" in attempt.response_excerpt


def test_an_org_no_newer_than_candors_yes_stays(make_client, brand, purpose, contact, sf, published):
    contact_id = person(sf)
    connector = connect(make_client, brand, sf)
    grant(brand, purpose)
    send(connector)
    [cptc] = consents(sf)
    sf.edit("ContactPointTypeConsent", cptc["Id"], PrivacyConsentStatus="OptOut")  # a user, in the org
    sf.edit("Contact", contact_id, HasOptedOutOfEmail=True)
    # Another change of the contact in Candor pushes the state again: the older grant does not
    # overwrite the org's newer "no".
    contact_upsert(brand=brand, external_id="cust-1", email="ada@example.com", phone="+4915112345678")
    preferences_update(
        brand=brand, external_id="cust-1", method="api", recorded_by="t", unsubscribed_all={"sms": True}
    )
    send(connector)
    assert [c["PrivacyConsentStatus"] for c in consents(sf)] == ["OptOut"]
    assert sf.find("Contact", Id=contact_id)[0]["HasOptedOutOfEmail"] is True
    # A grant given after the org's "no" is Candor's newer word: it is pushed.
    grant(brand, purpose)
    send(connector)
    assert [c["PrivacyConsentStatus"] for c in consents(sf)] == ["OptIn"]


def test_an_opt_out_on_the_address_alone_stays_until_a_newer_yes(
    make_client, brand, purpose, contact, sf, published
):
    person(sf)
    connector = connect(make_client, brand, sf)
    grant(brand, purpose)
    send(connector)
    [cpc] = point_consents(sf)
    sf.edit("ContactPointConsent", cpc["Id"], PrivacyConsentStatus="OptOut")  # a user, on the address
    written = len(sf.api_calls("/composite/sobjects"))
    # The contact's next change pushes the older grant again: the address's newer "no" stays,
    # and nothing else is written (the type consent already says OptIn).
    preferences_update(
        brand=brand, external_id="cust-1", method="api", recorded_by="t", unsubscribed_all={"sms": True}
    )
    send(connector)
    assert [c["PrivacyConsentStatus"] for c in point_consents(sf)] == ["OptOut"]
    assert [c["PrivacyConsentStatus"] for c in consents(sf)] == ["OptIn"]
    assert len(sf.api_calls("/composite/sobjects")) == written
    # A grant given after it is Candor's newer word: pushed onto the same record.
    grant(brand, purpose)
    send(connector)
    [after] = point_consents(sf)
    assert (after["Id"], after["PrivacyConsentStatus"]) == (cpc["Id"], "OptIn")


def states(n: int, *, granted_at: Any = None) -> list[ContactState]:
    at = granted_at or timezone.now()
    return [
        ContactState(
            contact_ref=i,
            external_id=f"c{i}",
            email=f"p{i}@example.com",
            phone=f"+49151{i:08d}",
            consents={"email-marketing": "granted"},
            consented_at={"email-marketing": at},
        )
        for i in range(n)
    ]


def test_a_full_batch_makes_a_few_calls_of_at_most_200_records(sf):
    for i in range(200):
        person(sf, external_id=f"c{i}", email=f"p{i}@example.com")
    second = sf.insert("DataUsePurpose", Name="Research")
    target = Target(
        public_id="con_batch",
        base_url=sf.base_url,
        credentials=CREDENTIALS,
        mapping=mapping(
            sf,
            purposes=[
                {"purpose": "email-marketing", "data_use_purpose": sf.dup, "channels": ["email", "phone"]},
                {"purpose": "email-marketing", "data_use_purpose": second, "channels": ["email"]},
            ],
        ),
    )
    items = [
        Item(delivery_id=i, type="consent.granted", contact_ref=s.contact_ref, state=s)
        for i, s in enumerate(states(200))
    ]
    results = SalesforceAdapter().push(target, items, client=http_client())
    assert all(r.succeeded for r in results)
    assert len(consents(sf)) == 600
    assert len(point_consents(sf)) == 600
    assert len(sf.find("ContactPointEmail")) == len(sf.find("ContactPointPhone")) == 200
    calls = [
        (r["method"], r["path"], len(r["body"]["records"]) if "body" in r else None) for r in sf.requests
    ]
    assert calls == [
        ("GET", "/query", None),  # the contacts
        ("POST", "/composite/sobjects", 200),  # their Individuals
        ("POST", "/composite/sobjects", 200),  # 400 addresses (email and phone), 200 a call
        ("POST", "/composite/sobjects", 200),
        ("PATCH", "/composite/sobjects", 200),  # the links
        *[("POST", "/composite/sobjects", 200)] * 6,  # 1200 consents (both kinds), 200 a call
    ]
    # Phone: the ContactPointPhone with the contact's number, its consent for the first purpose.
    [phone] = sf.find("ContactPointPhone", TelephoneNumber="+4915100000007")
    [on_phone] = sf.find("ContactPointConsent", ContactPointId=phone["Id"])
    assert (on_phone["DataUsePurposeId"], on_phone["PrivacyConsentStatus"]) == (sf.dup, "OptIn")
    # A second push of the same batch writes nothing: reads only, the same few.
    sf.requests.clear()
    again = SalesforceAdapter().push(target, items, client=http_client())
    assert all(r.succeeded and r.excerpt.startswith("Nothing to change") for r in again)
    assert {r["path"] for r in sf.requests} == {"/query"}
    assert len(sf.requests) == 5  # contacts, type consents, emails, phones, point consents


def test_a_records_own_error_fails_only_its_delivery(sf):
    ids = [person(sf, external_id=f"c{i}", email=f"p{i}@example.com") for i in range(3)]
    sf.validation_rules[ids[1]] = "Contacts of this account are managed by the partner."
    target = Target(
        public_id="con_rule", base_url=sf.base_url, credentials=CREDENTIALS, mapping=mapping(sf, purposes=[])
    )
    items = [
        Item(delivery_id=10 + s.contact_ref, type="x", contact_ref=s.contact_ref, state=s)
        for s in [
            ContactState(
                contact_ref=i,
                external_id=f"c{i}",
                email=f"p{i}@example.com",
                phone=None,
                unsubscribed_all={"email": True},
            )
            for i in range(3)
        ]
    ]
    results = SalesforceAdapter().push(target, items, client=http_client())
    assert [r.succeeded for r in results] == [True, False, True]
    assert results[1].permanent is True
    assert "FIELD_CUSTOM_VALIDATION_EXCEPTION" in results[1].error
    assert [sf.find("Contact", Id=i)[0]["HasOptedOutOfEmail"] for i in ids] == [True, False, True]


@pytest.mark.parametrize(
    ("setup", "status", "retry_after"),
    [
        (lambda fake: setattr(fake, "api_used", fake.api_max), 403, 1800.0),
        (lambda fake: fake.outage(10), 503, None),
        (lambda fake: setattr(fake, "max_concurrent", 0), 403, 5.0),
    ],
)
def test_the_daily_limit_and_an_outage_are_retried_later(sf, setup, status, retry_after):
    person(sf, external_id="c0", email="p0@example.com")
    target = Target(public_id="con_lim", base_url=sf.base_url, credentials=CREDENTIALS, mapping=mapping(sf))
    SalesforceAdapter().push(target, [], client=http_client())
    setup(sf)
    [state] = states(1)
    [result] = SalesforceAdapter().push(
        target, [Item(delivery_id=1, type="x", contact_ref=0, state=state)], client=http_client()
    )
    assert (result.succeeded, result.status_code, result.retry_after, result.permanent) == (
        False,
        status,
        retry_after,
        False,
    )
    assert CLIENT_SECRET not in result.error + result.excerpt
    assert consents(sf) == []


def test_candor_leaves_the_last_tenth_of_the_daily_api_requests_to_the_org(sf):
    person(sf, external_id="c0", email="p0@example.com")
    target = Target(public_id="con_share", base_url=sf.base_url, credentials=CREDENTIALS, mapping=mapping(sf))
    [state] = states(1)
    item = Item(delivery_id=1, type="x", contact_ref=0, state=state)
    sf.api_used = int(sf.api_max * 0.9) - 6
    [first] = SalesforceAdapter().push(target, [item], client=http_client())
    assert first.succeeded  # five calls, the last answered at 13499/15000
    assert sf.api_used == int(sf.api_max * 0.9) - 1
    sf.api_used += 1  # another integration of the org makes a call
    # The next answer says 13501/15000: past 90%, every later call holds off (the push is
    # idempotent, so a batch held half-way is simply sent again later).
    api_call(target, "GET", f"{DATA}/sobjects/Contact/describe", client=http_client())
    calls = sf.api_used
    [held] = SalesforceAdapter().push(target, [item], client=http_client())
    assert (held.succeeded, held.retry_after, held.permanent) == (False, 1800.0, False)
    assert "daily API requests" in held.error
    assert sf.api_used == calls  # not even asked


def test_an_address_consents_own_error_fails_only_its_delivery(sf):
    for i in range(2):
        person(sf, external_id=f"c{i}", email=f"p{i}@example.com")
    target = Target(public_id="con_cpc", base_url=sf.base_url, credentials=CREDENTIALS, mapping=mapping(sf))
    granted = states(2)
    items = [Item(delivery_id=i, type="x", contact_ref=s.contact_ref, state=s) for i, s in enumerate(granted)]
    assert all(r.succeeded for r in SalesforceAdapter().push(target, items, client=http_client()))
    first = sf.find("ContactPointEmail", EmailAddress="p0@example.com")[0]["Id"]
    [locked] = sf.find("ContactPointConsent", ContactPointId=first)
    sf.validation_rules[locked["Id"]] = "Consents on this address are managed by the partner."
    withdrawn = [
        Item(
            delivery_id=10 + i,
            type="x",
            contact_ref=s.contact_ref,
            state=replace(s, consents={"email-marketing": "withdrawn"}),
        )
        for i, s in enumerate(granted)
    ]
    results = SalesforceAdapter().push(target, withdrawn, client=http_client())
    assert [r.succeeded for r in results] == [False, True]
    assert results[0].permanent is True
    assert "FIELD_CUSTOM_VALIDATION_EXCEPTION" in (results[0].error or "")
    by_point = {c["ContactPointId"]: c["PrivacyConsentStatus"] for c in point_consents(sf)}
    second = sf.find("ContactPointEmail", EmailAddress="p1@example.com")[0]["Id"]
    assert by_point == {first: "OptIn", second: "OptOut"}
    # The other writes of the same call went through (allOrNone false).
    assert {c["PrivacyConsentStatus"] for c in consents(sf)} == {"OptOut"}


def test_leads_are_kept_as_contacts_are(sf):
    lead = sf.insert("Lead", LastName="Hopper", Company="Navy", Email="grace@example.com")
    target = Target(
        public_id="con_lead",
        base_url=sf.base_url,
        credentials=CREDENTIALS,
        mapping=mapping(sf, object="Lead", match_field="Email", flags={"DoNotCall": "phone"}),
    )
    state = ContactState(
        contact_ref=1,
        external_id="g",
        email="Grace@Example.com",
        phone="+4915112345678",
        consents={"email-marketing": "withdrawn"},
        unsubscribed_all={"phone": True},
    )
    [result] = SalesforceAdapter().push(
        target, [Item(delivery_id=1, type="x", contact_ref=1, state=state)], client=http_client()
    )
    assert result.succeeded
    [row] = sf.find("Lead", Id=lead)
    assert row["DoNotCall"] is True
    assert row["HasOptedOutOfEmail"] is False
    [consent] = consents(sf)
    assert (consent["PartyId"], consent["PrivacyConsentStatus"]) == (row["IndividualId"], "OptOut")
    assert sf.find("Contact") == []


def test_an_individual_whose_link_was_refused_is_linked_by_the_retry_not_made_again(
    make_client, brand, purpose, contact, sf, published
):
    record = person(sf)
    sf.validation_rules[record] = "Contacts of this account are managed by the partner."
    connector = connect(make_client, brand, sf)
    grant(brand, purpose)
    send(connector)
    # The Individual was made and what hangs on it written, but the Contact refused its link.
    [party] = [row["Id"] for row in sf.find("Individual")]
    assert sf.find("Contact", Id=record)[0]["IndividualId"] is None
    [refused] = Delivery.objects.filter(endpoint=connector.endpoint)
    assert refused.status == "failed"
    assert len(consents(sf)) == len(point_consents(sf)) == len(sf.find("ContactPointEmail")) == 1

    del sf.validation_rules[record]
    state = contacts_state(brand_id=brand.pk, contact_refs=[contact.pk])[contact.pk]
    target = Target(
        public_id=connector.public_id,
        base_url=sf.base_url,
        credentials=CREDENTIALS,
        mapping=connector.mapping,
    )
    sf.requests.clear()
    [retried] = SalesforceAdapter().push(
        target,
        [Item(delivery_id=1, type="consent.granted", contact_ref=contact.pk, state=state)],
        client=http_client(),
    )

    # The same Individual, linked; nothing made twice, and only the link written.
    assert retried.succeeded
    assert [row["Id"] for row in sf.find("Individual")] == [party]
    assert sf.find("Contact", Id=record)[0]["IndividualId"] == party
    assert [c["PartyId"] for c in consents(sf)] == [party]
    assert len(point_consents(sf)) == len(sf.find("ContactPointEmail")) == 1
    writes = [r for r in sf.requests if r["method"] != "GET"]
    assert [(r["method"], r["body"]["records"]) for r in writes] == [
        ("PATCH", [{"attributes": {"type": "Contact"}, "id": record, "IndividualId": party}])
    ]
