"""A vendor's own ids for Candor's contacts (sync.models.VendorContact), for the vendors whose
webhooks name a contact only by their own id (HubSpot), and for erasing in the vendor what Candor
created or found there once Candor no longer holds the address: HubSpot's contact id,
Mailchimp's `<list id>:<subscriber hash>` (one per audience), Salesforce's Individual and the
consent records and contact points Candor created, kept as `<sObject>/<id>` (several per
contact). Written by the push step, read when the vendor's call is verified or an erasure is
pushed, dropped once the erasure is done; a connector's rows go with it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from sync.models import Connector, VendorContact
from sync.outbox.contact_state import ContactState, address_holders, contacts_external_ids, contacts_state


def vendor_contacts_known(*, connector_public_id: str, contact_refs: Iterable[int]) -> dict[int, str]:
    """contact_ref -> the vendor's id, for those of `contact_refs` the vendor has."""
    wanted = sorted(set(contact_refs))
    if not wanted:
        return {}
    rows = VendorContact.objects.filter(
        connector__public_id=connector_public_id, contact_ref__in=wanted
    ).values_list("contact_ref", "vendor_id")
    return dict(rows)


def vendor_contacts_external_ids(*, connector_public_id: str, vendor_ids: Iterable[str]) -> dict[str, str]:
    """The vendor's id -> Candor external id now, for those of `vendor_ids` Candor has pushed
    (an erased contact is left out: nothing of the vendor's reaches it any more). Two queries:
    it answers a vendor's webhook call."""
    wanted = sorted(set(vendor_ids))
    if not wanted:
        return {}
    kept = VendorContact.objects.filter(connector__public_id=connector_public_id, vendor_id__in=wanted)
    rows = list(kept.values_list("vendor_id", "contact_ref", "connector__brand_id"))
    if not rows:
        return {}
    external = contacts_external_ids(brand_id=rows[0][2], contact_refs=[ref for _, ref, _ in rows])
    return {vendor_id: external[ref] for vendor_id, ref, _ in rows if ref in external}


def address_holders_now(*, connector_public_id: str, emails: Sequence[str]) -> dict[str, list[int]]:
    """Of these email addresses (keyed stripped and lowercased), those a live contact of the
    connector's brand gives now, with those contacts' ids (ascending): a record a vendor keeps by
    address (a Mailchimp member, a HubSpot contact, a Salesforce record matched by Email) is then
    theirs, not one to move, turn off or push to for another who left the address. Two queries
    (none for no address)."""
    wanted = sorted({email.strip().lower() for email in emails if email.strip()})
    if not wanted:
        return {}
    brand_id = (
        Connector.objects.filter(public_id=connector_public_id).values_list("brand_id", flat=True).first()
    )
    if brand_id is None:
        return {}
    return address_holders(brand_id=brand_id, emails=wanted, phones=[])


def contact_states_now(*, connector_public_id: str, contact_refs: Iterable[int]) -> dict[int, ContactState]:
    """The current state of these contacts of the connector's brand (those that exist), for a push
    the adapter makes of its own (a shared record handed to the contact that still uses it)."""
    wanted = sorted(set(contact_refs))
    brand_id = (
        Connector.objects.filter(public_id=connector_public_id).values_list("brand_id", flat=True).first()
    )
    if not wanted or brand_id is None:
        return {}
    return contacts_state(brand_id=brand_id, contact_refs=wanted)


def vendor_contacts_all(*, connector_public_id: str, contact_refs: Iterable[int]) -> dict[int, list[str]]:
    """contact_ref -> every vendor id kept for it (sorted), for those of `contact_refs` that have any."""
    wanted = sorted(set(contact_refs))
    if not wanted:
        return {}
    kept: dict[int, list[str]] = {}
    for ref, vendor_id in (
        VendorContact.objects.filter(connector__public_id=connector_public_id, contact_ref__in=wanted)
        .order_by("contact_ref", "vendor_id")
        .values_list("contact_ref", "vendor_id")
    ):
        kept.setdefault(ref, []).append(vendor_id)
    return kept


def vendor_contacts_keep(*, connector_public_id: str, ids: Mapping[str, int]) -> None:
    """Keep vendor id -> contact_ref pairs (a pair already kept is left as it is); one statement."""
    if not ids:
        return
    connector_id = (
        Connector.objects.filter(public_id=connector_public_id).values_list("pk", flat=True).first()
    )
    if connector_id is None:
        return  # a check before the connector exists: nothing to keep it for
    VendorContact.objects.bulk_create(
        [
            VendorContact(connector_id=connector_id, vendor_id=vendor_id, contact_ref=contact_ref)
            for vendor_id, contact_ref in sorted(ids.items())
        ],
        ignore_conflicts=True,
    )


def vendor_contacts_forget(*, connector_public_id: str, contact_refs: Iterable[int]) -> None:
    """Drop the vendor's ids for these contacts (their records were deleted there)."""
    VendorContact.objects.filter(
        connector__public_id=connector_public_id, contact_ref__in=sorted(set(contact_refs))
    ).delete()


def vendor_contacts_drop(*, connector_public_id: str, vendor_ids: Iterable[str]) -> None:
    """Drop these vendor ids (the records were erased there, or are gone), leaving the contact's
    others."""
    wanted = sorted(set(vendor_ids))
    if wanted:
        VendorContact.objects.filter(connector__public_id=connector_public_id, vendor_id__in=wanted).delete()
