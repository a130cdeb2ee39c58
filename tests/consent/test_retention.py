"""Retention (compliance #13): personal evidence is purged once the brand's period after the
relationship ended has passed, the purge is recorded, and chains and checkpoints still verify."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from brands.services import brand_update
from consent.checkpoints import checkpoint_create
from consent.erasure import contact_erase
from consent.models import ConsentEvidence, EvidencePurge
from consent.retention import evidence_retention_purge
from consent.services import EvidenceInput, consent_record, contact_upsert
from consent.tasks import evidence_retention_purge_task
from tests.actors import TEST_ACTOR

EVIDENCE = EvidenceInput(ip="203.0.113.0", user_agent="Mozilla/5.0", page_url="https://shop.example/")


def _decide(brand, external_id, decision, notice_version, *, days_ago, purpose="email-marketing"):
    contact_upsert(brand=brand, external_id=external_id)
    return consent_record(
        brand=brand,
        external_id=external_id,
        purpose_slug=purpose,
        decision=decision,
        notice_version_id=notice_version.public_id if decision == "granted" else None,
        method="import",
        recorded_by="test",
        occurred_at=timezone.now() - timedelta(days=days_ago),
        evidence=EVIDENCE,
    )


def _personal(event):
    evidence = ConsentEvidence.objects.get(pk=event.pk)
    return (evidence.ip, evidence.user_agent, evidence.page_url, evidence.erased_at is None)


KEPT = ("203.0.113.0", "Mozilla/5.0", "https://shop.example/", True)


@pytest.fixture
def policy(brand):
    return brand_update(actor=TEST_ACTOR, brand=brand, evidence_retention_days=30)


def test_evidence_is_purged_past_the_period_after_the_relationship_ended(
    policy, purpose, notice_version, make_purpose
):
    brand = policy
    # Ended 31 days ago: every consent withdrawn.
    old_grant = _decide(brand, "ended", "granted", notice_version, days_ago=400)
    old_withdrawal = _decide(brand, "ended", "withdrawn", notice_version, days_ago=31)
    # Ended 29 days ago: still within the period.
    recent = _decide(brand, "recent", "granted", notice_version, days_ago=300)
    _decide(brand, "recent", "withdrawn", notice_version, days_ago=29)
    # Still consenting (express consent does not expire).
    current = _decide(brand, "current", "granted", notice_version, days_ago=900)
    # A grant that expired 40 days ago ended the relationship then.
    offers = make_purpose(brand, "offers", lifetime_days=10)
    offers_version = offers.notice.versions.get()
    expired = _decide(brand, "expired", "granted", offers_version, days_ago=50, purpose="offers")
    # One purpose withdrawn long ago, another still granted: the relationship goes on.
    _decide(brand, "mixed", "granted", offers_version, days_ago=5, purpose="offers")
    mixed = _decide(brand, "mixed", "withdrawn", notice_version, days_ago=100)
    now = timezone.now()

    assert evidence_retention_purge(now=now) == 2

    assert _personal(old_grant) == _personal(old_withdrawal) == _personal(expired) == ("", "", "", False)
    assert ConsentEvidence.objects.get(pk=old_grant.pk).erased_at == now
    assert ConsentEvidence.objects.get(pk=old_grant.pk).salt == ""
    assert _personal(recent) == _personal(current) == _personal(mixed) == KEPT
    purges = list(
        EvidencePurge.objects.order_by("contact__external_id").values_list(
            "contact__external_id", "purged_at", "evidence_rows", "retention_days", "relationship_ended_at"
        )
    )
    assert purges == [
        ("ended", now, 2, 30, old_withdrawal.occurred_at),
        ("expired", now, 1, 30, expired.expires_at),
    ]
    out = StringIO()
    call_command("verify_ledger", "--brand", "acme", stdout=out)
    assert out.getvalue().strip() == "OK: 8 events in 5 contacts verify."
    assert evidence_retention_purge(now=now) == 0  # nothing left to purge: no second record
    assert EvidencePurge.objects.count() == 2


def test_a_brand_without_a_policy_keeps_its_evidence(brand, purpose, notice_version):
    event = _decide(brand, "ended", "withdrawn", notice_version, days_ago=5000)
    assert brand.evidence_retention_days is None
    assert evidence_retention_purge() == 0
    assert _personal(event) == KEPT
    assert EvidencePurge.objects.count() == 0


def test_a_new_grant_keeps_the_relationship_alive(policy, purpose, notice_version):
    _decide(policy, "back", "withdrawn", notice_version, days_ago=60)
    fresh = _decide(policy, "back", "granted", notice_version, days_ago=1)
    assert evidence_retention_purge() == 0
    assert _personal(fresh) == KEPT


def test_chains_and_a_checkpoint_signed_before_the_purge_still_verify(
    policy, purpose, notice_version, tmp_path
):
    _decide(policy, "ended", "granted", notice_version, days_ago=400)
    _decide(policy, "ended", "withdrawn", notice_version, days_ago=31)
    before = checkpoint_create(brand=policy)
    assert before is not None
    kept = tmp_path / "before.jws"
    kept.write_text(before.jws)
    assert evidence_retention_purge() == 1
    assert checkpoint_create(brand=policy, only_if_changed=True) is None  # the heads did not move
    out = StringIO()
    call_command("verify_ledger", "--checkpoint", str(kept), stdout=out)
    assert out.getvalue().strip() == "OK: 2 events in 1 contacts verify."


def test_erased_contacts_are_left_to_erasure(policy, purpose, notice_version, contact):
    _decide(policy, contact.external_id, "withdrawn", notice_version, days_ago=100)
    contact_erase(brand=policy, contact=contact, requested_via="api")
    assert evidence_retention_purge() == 0
    assert EvidencePurge.objects.count() == 0
    out = StringIO()
    call_command("verify_ledger", stdout=out)
    assert out.getvalue().startswith("OK:")


def test_purge_records_are_append_only(policy, purpose, notice_version):
    _decide(policy, "ended", "withdrawn", notice_version, days_ago=31)
    assert evidence_retention_purge() == 1
    for sql in ("UPDATE consent_evidencepurge SET evidence_rows = 0", "DELETE FROM consent_evidencepurge"):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql)
    assert EvidencePurge.objects.get().evidence_rows == 1


def test_the_worker_runs_the_purge_periodically(policy, purpose, notice_version):
    entry = settings.CELERY_BEAT_SCHEDULE["evidence-retention-purge"]
    assert entry["task"] == "consent.tasks.evidence_retention_purge"
    assert entry["schedule"] == float(settings.EVIDENCE_RETENTION_PURGE_SECONDS)
    _decide(policy, "ended", "withdrawn", notice_version, days_ago=31)
    assert evidence_retention_purge_task() == 1
