"""A vendor's own ids for Candor's contacts (sync.models.VendorContact), for the vendors whose
webhooks name a contact only by their own id (HubSpot). Written by the push step, read when the
vendor's call is verified; a connector's rows go with it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sync.models import Connector, VendorContact


def vendor_contacts_known(*, connector_public_id: str, external_ids: Iterable[str]) -> dict[str, str]:
    """Candor external id -> the vendor's id, for those of `external_ids` the vendor has."""
    wanted = sorted(set(external_ids))
    if not wanted:
        return {}
    rows = VendorContact.objects.filter(
        connector__public_id=connector_public_id, external_id__in=wanted
    ).values_list("external_id", "vendor_id")
    return dict(rows)


def vendor_contacts_external_ids(*, connector_public_id: str, vendor_ids: Iterable[str]) -> dict[str, str]:
    """The vendor's id -> Candor external id, for those of `vendor_ids` Candor has pushed."""
    wanted = sorted(set(vendor_ids))
    if not wanted:
        return {}
    rows = VendorContact.objects.filter(
        connector__public_id=connector_public_id, vendor_id__in=wanted
    ).values_list("vendor_id", "external_id")
    return dict(rows)


def vendor_contacts_keep(*, connector_public_id: str, ids: Mapping[str, str]) -> None:
    """Keep vendor id -> external id pairs (a pair already kept is left as it is); one statement."""
    if not ids:
        return
    connector_id = (
        Connector.objects.filter(public_id=connector_public_id).values_list("pk", flat=True).first()
    )
    if connector_id is None:
        return  # a check before the connector exists: nothing to keep it for
    VendorContact.objects.bulk_create(
        [
            VendorContact(connector_id=connector_id, vendor_id=vendor_id, external_id=external_id)
            for vendor_id, external_id in sorted(ids.items())
        ],
        ignore_conflicts=True,
    )
