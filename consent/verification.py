"""Recompute every chain and the projection from the ledger; check them against the signed
checkpoints (the latest of each brand, and any a brand hands in); report the first mismatch."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from joserfc import jws
from joserfc.errors import JoseError

from brands.models import Brand
from consent.checkpoints import CheckpointInvalid, checkpoint_open
from consent.ledger import event_hash, evidence_digest, supersedes
from consent.merkle import leaf_unpack, leaves_split, tree_root
from consent.models import (
    GENESIS_HASH,
    ConsentEvent,
    ConsentEvidence,
    ConsentState,
    Contact,
    EvidencePurge,
    LedgerCheckpoint,
)

# What erasure and the retention purge clear; nothing else may change on evidence.
ERASED_FIELDS = tuple(ConsentEvidence.ERASED_VALUES)


@dataclass
class LedgerReport:
    contacts: int = 0
    events: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _events(brand: Brand | None) -> Iterator[ConsentEvent]:
    events = ConsentEvent.objects.select_related("purpose", "notice_version", "evidence").order_by(
        "contact_id", "sequence"
    )
    if brand is not None:
        events = events.filter(brand=brand)
    return events.iterator(chunk_size=2000)


@contextmanager
def _snapshot() -> Iterator[None]:
    """Read heads, events and states as of one moment, so writes going on meanwhile are not
    reported as broken chains. (Inside a caller's transaction, that transaction is the snapshot.)"""
    if connection.in_atomic_block:
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        yield


def ledger_verify(
    *, brand: Brand | None = None, stop_at_first: bool = True, checkpoint_tokens: list[str] | None = None
) -> LedgerReport:
    """`checkpoint_tokens`: compact JWSs of checkpoints the brand kept (verify_ledger --checkpoint)."""
    with _snapshot():
        return _verify(brand=brand, stop_at_first=stop_at_first, checkpoint_tokens=checkpoint_tokens or [])


@dataclass
class _Signed:
    """A checkpoint to hold the chains to: (contact id, sequence) -> the head it signed."""

    label: str
    heads: dict[tuple[int, int], str]


def _checkpoints(
    *, brand: Brand | None, tokens: list[str], problem: Callable[[str], bool]
) -> list[_Signed] | None:
    """The latest stored checkpoint of each brand in scope and every handed-in one, each opened
    with the brand's keys and its stored leaves checked against its signed root. None when a
    problem stops the run."""
    stored = LedgerCheckpoint.objects.select_related("brand")
    if brand is not None:
        stored = stored.filter(brand=brand)
    wanted: list[tuple[Brand, str, LedgerCheckpoint | None, str]] = []
    for row in stored.order_by("brand_id", "-number").distinct("brand_id"):
        wanted.append((row.brand, row.jws, row, f"checkpoint {row.number} ({row.brand.slug})"))
        # Numbers run 1..n without gaps: a deleted checkpoint leaves a hole.
        count = LedgerCheckpoint.objects.filter(brand_id=row.brand_id).count()
        if count != row.number and problem(
            f"checkpoints of brand {row.brand.slug}: "
            f"{row.number - count} of numbers 1..{row.number} are missing"
        ):
            return None
    for index, token in enumerate(tokens, 1):
        try:
            slug = json.loads(jws.extract_compact(token.encode()).payload).get("brand")
        except (JoseError, ValueError, TypeError, AttributeError):
            slug = None
        owner = Brand.objects.filter(slug=slug).first() if isinstance(slug, str) else None
        if owner is None or (brand is not None and owner.pk != brand.pk):
            if problem(f"checkpoint file entry {index}: it is not a checkpoint of a brand being verified"):
                return None
            continue
        wanted.append((owner, token, None, f"checkpoint file entry {index}"))

    signed: list[_Signed] = []
    for owner, token, kept, label in wanted:
        try:
            opened = checkpoint_open(token=token, brand=owner)
        except CheckpointInvalid as exc:
            if problem(f"{label}: {exc}"):
                return None
            continue
        label = f"signed checkpoint {opened.number} of {opened.issued_at} ({owner.slug})"
        if kept is None:
            kept = LedgerCheckpoint.objects.filter(brand=owner, number=opened.number).first()
            if kept is None:
                if problem(f"{label} is missing from the database"):
                    return None
                continue
        if (kept.number, kept.tree_size, kept.root_hash) != (
            opened.number,
            opened.tree_size,
            opened.root_hash,
        ):
            if problem(f"{label}: the stored copy differs from the signed one"):
                return None
            continue
        leaves = leaves_split(bytes(kept.leaves))
        if len(leaves) != opened.tree_size or tree_root(leaves) != opened.root_hash:
            if problem(f"{label}: its stored chain heads do not match its signed root"):
                return None
            continue
        heads = {}
        for leaf in leaves:
            contact_id, sequence, head = leaf_unpack(leaf)
            heads[(contact_id, sequence)] = head
        signed.append(_Signed(label=label, heads=heads))
    return signed


def _erasure_times(brand: Brand | None) -> dict[int, set[Any]]:
    """When each contact's evidence was rightly erased: at its erasure, or by a retention purge."""
    contacts = Contact.objects.filter(erased_at__isnull=False)
    purges = EvidencePurge.objects.all()
    if brand is not None:
        contacts, purges = contacts.filter(brand=brand), purges.filter(brand=brand)
    times: dict[int, set[Any]] = {}
    for contact_id, at in contacts.values_list("pk", "erased_at").iterator(chunk_size=5000):
        times.setdefault(contact_id, set()).add(at)
    for contact_id, at in purges.values_list("contact_id", "purged_at").iterator(chunk_size=5000):
        times.setdefault(contact_id, set()).add(at)
    return times


def _erased_evidence_problem(
    evidence: ConsentEvidence, erasures: dict[int, set[Any]], contact_id: int
) -> str:
    """Erased evidence holds nothing personal, and an erasure or a purge accounts for it; else
    someone with the database hid altered evidence behind `erased_at`."""
    if any(getattr(evidence, name) for name in ERASED_FIELDS):
        return "evidence marked erased still holds data"
    if evidence.erased_at not in erasures.get(contact_id, set()):
        return "evidence was erased by neither an erasure nor a retention purge"
    return ""


def _verify(*, brand: Brand | None, stop_at_first: bool, checkpoint_tokens: list[str]) -> LedgerReport:
    report = LedgerReport()

    def problem(message: str) -> bool:
        report.problems.append(message)
        return stop_at_first

    signed = _checkpoints(brand=brand, tokens=checkpoint_tokens, problem=problem)
    if signed is None:
        return report
    # (contact id, sequence) -> [(signed head, checkpoint label)]: the events to hold to them.
    pinned: dict[tuple[int, int], list[tuple[str, str]]] = {}
    for checkpoint in signed:
        for key, head in checkpoint.heads.items():
            pinned.setdefault(key, []).append((head, checkpoint.label))
    erasures = _erasure_times(brand)
    contacts = Contact.objects.all() if brand is None else Contact.objects.filter(brand=brand)
    heads = {
        c.pk: (c.ledger_sequence, c.ledger_head, c.external_id)
        for c in contacts.only("pk", "ledger_sequence", "ledger_head", "external_id").iterator(
            chunk_size=5000
        )
    }
    states = ConsentState.objects.all() if brand is None else ConsentState.objects.filter(brand=brand)
    stored = {
        (s.contact_id, s.purpose_id): (s.event_id, s.decision)
        for s in states.only("contact_id", "purpose_id", "event_id", "decision").iterator(chunk_size=5000)
    }
    expected: dict[tuple[int, int], ConsentEvent] = {}
    last: dict[int, ConsentEvent] = {}

    for event in _events(brand):
        report.events += 1
        external_id = heads.get(event.contact_id, (0, "", "?"))[2]
        where = f"event {event.id} (contact {external_id}, sequence {event.sequence})"
        previous = last.get(event.contact_id)
        want_sequence = previous.sequence + 1 if previous else 1
        want_prev = previous.hash if previous else GENESIS_HASH
        if event.sequence != want_sequence and problem(f"{where}: expected sequence {want_sequence}"):
            return report
        if event.prev_hash != want_prev and problem(f"{where}: prev_hash does not match the event before it"):
            return report
        notice_hash = event.notice_version.content_hash if event.notice_version else None
        if event_hash(
            event, notice_hash=notice_hash, purpose_slug=event.purpose.slug
        ) != event.hash and problem(f"{where}: hash does not match its content"):
            return report
        evidence = getattr(event, "evidence", None)
        if evidence is None:
            if problem(f"{where}: evidence row is missing"):
                return report
        elif evidence.erased_at is None:
            if evidence_digest(evidence) != event.evidence_digest and problem(
                f"{where}: evidence does not match its digest"
            ):
                return report
        elif (erased := _erased_evidence_problem(evidence, erasures, event.contact_id)) and problem(
            f"{where}: {erased}"
        ):
            return report
        for head, label in pinned.pop((event.contact_id, event.sequence), ()):
            if event.hash != head and problem(f"{where}: the chain up to here differs from {label}"):
                return report
        last[event.contact_id] = event
        key = (event.contact_id, event.purpose_id)
        winner = expected.get(key)
        if winner is None or supersedes(
            occurred_at=event.occurred_at,
            decision=event.decision,
            sequence=event.sequence,
            than=(winner.occurred_at, winner.decision, winner.sequence),
        ):
            expected[key] = event

    for (contact_id, sequence), signers in sorted(pinned.items()):
        external_id = heads.get(contact_id, (0, "", f"id {contact_id}"))[2]
        for _, label in signers:
            if problem(f"contact {external_id}: the event at sequence {sequence}, in {label}, is missing"):
                return report
    for contact_id, (sequence, head, external_id) in heads.items():
        report.contacts += 1
        tail = last.get(contact_id)
        head_ok = (tail.sequence if tail else 0) == sequence and (tail.hash if tail else GENESIS_HASH) == head
        if not head_ok and problem(f"contact {external_id}: chain head does not match its last event"):
            return report
    for key, event in expected.items():
        if stored.get(key) != (event.id, event.decision) and problem(
            f"event {event.id}: consent state for this purpose does not follow the ledger"
        ):
            return report
    for key in stored.keys() - expected.keys():
        if problem(f"consent state for contact id {key[0]}, purpose id {key[1]} has no ledger event"):
            return report
    return report
