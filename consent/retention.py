"""Retention of personal consent evidence (compliance #13).

A brand with `evidence_retention_days` keeps the personal part of its evidence (IP, user agent,
page URL, TC and GPP strings) for that many days after the relationship with a contact ends, then
clears it exactly as erasure does. The relationship ends when no consent of the contact holds any
more: every purpose withdrawn, or granted with an expiry that has passed (the later of those
moments is when it ended). A contact that is erased has had its evidence cleared already.

Each purge is recorded as an `EvidencePurge` row (an audit row, not a ledger event: a purge is
no consent decision, and the chains stay as they were), written in the transaction that clears
the evidence, with the same time as the rows' `erased_at`; verify_ledger accepts erased evidence
only where an erasure or such a purge accounts for it. The events keep their evidence digests,
so every chain and every signed checkpoint still verifies.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Exists, Max, OuterRef, Q
from django.utils import timezone

from brands.models import Brand
from consent.models import ConsentEvidence, ConsentState, Contact, Decision, EvidencePurge


def _still_holds(cutoff: datetime) -> Q:
    """A consent state that keeps the relationship alive as of `cutoff`."""
    return (
        Q(decision=Decision.GRANTED, expires_at__isnull=True)
        | Q(decision=Decision.GRANTED, expires_at__gt=cutoff)
        | Q(decision=Decision.WITHDRAWN, occurred_at__gt=cutoff)
    )


def _due(brand: Brand, cutoff: datetime, limit: int) -> list[int]:
    holds = ConsentState.objects.filter(_still_holds(cutoff), contact=OuterRef("pk"))
    kept = ConsentEvidence.objects.filter(event__contact=OuterRef("pk"), erased_at__isnull=True)
    return list(
        Contact.objects.filter(brand=brand, erased_at__isnull=True)
        .filter(Exists(kept), ~Exists(holds))
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )


@transaction.atomic
def contact_evidence_purge(*, brand: Brand, contact_id: int, now: datetime) -> EvidencePurge | None:
    """Clear one contact's evidence if the brand's period has passed; the audit row, or None
    when nothing was due (checked again under the contact's lock: a new grant may have come)."""
    days = brand.evidence_retention_days
    if days is None:
        return None
    cutoff = now - timedelta(days=days)
    contact = Contact.objects.select_for_update().filter(pk=contact_id, brand=brand).first()
    if contact is None or contact.erased_at is not None:
        return None
    states = ConsentState.objects.filter(contact=contact)
    if not states.exists() or states.filter(_still_holds(cutoff)).exists():
        return None
    granted_end = states.filter(decision=Decision.GRANTED).aggregate(at=Max("expires_at"))["at"]
    withdrawn_end = states.filter(decision=Decision.WITHDRAWN).aggregate(at=Max("occurred_at"))["at"]
    ended_at = max(at for at in (granted_end, withdrawn_end) if at is not None)
    cleared = ConsentEvidence.objects.filter(event__contact=contact, erased_at__isnull=True).update(
        **ConsentEvidence.ERASED_VALUES, erased_at=now
    )
    if not cleared:
        return None
    return EvidencePurge.objects.create(
        brand=brand,
        contact=contact,
        purged_at=now,
        evidence_rows=cleared,
        retention_days=days,
        relationship_ended_at=ended_at,
    )


def evidence_retention_purge(*, now: datetime | None = None, batch_size: int = 500) -> int:
    """Purge, for every brand with a policy, up to `batch_size` contacts whose period has passed
    (the periodic task; the next run takes the rest). Each contact in its own transaction.
    Returns how many contacts' evidence was purged."""
    now = now or timezone.now()
    purged = 0
    for brand in Brand.objects.filter(evidence_retention_days__isnull=False).order_by("pk"):
        cutoff = now - timedelta(days=brand.evidence_retention_days or 0)
        for contact_id in _due(brand, cutoff, batch_size):
            if contact_evidence_purge(brand=brand, contact_id=contact_id, now=now) is not None:
                purged += 1
    return purged
