"""The Salesforce fake refuses what a Salesforce org refuses, and the connector's OAuth: both
server-to-server flows, the token cached per connector and fetched again once on
INVALID_SESSION_ID."""

from __future__ import annotations

import base64
import time
from typing import Any

import httpx
import pytest
from django.core.cache import cache
from joserfc import jwt
from joserfc.jwk import RSAKey

from sync.delivery.connectors.salesforce_auth import (
    DATA,
    SalesforceRefused,
    api_call,
    query_all,
    soql,
    soql_in,
)
from sync.delivery.connectors.vendors import Target
from sync.delivery.sending import http_client
from tests.connectors.salesforce_support import (
    CLIENT_ID,
    CLIENT_SECRET,
    CREDENTIALS,
    JWT_CLIENT,
    JWT_USER,
    PRIVATE_PEM,
    person,
    sf,
)
from tests.fakes.salesforce import FakeSalesforce

__all__ = ["sf"]


def token(fake: FakeSalesforce) -> str:
    reply = httpx.post(
        f"{fake.base_url}/services/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
    )
    assert reply.status_code == 200, reply.text
    return str(reply.json()["access_token"])


def call(fake: FakeSalesforce, method: str, path: str, **kwargs: Any) -> httpx.Response:
    headers = kwargs.pop("headers", None) or {"Authorization": f"Bearer {token(fake)}"}
    return httpx.request(method, f"{fake.base_url}{path}", headers=headers, **kwargs)


def records(count: int) -> dict[str, Any]:
    return {
        "allOrNone": False,
        "records": [{"attributes": {"type": "Individual"}, "LastName": f"P{n}"} for n in range(count)],
    }


def test_the_token_endpoint_refuses_bad_clients_and_grants(sf):
    url = f"{sf.base_url}/services/oauth2/token"
    bad = httpx.post(
        url, data={"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": "x"}
    )
    assert (bad.status_code, bad.json()) == (
        400,
        {"error": "invalid_client", "error_description": "invalid client credentials"},
    )
    assert httpx.post(url, data={"grant_type": "password"}).json()["error"] == "unsupported_grant_type"
    assert httpx.post(url, json={"grant_type": "client_credentials"}).json()["error"] == "invalid_request"
    # Basic auth carries the client as well as the body does.
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    good = httpx.post(
        url, data={"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {basic}"}
    )
    assert good.status_code == 200
    assert set(good.json()) == {"access_token", "instance_url", "id", "token_type", "issued_at", "signature"}


@pytest.mark.parametrize(
    ("claims", "key", "error"),
    [
        ({"sub": JWT_USER, "aud": "https://login.salesforce.com"}, "other", "invalid assertion"),
        (
            {"sub": "someone@else.example", "aud": "https://login.salesforce.com"},
            "own",
            "user hasn't approved",
        ),
        ({"sub": JWT_USER, "aud": "https://evil.example"}, "own", "audience is invalid"),
        ({"sub": JWT_USER, "aud": "https://login.salesforce.com", "exp": 1}, "own", "expired"),
    ],
)
def test_a_jwt_assertion_is_verified_as_salesforce_does(sf, claims, key, error):
    signer = RSAKey.import_key(PRIVATE_PEM) if key == "own" else RSAKey.generate_key(2048)
    assertion = jwt.encode(
        {"alg": "RS256"}, {"iss": JWT_CLIENT, "exp": int(time.time()) + 120, **claims}, signer
    )
    reply = httpx.post(
        f"{sf.base_url}/services/oauth2/token",
        data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion},
    )
    assert reply.status_code == 400
    assert reply.json()["error"] == "invalid_grant"
    assert error in reply.json()["error_description"]


def test_the_api_refuses_a_bad_token_bad_bodies_and_more_than_200_records(sf):
    unauthorised = call(
        sf,
        "GET",
        f"{DATA}/query",
        params={"q": "SELECT Id FROM Contact"},
        headers={"Authorization": "Bearer nope"},
    )
    assert unauthorised.status_code == 401
    assert unauthorised.json() == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]
    not_json = call(sf, "POST", f"{DATA}/composite/sobjects", content=b"{", headers=None)
    assert not_json.status_code == 415  # not even application/json
    bad = call(sf, "POST", f"{DATA}/composite/sobjects", json={"records": "x"})
    assert (bad.status_code, bad.json()[0]["errorCode"]) == (400, "JSON_PARSER_ERROR")
    unknown_field = call(
        sf,
        "POST",
        f"{DATA}/composite/sobjects",
        json={"records": [{"attributes": {"type": "Contact"}, "Nope__c": 1}]},
    )
    assert (unknown_field.status_code, unknown_field.json()[0]["errorCode"]) == (400, "INVALID_FIELD")
    too_many = call(sf, "POST", f"{DATA}/composite/sobjects", json=records(201))
    assert (too_many.status_code, too_many.json()[0]["errorCode"]) == (400, "EXCEEDED_ID_LIMIT")
    assert sf.find("Individual") == []
    fine = call(sf, "POST", f"{DATA}/composite/sobjects", json=records(200))
    assert fine.status_code == 200
    assert all(row["success"] for row in fine.json())
    assert len(sf.find("Individual")) == 200


def test_per_record_errors_leave_the_other_records_written(sf):
    rows = {
        "allOrNone": False,
        "records": [
            {"attributes": {"type": "Individual"}, "LastName": "Kept"},
            {"attributes": {"type": "Individual"}, "FirstName": "No last name"},
            {
                "attributes": {"type": "ContactPointTypeConsent"},
                "Name": "x",
                "PartyId": "0PK5g0000000999AAA",
                "PrivacyConsentStatus": "OptIn",
            },
            {
                "attributes": {"type": "ContactPointTypeConsent"},
                "Name": "x",
                "PartyId": None,
                "PrivacyConsentStatus": "Maybe",
            },
        ],
    }
    reply = call(sf, "POST", f"{DATA}/composite/sobjects", json=rows).json()
    assert [r["success"] for r in reply] == [True, False, False, False]
    assert [r["errors"][0]["statusCode"] for r in reply[1:]] == [
        "REQUIRED_FIELD_MISSING",
        "INVALID_CROSS_REFERENCE_KEY",
        "REQUIRED_FIELD_MISSING",
    ]
    assert [row["LastName"] for row in sf.find("Individual")] == ["Kept"]
    rows["allOrNone"] = True
    rolled_back = call(sf, "POST", f"{DATA}/composite/sobjects", json=rows).json()
    assert rolled_back[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert len(sf.find("Individual")) == 1


def test_contact_points_and_their_consents_are_checked_as_salesforce_checks_them(sf):
    party = sf.insert("Individual", LastName="Lovelace")
    point = sf.insert("ContactPointEmail", ParentId=party, EmailAddress="ada@example.com")

    def consent(**values: Any) -> dict[str, Any]:
        return {"attributes": {"type": "ContactPointConsent"}, "Name": "x", **values}

    rows = [
        consent(ContactPointId=point, DataUsePurposeId=sf.dup, PrivacyConsentStatus="OptOut"),
        consent(DataUsePurposeId=sf.dup, PrivacyConsentStatus="OptIn"),  # no contact point
        consent(ContactPointId=point, PrivacyConsentStatus="Maybe"),
        consent(ContactPointId=party, PrivacyConsentStatus="OptIn"),  # an Individual is no contact point
        consent(ContactPointId=point, CaptureContactPointType="Fax"),
        {"attributes": {"type": "ContactPointEmail"}, "ParentId": party, "EmailAddress": "not an address"},
        {"attributes": {"type": "ContactPointEmail"}, "EmailAddress": "bea@example.com"},  # no parent
        {"attributes": {"type": "ContactPointPhone"}, "ParentId": party},  # no number
    ]
    reply = call(sf, "POST", f"{DATA}/composite/sobjects", json={"records": rows}).json()
    assert [r["errors"][0]["statusCode"] if r["errors"] else "ok" for r in reply] == [
        "ok",
        "REQUIRED_FIELD_MISSING",
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        "INVALID_CROSS_REFERENCE_KEY",
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        "INVALID_EMAIL_ADDRESS",
        "REQUIRED_FIELD_MISSING",
        "REQUIRED_FIELD_MISSING",
    ]
    [kept] = sf.find("ContactPointConsent")
    assert (kept["ContactPointId"], kept["PrivacyConsentStatus"]) == (point, "OptOut")
    assert len(sf.find("ContactPointEmail")) == 1
    assert sf.find("ContactPointPhone") == []
    found = query_all(
        Target(public_id="", base_url=sf.base_url, credentials=CREDENTIALS, mapping={}),
        soql(
            fields=["Id", "ContactPointId"],
            sobject="ContactPointConsent",
            where=f"ContactPointId IN {soql_in([point])} AND PrivacyConsentStatus = 'OptOut'",
        ),
        client=http_client(),
    )
    assert [row["Id"] for row in found] == [kept["Id"]]


def test_deletes_answer_per_id_in_order_and_refuse_what_salesforce_refuses(sf):
    party = sf.insert("Individual", LastName="Lovelace", ShouldForget=False)
    point = sf.insert("ContactPointEmail", ParentId=party, EmailAddress="ada@example.com")
    consent = sf.insert("ContactPointConsent", Name="x", ContactPointId=point, PrivacyConsentStatus="OptIn")
    contact = person(sf, IndividualId=party)
    path = f"{DATA}/composite/sobjects"
    assert call(sf, "DELETE", path).status_code == 400  # no ids
    too_many = call(sf, "DELETE", path, params={"ids": ",".join([consent] * 201)})
    assert (too_many.status_code, too_many.json()[0]["errorCode"]) == (400, "EXCEEDED_ID_LIMIT")
    # A contact point with a consent under it is not deleted before the consent; a bad id is
    # malformed and names no id; an unknown one is no record.
    reply = call(
        sf, "DELETE", path, params={"ids": f"{point},nope,0ZV5g0000000999AAA", "allOrNone": "false"}
    ).json()
    assert [(r.get("id"), r["success"], r["errors"][0]["statusCode"]) for r in reply] == [
        (point, False, "DELETE_FAILED"),
        (None, False, "MALFORMED_ID"),
        ("0ZV5g0000000999AAA", False, "INVALID_CROSS_REFERENCE_KEY"),
    ]
    # allOrNone: one failure rolls the others back.
    sf.delete_refusals[point] = ("INSUFFICIENT_ACCESS_OR_READONLY", "insufficient access rights on object id")
    rolled = call(sf, "DELETE", path, params={"ids": f"{consent},{point}", "allOrNone": "true"}).json()
    assert [r["errors"][0]["statusCode"] for r in rolled] == [
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "INSUFFICIENT_ACCESS_OR_READONLY",
    ]
    assert sf.find("ContactPointConsent", Id=consent) != []
    del sf.delete_refusals[point]
    done = call(sf, "DELETE", path, params={"ids": f"{consent},{point}"}).json()
    assert done == [
        {"id": consent, "success": True, "errors": []},
        {"id": point, "success": True, "errors": []},
    ]
    assert sf.find("ContactPointConsent") == sf.find("ContactPointEmail") == []
    # Gone to the Recycle Bin: deleting or updating it again is ENTITY_IS_DELETED.
    again = call(sf, "DELETE", path, params={"ids": consent}).json()
    assert again[0]["errors"][0]["statusCode"] == "ENTITY_IS_DELETED"
    update = {
        "records": [{"attributes": {"type": "ContactPointEmail"}, "id": point, "EmailAddress": "x@y.de"}]
    }
    assert call(sf, "PATCH", path, json=update).json()[0]["errors"][0]["statusCode"] == "ENTITY_IS_DELETED"
    # An Individual deleted clears the Contact's optional lookup to it; ShouldForget is writable.
    flag = {"records": [{"attributes": {"type": "Individual"}, "id": party, "ShouldForget": True}]}
    assert call(sf, "PATCH", path, json=flag).json()[0]["success"] is True
    assert call(sf, "DELETE", path, params={"ids": party}).json()[0]["success"] is True
    assert sf.find("Contact", Id=contact)[0]["IndividualId"] is None
    assert sf.deleted["Individual"][party]["ShouldForget"] is True


def test_a_call_of_more_than_ten_runs_of_one_type_is_refused(sf):
    party = sf.insert("Individual", LastName="Lovelace")
    alternating = [
        {"attributes": {"type": "ContactPointEmail"}, "ParentId": party, "EmailAddress": f"a{n}@example.com"}
        if n % 2
        else {"attributes": {"type": "Individual"}, "LastName": f"P{n}"}
        for n in range(11)
    ]
    refused = call(sf, "POST", f"{DATA}/composite/sobjects", json={"records": alternating})
    assert refused.status_code == 400
    assert "10 chunks" in refused.json()[0]["message"]
    assert sf.find("ContactPointEmail") == []
    grouped = sorted(alternating, key=lambda row: row["attributes"]["type"])  # two runs
    assert call(sf, "POST", f"{DATA}/composite/sobjects", json={"records": grouped}).status_code == 200
    assert len(sf.find("ContactPointEmail")) == 5


@pytest.mark.parametrize(
    ("soql", "code"),
    [
        ("SELECT Id FROM Contact WHERE Email LIKE 'a%'", "MALFORMED_QUERY"),
        ("SELECT COUNT() FROM Contact", "MALFORMED_QUERY"),
        ("SELECT Id, Account.Name FROM Contact", "MALFORMED_QUERY"),
        ("SELECT Id FROM Contact WHERE DoNotCall = true AND Email = 'a' OR Phone = 'b'", "MALFORMED_QUERY"),
        ("SELECT Id FROM Contact WHERE DoNotCall = 'true'", "INVALID_QUERY_FILTER_OPERATOR"),
        (
            "SELECT Id FROM Contact WHERE SystemModstamp > '2026-01-01T00:00:00Z'",
            "INVALID_QUERY_FILTER_OPERATOR",
        ),
        ("SELECT Nope FROM Contact", "INVALID_FIELD"),
        ("SELECT Id FROM Nothing", "INVALID_TYPE"),
    ],
)
def test_soql_outside_the_subset_or_wrong_is_refused(sf, soql, code):
    reply = call(sf, "GET", f"{DATA}/query", params={"q": soql})
    assert reply.status_code == 400
    assert reply.json()[0]["errorCode"] == code


def test_a_query_pages_through_next_records_url(sf):
    sf.page_size = 2
    for n in range(5):
        person(sf, external_id=f"c{n}", email=f"p{n}@example.com")
    target = Target(public_id="", base_url=sf.base_url, credentials=CREDENTIALS, mapping={})
    rows = query_all(
        target,
        "SELECT Id, Candor_Id__c FROM Contact WHERE Candor_Id__c IN ('c0', 'C1', 'c3', 'c4', 'c9') "
        "ORDER BY Candor_Id__c DESC",
        client=http_client(),
    )
    assert [row["Candor_Id__c"] for row in rows] == ["c4", "c3", "c1", "c0"]  # SOQL is case-insensitive
    assert len(sf.api_calls("/query/")) == 1


def test_limits_and_outages_answer_as_salesforce_does(sf):
    reply = call(sf, "GET", f"{DATA}/query", params={"q": "SELECT Id FROM Contact"})
    assert reply.headers["Sforce-Limit-Info"] == f"api-usage=1/{sf.api_max}"
    sf.api_used = sf.api_max
    limited = call(sf, "GET", f"{DATA}/query", params={"q": "SELECT Id FROM Contact"})
    assert (limited.status_code, limited.json()) == (
        403,
        [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}],
    )
    sf.api_used = 0
    sf.outage(1)
    down = call(sf, "GET", f"{DATA}/query", params={"q": "SELECT Id FROM Contact"})
    assert (down.status_code, down.json()[0]["errorCode"]) == (503, "SERVER_UNAVAILABLE")
    assert call(sf, "GET", f"{DATA}/query", params={"q": "SELECT Id FROM Contact"}).status_code == 200


# --- the connector's OAuth ---------------------------------------------------------------------


@pytest.fixture
def target(sf: FakeSalesforce) -> Target:
    cache.clear()
    return Target(public_id="con_test", base_url=sf.base_url, credentials=dict(CREDENTIALS), mapping={})


def test_the_token_is_cached_per_connector(sf, target):
    for _ in range(3):
        api_call(target, "GET", f"{DATA}/sobjects/Contact/describe", client=http_client())
    assert sf.tokens_issued == 1
    other = Target(public_id="con_other", base_url=sf.base_url, credentials=dict(CREDENTIALS), mapping={})
    api_call(other, "GET", f"{DATA}/sobjects/Contact/describe", client=http_client())
    assert sf.tokens_issued == 2


def test_an_expired_session_fetches_one_new_token_and_retries_once(sf, target):
    api_call(target, "GET", f"{DATA}/sobjects/Contact/describe", client=http_client())
    sf.expire_sessions()
    before = sf.api_used
    answer = api_call(target, "GET", f"{DATA}/sobjects/Contact/describe", client=http_client())
    assert answer.body["name"] == "Contact"
    assert sf.tokens_issued == 2
    assert sf.api_used == before + 1  # the refused call does not count; the retry does


def test_a_session_refused_twice_is_not_retried_without_end(sf, target, monkeypatch):
    api_call(target, "GET", f"{DATA}/sobjects/Contact/describe", client=http_client())
    # Every token the org issues is dead on arrival: one refresh, then the refusal.
    original = sf._token

    def dead(request: Any) -> Any:
        response = original(request)
        sf.expire_sessions()
        return response

    monkeypatch.setattr(sf, "_token", dead)
    sf.expire_sessions()
    with pytest.raises(SalesforceRefused) as refused:
        api_call(target, "GET", f"{DATA}/sobjects/Contact/describe", client=http_client())
    assert refused.value.status_code == 401
    assert sf.tokens_issued == 2


def test_the_jwt_bearer_flow_gets_a_token(sf):
    cache.clear()
    jwt_target = Target(
        public_id="con_jwt",
        base_url=sf.base_url,
        credentials={"client_id": JWT_CLIENT, "username": JWT_USER, "private_key": PRIVATE_PEM},
        mapping={},
    )
    assert (
        api_call(jwt_target, "GET", f"{DATA}/sobjects/Contact/describe", client=http_client()).body["name"]
        == "Contact"
    )
    assert sf.tokens_issued == 1


def test_refusals_name_no_credential(sf, target):
    wrong = Target(
        public_id="con_x",
        base_url=sf.base_url,
        credentials={"client_id": CLIENT_ID, "client_secret": "wrong-secret-value"},
        mapping={},
    )
    with pytest.raises(SalesforceRefused) as refused:
        api_call(wrong, "GET", f"{DATA}/sobjects/Contact/describe", client=http_client())
    assert "invalid_client" in str(refused.value)
    assert "wrong-secret-value" not in str(refused.value)
    assert "wrong-secret-value" not in refused.value.excerpt
    assert sf.tokens_issued == 0
