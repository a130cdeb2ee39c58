"""Canonical serialisation and hashing of ledger rows.

The same functions compute a hash when an event is written and when
`verify_ledger` recomputes it, so the two can never drift apart.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from consent.models import ConsentEvent, ConsentEvidence

HASH_VERSION = 1


def canonical_json(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def iso_utc(value: datetime | None) -> str | None:
    """Fixed-width UTC timestamp with microseconds: identical before and after a DB round trip."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def evidence_digest(evidence: ConsentEvidence) -> str:
    fields: dict[str, Any] = {
        "salt": evidence.salt,
        "ip": evidence.ip,
        "user_agent": evidence.user_agent,
        "page_url": evidence.page_url,
        "gpc": evidence.gpc,
        "tc_string": evidence.tc_string,
        "gpp_string": evidence.gpp_string,
    }
    # Later fields join the digest only when set, so digests of older evidence stay as they were.
    if evidence.phone:
        fields["phone"] = evidence.phone
    if evidence.message:
        fields["message"] = evidence.message
    if evidence.opt_in_request:
        fields["opt_in_request"] = evidence.opt_in_request
    if evidence.opt_in_request_ip:
        fields["opt_in_request_ip"] = evidence.opt_in_request_ip
    if evidence.opt_in_request_user_agent:
        fields["opt_in_request_user_agent"] = evidence.opt_in_request_user_agent
    return hashlib.sha256(canonical_json(fields)).hexdigest()


def event_hash(event: ConsentEvent, *, notice_hash: str | None, purpose_slug: str) -> str:
    """SHA-256 over the event's facts and its predecessor's hash. No personal data goes in."""
    fields = {
        "v": HASH_VERSION,
        "id": str(event.id),
        "brand": event.brand_id,
        "contact": event.contact_id,
        "sequence": event.sequence,
        "purpose": purpose_slug,
        "decision": event.decision,
        "notice_version": event.notice_version.public_id if event.notice_version else None,
        "notice_hash": notice_hash,
        "consent_type": event.consent_type,
        "method": event.method,
        "actor": event.actor,
        "recorded_by": event.recorded_by,
        "jurisdiction": event.jurisdiction,
        "occurred_at": iso_utc(event.occurred_at),
        "recorded_at": iso_utc(event.recorded_at),
        "expires_at": iso_utc(event.expires_at),
        "evidence_digest": event.evidence_digest,
        "prev_hash": event.prev_hash,
    }
    return hashlib.sha256(canonical_json(fields)).hexdigest()


def supersedes(
    *, occurred_at: datetime, decision: str, sequence: int, than: tuple[datetime, str, int]
) -> bool:
    """The conflict rule: the latest occurred_at wins; on a tie a withdrawal beats a grant,
    and then the later-recorded event wins."""

    def key(at: datetime, dec: str, seq: int) -> tuple[datetime, int, int]:
        return (at, 1 if dec == "withdrawn" else 0, seq)

    return key(occurred_at, decision, sequence) > key(*than)
