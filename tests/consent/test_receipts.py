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
