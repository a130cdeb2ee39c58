"""Parallel writes on PostgreSQL: real transactions, real row locks, one connection per thread."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from django.db import connections
from django.utils import timezone
from rest_framework.test import APIClient

from brands.models import IdempotencyRecord
from consent.ledger import supersedes
from consent.models import ConsentEvent, ConsentState, Contact, Decision
from consent.services import contact_upsert
from consent.verification import ledger_verify
from sync.models import Event
from tests.actors import TEST_ACTOR
from tests.conftest import ledger_rows

pytestmark = pytest.mark.django_db(transaction=True)

WORKERS = 50


def run_in_parallel(count: int, task: Callable[[int], Any]) -> list[Any]:
    """Run task(0..count-1) in threads released together; each thread closes its connection."""
    barrier = threading.Barrier(count)

    def run(index: int) -> Any:
        try:
            barrier.wait(timeout=30)
            return task(index)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def client_for(raw_key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    return client


@pytest.fixture
def raw_key(brand, settings) -> str:
    from brands.services import api_key_create

    settings.API_RATE_LIMIT = "100000/min"
    return api_key_create(actor=TEST_ACTOR, brand=brand, scopes=["consent:read", "consent:write"]).raw_key


def body(index: int, version_id: str, base) -> dict[str, Any]:
    decision = Decision.GRANTED if index % 2 else Decision.WITHDRAWN
    payload: dict[str, Any] = {
        "purpose": "email-marketing",
        "decision": decision,
        # Few distinct times, so ties (withdrawal wins) and out-of-order arrivals both happen.
        "occurred_at": (base - timedelta(seconds=index % 7)).isoformat(),
    }
    if decision == Decision.GRANTED:
        payload["notice_version"] = version_id
    return payload


def test_fifty_parallel_writes_for_one_contact_leave_a_valid_chain_and_projection(
    contact, notice_version, raw_key
):
    base = timezone.now().replace(microsecond=0) - timedelta(minutes=1)

    def write(index: int) -> int:
        response = client_for(raw_key).post(
            f"/api/v1/contacts/{contact.external_id}/consents",
            body(index, notice_version.public_id, base),
            format="json",
        )
        return response.status_code

    statuses = run_in_parallel(WORKERS, write)

    assert statuses == [201] * WORKERS
    rows = ledger_rows(contact)
    assert [row.sequence for row in rows] == list(range(1, WORKERS + 1))
    assert rows[0].prev_hash == "0" * 64
    for previous, row in itertools.pairwise(rows):
        assert row.prev_hash == previous.hash
    contact.refresh_from_db()
    assert (contact.ledger_sequence, contact.ledger_head) == (WORKERS, rows[-1].hash)

    # The projection holds the ledger's verdict: the decision that no other supersedes.
    verdict = rows[0]
    for row in rows[1:]:
        if supersedes(
            occurred_at=row.occurred_at,
            decision=row.decision,
            sequence=row.sequence,
            than=(verdict.occurred_at, verdict.decision, verdict.sequence),
        ):
            verdict = row
    state = ConsentState.objects.get(contact=contact)
    assert state.event_id == verdict.pk
    assert state.decision == verdict.decision
    assert verdict.occurred_at == base
    assert verdict.decision == Decision.WITHDRAWN  # a tie at the latest time: withdrawal wins

    # One outbox event per change of verdict, numbered without gaps for this contact.
    outbox = list(Event.objects.filter(contact_ref=contact.pk).order_by("sequence"))
    assert [event.sequence for event in outbox] == list(range(1, len(outbox) + 1))
    assert outbox[-1].type == "consent.withdrawn"
    report = ledger_verify()
    assert report.ok, report.problems


def test_writes_for_different_contacts_in_parallel_each_get_their_own_chain(brand, notice_version, raw_key):
    contacts = [contact_upsert(brand=brand, external_id=f"par-{i}")[0] for i in range(10)]

    def write(index: int) -> int:
        target = contacts[index % len(contacts)]
        response = client_for(raw_key).post(
            f"/api/v1/contacts/{target.external_id}/consents",
            {"purpose": "email-marketing", "decision": "granted", "notice_version": notice_version.public_id},
            format="json",
        )
        return response.status_code

    assert run_in_parallel(40, write) == [201] * 40
    for target in contacts:
        assert [row.sequence for row in ledger_rows(target)] == [1, 2, 3, 4]
    assert ConsentEvent.objects.count() == 40
    assert ledger_verify().ok


def test_one_idempotency_key_from_ten_threads_writes_one_event(contact, notice_version, raw_key):
    payload = {
        "purpose": "email-marketing",
        "decision": "granted",
        "notice_version": notice_version.public_id,
    }

    def write(index: int) -> tuple[int, str | None, dict[str, Any]]:
        response = client_for(raw_key).post(
            f"/api/v1/contacts/{contact.external_id}/consents",
            payload,
            format="json",
            HTTP_IDEMPOTENCY_KEY="signup-42",
        )
        return response.status_code, response.get("Idempotent-Replayed"), response.json()

    results = run_in_parallel(10, write)

    assert [status for status, _, _ in results] == [201] * 10
    assert sorted(replayed or "" for _, replayed, _ in results) == [""] + ["true"] * 9
    assert len({body["event_id"] for _, _, body in results}) == 1
    assert ConsentEvent.objects.filter(contact=contact).count() == 1
    assert IdempotencyRecord.objects.filter(key="signup-42").count() == 1
    assert Contact.objects.get(pk=contact.pk).ledger_sequence == 1
