"""Signed checkpoints of the ledger: a signed tree head per brand, as Certificate Transparency
publishes for its logs (RFC 6962 section 3.5, RFC 9162 section 4.10).

A checkpoint is the RFC 6962 Merkle root over every chain head of the brand (consent.merkle),
with the tree size and the time, signed as a compact ES256 JWS with the brand's receipt key.
It is stored, served by the API and sent through the outbox as `ledger.checkpoint`, so the
brand's own systems hold copies that nobody with access to Candor's database can rewrite: a
forger who rewrites a chain and recomputes every later hash and the head still changes the
head that the checkpoint signed, and cannot sign a new checkpoint without the key (derived from
SECRET_KEY, never stored in the database).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from brands.keys import public_jwks, signing_key
from brands.models import Brand
from consent.ledger import iso_utc
from consent.merkle import leaf_bytes, tree_root
from consent.models import Contact, LedgerCheckpoint
from consent.receipts import jwks_url
from sync.models import EventType
from sync.outbox.events import brand_event_record

CHECKPOINT_TYPE = "candor.ledger.checkpoint"
CHECKPOINT_VERSION = 1


def checkpoint_payload(checkpoint: LedgerCheckpoint, *, brand_slug: str) -> dict[str, Any]:
    """What is signed: everything a holder needs to check the ledger against it later."""
    return {
        "typ": CHECKPOINT_TYPE,
        "v": CHECKPOINT_VERSION,
        "brand": brand_slug,
        "number": checkpoint.number,
        "issued_at": iso_utc(checkpoint.issued_at),
        "tree_size": checkpoint.tree_size,
        "root_hash": checkpoint.root_hash,
        "previous_root_hash": checkpoint.previous_root_hash or None,
    }


def checkpoint_document(checkpoint: LedgerCheckpoint, *, brand_slug: str) -> dict[str, Any]:
    """The published form (API, `ledger.checkpoint` event data, a file for verify_ledger)."""
    return {
        "checkpoint": checkpoint_payload(checkpoint, brand_slug=brand_slug),
        "jws": checkpoint.jws,
        "kid": checkpoint.kid,
        "jwks_url": jwks_url(brand_slug),
    }


def _heads(brand: Brand) -> list[bytes]:
    rows = (
        Contact.objects.filter(brand=brand, ledger_sequence__gt=0)
        .order_by("pk")
        .values_list("pk", "ledger_sequence", "ledger_head")
    )
    return [
        leaf_bytes(contact_id=pk, sequence=sequence, head=head)
        for pk, sequence, head in rows.iterator(chunk_size=5000)
    ]


@transaction.atomic
def checkpoint_create(*, brand: Brand, only_if_changed: bool = False) -> LedgerCheckpoint | None:
    """Sign the brand's chain heads as they are now and announce the checkpoint.

    The brand's row lock serialises checkpoints of one brand (numbers without gaps). The heads
    are read by one statement, so they are one moment's: a write commits its events and its
    contact's head together. With `only_if_changed` (the periodic run) nothing is signed while
    the root is the latest checkpoint's; None then.
    """
    Brand.objects.select_for_update().filter(pk=brand.pk).values_list("pk").first()
    previous = LedgerCheckpoint.objects.filter(brand=brand).order_by("-number").first()
    leaves = _heads(brand)
    root = tree_root(leaves)
    if only_if_changed and previous is not None and previous.root_hash == root:
        return None
    checkpoint = LedgerCheckpoint(
        brand=brand,
        number=(previous.number + 1) if previous else 1,
        issued_at=timezone.now(),
        tree_size=len(leaves),
        root_hash=root,
        previous_root_hash=previous.root_hash if previous else "",
        leaves=b"".join(leaves),
    )
    kid, key = signing_key(brand)
    payload = json.dumps(
        checkpoint_payload(checkpoint, brand_slug=brand.slug), sort_keys=True, separators=(",", ":")
    ).encode()
    checkpoint.kid = kid
    checkpoint.jws = jws.serialize_compact({"alg": "ES256", "kid": kid, "cty": "json"}, payload, key)
    checkpoint.save(force_insert=True)
    brand_event_record(
        brand=brand,
        type=EventType.LEDGER_CHECKPOINT,
        data=checkpoint_document(checkpoint, brand_slug=brand.slug),
        now=checkpoint.issued_at,
    )
    return checkpoint


def checkpoints_create_all(*, only_if_changed: bool = True) -> int:
    """One checkpoint per brand (the periodic task); how many were signed. Each brand in its own
    transaction, so one brand's failure keeps the others' checkpoints."""
    made = 0
    for brand in Brand.objects.order_by("pk"):
        if checkpoint_create(brand=brand, only_if_changed=only_if_changed) is not None:
            made += 1
    return made


class CheckpointInvalid(Exception):
    """A checkpoint whose signature, format or brand does not check out."""


@dataclass(frozen=True)
class SignedCheckpoint:
    brand_slug: str
    number: int
    issued_at: str
    tree_size: int
    root_hash: str


def checkpoint_open(*, token: str, brand: Brand) -> SignedCheckpoint:
    """Check a compact JWS against the brand's published keys and read its payload."""
    # Every key the brand publishes (SECRET_KEY and its fallbacks), chosen by the JWS's kid.
    keys = KeySet.import_key_set(public_jwks(brand))  # type: ignore[arg-type]
    try:
        payload = json.loads(jws.deserialize_compact(token, keys, algorithms=["ES256"]).payload)
    except (JoseError, ValueError, TypeError):
        raise CheckpointInvalid(f"it is not signed by a key of brand '{brand.slug}'") from None
    if not isinstance(payload, dict) or payload.get("typ") != CHECKPOINT_TYPE:
        raise CheckpointInvalid("it is not a Candor ledger checkpoint")
    if payload.get("brand") != brand.slug:
        raise CheckpointInvalid(f"it names brand '{payload.get('brand')}', not '{brand.slug}'")
    try:
        return SignedCheckpoint(
            brand_slug=brand.slug,
            number=int(payload["number"]),
            issued_at=str(payload["issued_at"]),
            tree_size=int(payload["tree_size"]),
            root_hash=str(payload["root_hash"]),
        )
    except (KeyError, TypeError, ValueError):
        raise CheckpointInvalid("its payload lacks a field") from None


def checkpoint_tokens_from_file(text: str) -> list[str]:
    """The JWSs in a file a brand kept: a checkpoint document as the API serves it, the body of a
    `ledger.checkpoint` webhook or feed event, a bare compact JWS, or a JSON list of these."""
    text = text.strip()
    if text.count(".") == 2 and not text.startswith(("{", "[")):
        return [text]
    try:
        data = json.loads(text)
    except ValueError:
        raise CheckpointInvalid("the file is neither JSON nor a compact JWS") from None
    items = data if isinstance(data, list) else [data]
    tokens = []
    for item in items:
        if isinstance(item, str):
            tokens.append(item)
            continue
        if isinstance(item, dict) and isinstance(item.get("data"), dict):
            item = item["data"]
        if not isinstance(item, dict) or not isinstance(item.get("jws"), str):
            raise CheckpointInvalid("an entry of the file carries no 'jws'")
        tokens.append(item["jws"])
    return tokens
