"""Consent receipts: Kantara Consent Receipt v1.1 signed as a compact JWS, and a DPV JSON-LD record."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from joserfc import jws

from brands.keys import signing_key
from consent.ledger import iso_utc
from consent.models import ConsentEvent, ConsentType, Decision, PersonalDataCategory, Purpose

KANTARA_VERSION = "KI-CR-v1.1.0"
DPV_27560_RECORD = "https://w3id.org/dpv/schema/dpv-27560#record"


def jwks_url(brand_slug: str) -> str:
    return f"{settings.PUBLIC_BASE_URL}/.well-known/candor/{brand_slug}/jwks.json"


# What a receipt says when the purpose names no categories of its own.
DEFAULT_PII_CATEGORIES = ["contact details", "preferences"]


def discloses_to_third_parties(purpose: Purpose) -> bool:
    """Selling or sharing is disclosure to third parties by definition (CCPA/CPRA)."""
    return purpose.sale_or_sharing or bool(purpose.third_parties)


def kantara_receipt(event: ConsentEvent) -> dict[str, Any]:
    brand, purpose, notice = event.brand, event.purpose, event.notice_version
    if event.decision == Decision.WITHDRAWN:
        termination = "Consent withdrawn by this event."
    elif event.decision == Decision.EXPIRED:
        termination = "Consent expired at the time of this event."
    elif event.expires_at:
        termination = f"Until withdrawn, or until {iso_utc(event.expires_at)} at the latest."
    else:
        termination = "Until withdrawn; withdraw at any time through the preference centre or any message."
    receipt: dict[str, Any] = {
        "version": KANTARA_VERSION,
        "jurisdiction": event.jurisdiction or brand.jurisdiction,
        "consentTimestamp": int(event.occurred_at.timestamp()),
        "collectionMethod": event.get_method_display(),
        "consentReceiptID": str(event.id),
        "publicKey": jwks_url(brand.slug),
        "language": notice.language if notice else brand.default_language,
        "piiPrincipalId": event.contact.external_id,
        "piiControllers": [
            {
                "piiController": brand.name,
                "onBehalf": False,
                "contact": brand.contact_email or brand.name,
                "address": brand.address,
                "email": brand.contact_email,
                "phone": "",
                "piiControllerUrl": brand.website,
            }
        ],
        "policyUrl": brand.privacy_policy_url,
        "services": [
            {
                "service": brand.name,
                "purposes": [
                    {
                        "purpose": purpose.name,
                        "purposeCategory": [purpose.dpv_purpose],
                        "consentType": "EXPLICIT"
                        if event.consent_type == ConsentType.EXPRESS
                        else "IMPLICIT",
                        "piiCategory": [
                            PersonalDataCategory(category).label for category in purpose.personal_data
                        ]
                        or DEFAULT_PII_CATEGORIES,
                        "primaryPurpose": True,
                        "termination": termination,
                        "thirdPartyDisclosure": discloses_to_third_parties(purpose),
                        # Kantara 1.1 has one string for the names.
                        "thirdPartyName": ", ".join(purpose.third_parties),
                    }
                ],
            }
        ],
        "sensitive": False,
        "spiCat": [],
        # Candor's evidence, namespaced so Kantara consumers can ignore it.
        "candor": {
            "decision": event.decision,
            "purpose": purpose.slug,
            "notice_version": notice.public_id if notice else None,
            "notice_hash": notice.content_hash if notice else None,
            "occurred_at": iso_utc(event.occurred_at),
            "recorded_at": iso_utc(event.recorded_at),
            "expires_at": iso_utc(event.expires_at),
            "sequence": event.sequence,
            "hash": event.hash,
            "prev_hash": event.prev_hash,
        },
    }
    # A grant a double opt-in confirmed names its request and the confirmation email sent
    # (compliance #9); the request's IP and user agent are personal and stay out of receipts.
    evidence = getattr(event, "evidence", None)
    if evidence is not None and evidence.opt_in_request:
        receipt["candor"]["double_opt_in"] = evidence.opt_in_request
    return receipt


def signed_receipt(event: ConsentEvent) -> dict[str, Any]:
    receipt = kantara_receipt(event)
    kid, key = signing_key(event.brand)
    payload = json.dumps(receipt, sort_keys=True, separators=(",", ":")).encode()
    token = jws.serialize_compact({"alg": "ES256", "kid": kid, "cty": "json"}, payload, key)
    return {"receipt": receipt, "jws": token, "kid": kid, "jwks_url": jwks_url(event.brand.slug)}


_DPV_STATUS: dict[str, str] = {
    Decision.GRANTED: "dpv:ConsentGiven",
    Decision.WITHDRAWN: "dpv:ConsentWithdrawn",
    Decision.EXPIRED: "dpv:ConsentExpired",
}


def dpv_record(event: ConsentEvent) -> dict[str, Any]:
    brand, purpose, notice = event.brand, event.purpose, event.notice_version
    status = _DPV_STATUS[event.decision]
    record: dict[str, Any] = {
        "@context": {
            "dpv": "https://w3id.org/dpv#",
            "pd": "https://w3id.org/dpv/pd#",
            "dct": "http://purl.org/dc/terms/",
        },
        "@id": f"urn:uuid:{event.id}",
        "@type": "dpv:ConsentRecord",
        "dct:conformsTo": DPV_27560_RECORD,
        "dct:created": iso_utc(event.recorded_at),
        "dpv:hasDataSubject": {"@id": f"urn:candor:{brand.slug}:contact:{event.contact.external_id}"},
        "dpv:hasDataController": {"@type": "dpv:DataController", "dct:title": brand.name},
        "dpv:hasJurisdiction": event.jurisdiction or brand.jurisdiction,
        "dpv:hasPurpose": {
            "@type": purpose.dpv_purpose,
            "dct:identifier": purpose.slug,
            "dct:title": purpose.name,
        },
        "dpv:hasConsentType": {
            "@id": "dpv:ExpressedConsent"
            if event.consent_type == ConsentType.EXPRESS
            else "dpv:ImpliedConsent"
        },
        "dpv:hasConsentStatus": {"@id": status},
        "dpv:isIndicatedAtTime": iso_utc(event.occurred_at),
        "dpv:isIndicatedBy": event.actor,
        "dpv:hasIndicationMethod": event.method,
    }
    if purpose.personal_data:
        record["dpv:hasPersonalData"] = [{"@id": category} for category in purpose.personal_data]
    if purpose.third_parties:
        record["dpv:hasRecipient"] = [
            {"@type": "dpv:ThirdParty", "dct:title": name} for name in purpose.third_parties
        ]
    if notice is not None:
        record["dpv:hasNotice"] = {
            "@id": f"urn:candor:notice-version:{notice.public_id}",
            "@type": "dpv:ConsentNotice",
            "dct:language": notice.language,
            "dct:identifier": notice.content_hash,
        }
    if event.expires_at is not None:
        record["dpv:hasExpiryTime"] = iso_utc(event.expires_at)
    return record
