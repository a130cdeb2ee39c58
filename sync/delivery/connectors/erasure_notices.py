"""Erasure notices: what a vendor needs to erase a contact Candor no longer holds the address of.

An erased contact keeps no address in Candor, yet Klaviyo deletes a profile only by its email,
phone number or its own id, which Candor never learns when a bulk job creates the profile. So
the erasure, in its own transaction, hands each listener the addresses the contact had
(sync.outbox.listeners), and sync.delivery.erasure seals them here (Fernet under CONNECTOR_KEYS,
as the credentials are) for each of the brand's connectors whose adapter `erases_by_address`. The
push of the `contact.erased` delivery reads its notice, asks the vendor to erase, and drops the
notice once the vendor accepted (Art. 17(2), 19). A notice never pushed goes with its connector,
and `erasure_notices_purge` drops those older than ERASURE_NOTICE_DAYS, so the addresses do not
outlive the erasure by more than that.

A vendor that keeps consent by address (Klaviyo; HubSpot, which keeps subscription statuses by
address though it erases by id: the adapter's `keeps_consent_by_address`) keeps a contact's "yes"
under an address the contact has since left. So a change of address hands the listeners the
addresses the contact changed from (sync.outbox.listeners.contact_moved_announce) and they are
sealed here as a `moved` notice, one per connector and contact (a second change before the push
adds to it); the push of the contact.updated delivery turns off the vendor's "yes" under them
and drops the notice once the vendor accepted (and the push of an erasure drops it too).
Purged and resealed as the erasure notices are.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from sync.delivery.connectors.crypto import (
    ConnectorKeysMissing,
    CredentialsUnreadable,
    credentials_decrypt,
    credentials_encrypt,
    credentials_reencrypt,
)
from sync.models import ErasureNotice
from sync.outbox.contact_state import address_holders, addresses_held

logger = logging.getLogger(__name__)


def erasure_notices_seal(
    *, connector_ids: list[int], contact_ref: int, email: str | None, phone: str | None
) -> None:
    """One sealed notice per connector (in the erasure's transaction). Without CONNECTOR_KEYS no
    connector can run, and the erasure must not fail for one: said in the log, not hidden."""
    if not connector_ids or (not email and not phone):
        return
    try:
        sealed = credentials_encrypt({"email": email, "phone": phone})
    except ConnectorKeysMissing:
        logger.warning("erasure of contact %s: no CONNECTOR_KEYS, no notice for its connectors", contact_ref)
        return
    ErasureNotice.objects.bulk_create(
        [ErasureNotice(connector_id=pk, contact_ref=contact_ref, sealed=sealed) for pk in connector_ids],
        ignore_conflicts=True,
    )


def moved_notices_seal(
    *, connector_ids: list[int], contact_ref: int, email: str | None, phone: str | None
) -> None:
    """Add the addresses a contact changed from to its `moved` notice for each connector (in the
    change's transaction, under the contact's lock). Without CONNECTOR_KEYS: said in the log."""
    if not connector_ids or (not email and not phone):
        return
    existing = {
        notice.connector_id: notice
        for notice in ErasureNotice.objects.filter(
            connector_id__in=connector_ids, contact_ref=contact_ref, kind=ErasureNotice.Kind.MOVED
        )
    }
    try:
        for pk in connector_ids:
            held: dict[str, list[str]] = {"emails": [], "phones": []}
            notice = existing.get(pk)
            if notice is not None:
                held = _moved_held(credentials_decrypt(notice.sealed))
            for key, value in (("emails", email), ("phones", phone)):
                if value and value not in held[key]:
                    held[key].append(value)
            sealed = credentials_encrypt(held)
            if notice is None:
                ErasureNotice.objects.create(
                    connector_id=pk, contact_ref=contact_ref, kind=ErasureNotice.Kind.MOVED, sealed=sealed
                )
            else:
                ErasureNotice.objects.filter(pk=notice.pk).update(sealed=sealed)
    except (ConnectorKeysMissing, CredentialsUnreadable):
        logger.warning("address change of contact %s: no usable CONNECTOR_KEYS, no notice", contact_ref)


def _moved_held(held: dict) -> dict[str, list[str]]:
    return {
        key: [value for value in held.get(key) or [] if isinstance(value, str) and value]
        for key in ("emails", "phones")
    }


def moved_notices_read(
    *, connector_public_id: str, contact_refs: Iterable[int]
) -> dict[int, dict[str, list[str]]]:
    """contact_ref -> the addresses it changed from ({"emails": […], "phones": […]}), for those
    with a notice: but for those a live contact of the brand gives now (another one, or this one
    back again), which are that contact's to push, not to turn off or delete."""
    notices, holders = moved_notices_held(connector_public_id=connector_public_id, contact_refs=contact_refs)
    return moved_notices_free(notices=notices, held=set(holders))


def moved_notices_held(
    *, connector_public_id: str, contact_refs: Iterable[int]
) -> tuple[dict[int, dict[str, list[str]]], dict[str, list[int]]]:
    """Every address of these contacts' notices, held or not, and those of them a live contact of
    the brand gives now (emails lowercased), with those contacts' ids: for a vendor that must
    know whose a record under a left address is (HubSpot's move), not only what to turn off. Two
    queries at most."""
    rows = ErasureNotice.objects.filter(
        connector__public_id=connector_public_id,
        contact_ref__in=sorted(set(contact_refs)),
        kind=ErasureNotice.Kind.MOVED,
    ).values_list("contact_ref", "sealed", "connector__brand_id")
    notices: dict[int, dict[str, list[str]]] = {}
    brands = set()
    for contact_ref, sealed, brand_id in rows:
        brands.add(brand_id)
        try:
            notices[contact_ref] = _moved_held(credentials_decrypt(sealed))
        except CredentialsUnreadable:
            logger.warning("moved notice for contact %s is sealed under a key no longer held", contact_ref)
    if not brands:
        return notices, {}
    holders = address_holders(
        brand_id=brands.pop(),  # one connector: one brand
        emails=sorted({e.lower() for notice in notices.values() for e in notice["emails"]}),
        phones=sorted({p for notice in notices.values() for p in notice["phones"]}),
    )
    return notices, holders


def moved_notices_free(
    *, notices: dict[int, dict[str, list[str]]], held: set[str]
) -> dict[int, dict[str, list[str]]]:
    """The notices without the addresses a live contact of the brand gives now."""
    return {
        contact_ref: {
            "emails": [e for e in notice["emails"] if e.lower() not in held],
            "phones": [p for p in notice["phones"] if p not in held],
        }
        for contact_ref, notice in notices.items()
    }


def moved_notices_done(*, connector_public_id: str, contact_refs: Iterable[int]) -> None:
    """The vendor took the "no" under these contacts' former addresses: their notices go."""
    ErasureNotice.objects.filter(
        connector__public_id=connector_public_id,
        contact_ref__in=sorted(set(contact_refs)),
        kind=ErasureNotice.Kind.MOVED,
    ).delete()


def erasure_notices_read(
    *, connector_public_id: str, contact_refs: Iterable[int]
) -> dict[int, dict[str, str]]:
    """contact_ref -> the addresses it had ({"email"?, "phone"?}), for those with a notice: but
    for those a live contact of the brand gives now (a household's shared address, a duplicate
    record), whose record at a vendor that keeps one per address is that contact's too, not one
    to delete with the erased one's. Two queries at most."""
    rows = ErasureNotice.objects.filter(
        connector__public_id=connector_public_id,
        contact_ref__in=sorted(set(contact_refs)),
        kind=ErasureNotice.Kind.ERASED,
    ).values_list("contact_ref", "sealed", "connector__brand_id")
    notices: dict[int, dict[str, str]] = {}
    brands = set()
    for contact_ref, sealed, brand_id in rows:
        brands.add(brand_id)
        try:
            held = credentials_decrypt(sealed)
        except CredentialsUnreadable:
            logger.warning("erasure notice for contact %s is sealed under a key no longer held", contact_ref)
            continue
        notices[contact_ref] = {key: value for key, value in held.items() if isinstance(value, str) and value}
    if not notices:
        return notices
    given = addresses_held(
        brand_id=brands.pop(),  # one connector: one brand
        emails=sorted({n["email"].lower() for n in notices.values() if "email" in n}),
        phones=sorted({n["phone"] for n in notices.values() if "phone" in n}),
    )
    return {
        ref: {
            key: value
            for key, value in notice.items()
            if (value.lower() if key == "email" else value) not in given
        }
        for ref, notice in notices.items()
    }


def erasure_notices_done(*, connector_public_id: str, contact_refs: Iterable[int]) -> None:
    """The vendor accepted these erasures: their notices go (a `moved` one too: the erasure
    reached the vendor, and the addresses need not be kept any longer)."""
    ErasureNotice.objects.filter(
        connector__public_id=connector_public_id, contact_ref__in=sorted(set(contact_refs))
    ).delete()


def erasure_notices_purge(*, now: datetime | None = None) -> int:
    """Drop notices older than ERASURE_NOTICE_DAYS (a connector disabled or failing that long);
    how many."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.ERASURE_NOTICE_DAYS)
    deleted, _ = ErasureNotice.objects.filter(created_at__lt=cutoff).delete()
    return deleted


def erasure_notices_reseal() -> int:
    """Seal every notice again under the first key (key rotation); how many."""
    changed = []
    for notice in ErasureNotice.objects.only("id", "sealed"):
        notice.sealed = credentials_reencrypt(notice.sealed)
        changed.append(notice)
    ErasureNotice.objects.bulk_update(changed, ["sealed"], batch_size=500)
    return len(changed)
