from __future__ import annotations

import json
from datetime import UTC, datetime

from joserfc import jws
from joserfc.jwk import KeySet

URL = "/api/v1/contacts/cust-1/consents"


def record(api, notice_version, **extra):
    return api.post(
        URL,
        {
            "purpose": "email-marketing",
            "decision": "granted",
            "notice_version": notice_version.public_id,
            **extra,
        },
        format="json",
    ).json()


def test_receipt_is_a_kantara_v11_receipt_signed_with_the_published_key(
    api, client, brand, contact, purpose, notice_version
):
    event = record(api, notice_version, occurred_at="2026-11-20T08:00:00Z")
    response = api.get(f"/api/v1/consent-events/{event['event_id']}/receipt")
    assert response.status_code == 200
    body = response.json()
    receipt = body["receipt"]

    assert receipt["version"] == "KI-CR-v1.1.0"
    for field in (
        "jurisdiction",
        "consentTimestamp",
        "collectionMethod",
        "consentReceiptID",
        "publicKey",
        "language",
        "piiPrincipalId",
        "piiControllers",
        "policyUrl",
        "services",
        "sensitive",
        "spiCat",
    ):
        assert field in receipt, field
    assert receipt["consentReceiptID"] == event["event_id"]
    assert receipt["consentTimestamp"] == int(datetime(2026, 11, 20, 8, 0, tzinfo=UTC).timestamp())
    assert receipt["piiPrincipalId"] == "cust-1"
    assert receipt["piiControllers"][0]["piiController"] == "Acme Ltd"
    [service] = receipt["services"]
    [purpose_entry] = service["purposes"]
    assert purpose_entry["consentType"] == "EXPLICIT"
    assert purpose_entry["purposeCategory"] == ["dpv:Marketing"]
    assert receipt["candor"]["notice_hash"] == notice_version.content_hash
    assert receipt["candor"]["hash"] == event["hash"]

    jwks = client.get(f"/.well-known/candor/{brand.slug}/jwks.json")
    assert jwks.status_code == 200
    assert body["jwks_url"].endswith(f"/.well-known/candor/{brand.slug}/jwks.json")
    keys = KeySet.import_key_set(jwks.json())
    token = jws.deserialize_compact(body["jws"], keys.get_by_kid(body["kid"]))
    assert json.loads(token.payload) == receipt
    assert token.protected["alg"] == "ES256"


def test_receipt_signature_fails_with_another_brands_key(
    api, client, brand, other_brand, contact, purpose, notice_version
):
    import pytest
    from joserfc.errors import BadSignatureError

    event = record(api, notice_version)
    body = api.get(f"/api/v1/consent-events/{event['event_id']}/receipt").json()
    foreign = KeySet.import_key_set(client.get(f"/.well-known/candor/{other_brand.slug}/jwks.json").json())
    with pytest.raises(BadSignatureError):
        jws.deserialize_compact(body["jws"], foreign.keys[0])


def test_old_receipts_still_verify_after_secret_rotation(
    api, client, brand, contact, purpose, notice_version, settings
):
    event = record(api, notice_version)
    body = api.get(f"/api/v1/consent-events/{event['event_id']}/receipt").json()
    old_secret = settings.SECRET_KEY
    settings.SECRET_KEY = "a-brand-new-secret-key-for-rotation-0123456789"
    settings.SECRET_KEY_FALLBACKS = [old_secret]
    keys = KeySet.import_key_set(client.get(f"/.well-known/candor/{brand.slug}/jwks.json").json())
    assert len(keys.keys) == 2
    jws.deserialize_compact(body["jws"], keys.get_by_kid(body["kid"]))
    newer = api.get(f"/api/v1/consent-events/{event['event_id']}/receipt").json()
    assert newer["kid"] != body["kid"]


def test_dpv_record(api, contact, purpose, notice_version):
    event = record(api, notice_version)
    response = api.get(f"/api/v1/consent-events/{event['event_id']}/receipt?format=dpv")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/ld+json"
    doc = response.json()
    assert doc["@type"] == "dpv:ConsentRecord"
    assert doc["dct:conformsTo"] == "https://w3id.org/dpv/schema/dpv-27560#record"
    assert doc["dpv:hasConsentStatus"] == {"@id": "dpv:ConsentGiven"}
    assert doc["dpv:hasNotice"]["dct:language"] == "en"
    assert api.get(f"/api/v1/consent-events/{event['event_id']}/receipt?format=pdf").status_code == 422


def test_unknown_or_malformed_event_id_is_404(api, brand, client):
    assert api.get("/api/v1/consent-events/not-a-uuid/receipt").status_code == 404
    assert api.get("/api/v1/consent-events/6f1f5b4e-6a0c-4a43-9d1e-7d4b1f0b8c11/receipt").status_code == 404
    assert client.get("/.well-known/candor/nope/jwks.json").status_code == 404


# --- Third parties and personal data (#7) ---------------------------------------------------------

SHARING_AT = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def _sharing_receipts(api, brand, contact, make_purpose, **purpose_fields):
    import time_machine

    from tests.conftest import current_version

    purpose = make_purpose(
        brand,
        "ad-sharing",
        sale_or_sharing=True,
        dpv_purpose="dpv:PersonalisedAdvertising",
        **purpose_fields,
    )
    version = current_version(purpose)
    with time_machine.travel(SHARING_AT, tick=False):
        event = api.post(
            URL,
            {"purpose": "ad-sharing", "decision": "granted", "notice_version": version.public_id},
            format="json",
        ).json()
        kantara = api.get(f"/api/v1/consent-events/{event['event_id']}/receipt").json()
        dpv = api.get(f"/api/v1/consent-events/{event['event_id']}/receipt?format=dpv").json()
    return event, version, kantara, dpv


def test_a_sale_or_sharing_receipt_names_the_third_parties_and_the_data(api, brand, contact, make_purpose):
    event, version, kantara, dpv = _sharing_receipts(
        api,
        brand,
        contact,
        make_purpose,
        third_parties=["AdNet Ltd", "Audience Exchange GmbH"],
        personal_data=["pd:EmailAddress", "pd:PurchasesAndSpendingHabit"],
    )

    assert kantara["receipt"]["services"] == [
        {
            "service": "Acme Ltd",
            "purposes": [
                {
                    "purpose": "Ad Sharing",
                    "purposeCategory": ["dpv:PersonalisedAdvertising"],
                    "consentType": "EXPLICIT",
                    "piiCategory": ["Email address", "Purchases and spending habits"],
                    "primaryPurpose": True,
                    "termination": "Until withdrawn; withdraw at any time through the preference centre "
                    "or any message.",
                    "thirdPartyDisclosure": True,
                    "thirdPartyName": "AdNet Ltd, Audience Exchange GmbH",
                }
            ],
        }
    ]
    # The signed payload says the same.
    payload = json.loads(jws.deserialize_compact(kantara["jws"], _brand_key(api, brand)).payload)
    assert payload["services"] == kantara["receipt"]["services"]

    assert dpv == {
        "@context": {
            "dpv": "https://w3id.org/dpv#",
            "pd": "https://w3id.org/dpv/pd#",
            "dct": "http://purl.org/dc/terms/",
        },
        "@id": f"urn:uuid:{event['event_id']}",
        "@type": "dpv:ConsentRecord",
        "dct:conformsTo": "https://w3id.org/dpv/schema/dpv-27560#record",
        "dct:created": "2026-11-22T10:00:00.000000Z",
        "dpv:hasDataSubject": {"@id": "urn:candor:acme:contact:cust-1"},
        "dpv:hasDataController": {"@type": "dpv:DataController", "dct:title": "Acme Ltd"},
        "dpv:hasJurisdiction": "DE",
        "dpv:hasPurpose": {
            "@type": "dpv:PersonalisedAdvertising",
            "dct:identifier": "ad-sharing",
            "dct:title": "Ad Sharing",
        },
        "dpv:hasConsentType": {"@id": "dpv:ExpressedConsent"},
        "dpv:hasConsentStatus": {"@id": "dpv:ConsentGiven"},
        "dpv:isIndicatedAtTime": "2026-11-22T10:00:00.000000Z",
        "dpv:isIndicatedBy": "subject",
        "dpv:hasIndicationMethod": "api",
        "dpv:hasPersonalData": [{"@id": "pd:EmailAddress"}, {"@id": "pd:PurchasesAndSpendingHabit"}],
        "dpv:hasRecipient": [
            {"@type": "dpv:ThirdParty", "dct:title": "AdNet Ltd"},
            {"@type": "dpv:ThirdParty", "dct:title": "Audience Exchange GmbH"},
        ],
        "dpv:hasNotice": {
            "@id": f"urn:candor:notice-version:{version.public_id}",
            "@type": "dpv:ConsentNotice",
            "dct:language": "en",
            "dct:identifier": version.content_hash,
        },
    }


def test_sale_or_sharing_is_a_disclosure_even_before_the_parties_are_named(api, brand, contact, make_purpose):
    _event, _version, kantara, dpv = _sharing_receipts(api, brand, contact, make_purpose)
    [purpose] = kantara["receipt"]["services"][0]["purposes"]
    assert (purpose["thirdPartyDisclosure"], purpose["thirdPartyName"], purpose["piiCategory"]) == (
        True,
        "",
        ["contact details", "preferences"],
    )
    assert "dpv:hasPersonalData" not in dpv
    assert "dpv:hasRecipient" not in dpv


def test_a_purpose_that_shares_nothing_says_so(api, contact, purpose, notice_version):
    event = record(api, notice_version)
    receipt = api.get(f"/api/v1/consent-events/{event['event_id']}/receipt").json()["receipt"]
    [shown] = receipt["services"][0]["purposes"]
    assert (shown["thirdPartyDisclosure"], shown["thirdPartyName"]) == (False, "")


def test_unknown_personal_data_categories_and_blank_parties_are_refused(brand, make_purpose):
    import pytest

    from config.errors import Unprocessable
    from consent.models import Purpose

    with pytest.raises(Unprocessable) as caught:
        make_purpose(brand, "bad-data", personal_data=["pd:ShoeSize"])
    assert list(caught.value.errors) == ["personal_data"]
    with pytest.raises(Unprocessable) as caught:
        make_purpose(brand, "bad-parties", third_parties=["  "])
    assert list(caught.value.errors) == ["third_parties"]
    assert not Purpose.objects.filter(slug__startswith="bad-").exists()


def _brand_key(api, brand):
    keys = api.get(f"/.well-known/candor/{brand.slug}/jwks.json").json()
    return KeySet.import_key_set(keys)
