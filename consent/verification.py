"""Recompute every chain and the projection from the ledger; report the first mismatch."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.db import connection, transaction

from brands.models import Brand
from consent.ledger import event_hash, evidence_digest, supersedes
from consent.models import GENESIS_HASH, ConsentEvent, ConsentState, Contact


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


def ledger_verify(*, brand: Brand | None = None, stop_at_first: bool = True) -> LedgerReport:
    with _snapshot():
        return _verify(brand=brand, stop_at_first=stop_at_first)


def _verify(*, brand: Brand | None, stop_at_first: bool) -> LedgerReport:
    report = LedgerReport()
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

    def problem(message: str) -> bool:
        report.problems.append(message)
        return stop_at_first

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
        elif (
            evidence.erased_at is None
            and evidence_digest(evidence) != event.evidence_digest
            and problem(f"{where}: evidence does not match its digest")
        ):
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
