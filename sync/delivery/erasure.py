"""Erasure reaches the delivery log, and the connectors that must be told by address.

`deliveries_forget_contact` and `erasure_notices_keep` listen to the outbox's
contact_erased_announce (registered in sync.apps), which consent.erasure calls in its
transaction: domain code never calls delivery, and the rewrite (and the notices) still commit or
roll back with the erasure. `moved_notices_keep` listens to contact_moved_announce, which a change
of address calls in its transaction, for the same connectors.
"""

from __future__ import annotations

import json

from django.db.models import F

from sync.delivery.bodies import without_personal
from sync.delivery.connectors.erasure_notices import erasure_notices_seal, moved_notices_seal
from sync.delivery.connectors.registry import adapter_for
from sync.models import Attempt, Connector, Delivery, Endpoint


def deliveries_forget_contact(
    *, brand_id: int, contact_ref: int, pseudonym: str, email: str | None, phone: str | None
) -> int:
    """When a contact is erased (in the erasure's transaction): the brand's deliveries about the
    contact, pending or finished, name `pseudonym` instead of the old external id in
    data.contact and lose email and phone; the receivers' answers to them
    (Attempt.response_excerpt, which may echo the body) are cleared. A pending delivery is sent
    with the rewritten body, under its webhook-id (signatures are made at send time). The
    number of deliveries rewritten.

    The outbox Events themselves are renamed by the erasure, so deliveries made later carry
    the pseudonym already. First the brand's endpoints count the erasure (Endpoint.erasures):
    a fan-out that read the events before the erasure then cannot save its deliveries after it
    (its compare-and-set waits for this transaction and fails), and one that saved them before
    is done by the time this rewrites them."""
    Endpoint.objects.filter(brand_id=brand_id).update(erasures=F("erasures") + 1)
    rows = list(
        Delivery.objects.filter(endpoint__brand_id=brand_id, contact_ref=contact_ref)
        .select_related("endpoint")
        .only("id", "body", "endpoint__id", "endpoint__pseudonymous_contacts")
    )
    changed = []
    for delivery in rows:
        try:
            payload = json.loads(delivery.body)
        except ValueError:
            continue
        data = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(data, dict):
            continue
        # A pseudonymous endpoint's own pseudonym stays: it names the contact there already,
        # and its contact.erased names the same one.
        if "contact" in data and not delivery.endpoint.pseudonymous_contacts:
            data["contact"] = pseudonym
        payload["data"] = without_personal(data)
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
        if body != delivery.body:
            delivery.body = body
            changed.append(delivery)
    Delivery.objects.bulk_update(changed, ["body"], batch_size=500)
    Attempt.objects.filter(delivery__endpoint__brand_id=brand_id, delivery__contact_ref=contact_ref).exclude(
        response_excerpt=""
    ).update(response_excerpt="")
    return len(changed)


def erasure_notices_keep(
    *, brand_id: int, contact_ref: int, pseudonym: str, email: str | None, phone: str | None
) -> int:
    """When a contact is erased (in the erasure's transaction): a sealed notice of the addresses
    it had for each of the brand's connectors whose vendor erases only by address (Klaviyo), for
    the push of its contact.erased. It rewrites no copy, so it counts 0 in the erasure's report."""
    connector_ids = [
        pk
        for pk, vendor in Connector.objects.filter(brand_id=brand_id).values_list("pk", "vendor")
        if (adapter := adapter_for(vendor)) is not None and adapter.erases_by_address
    ]
    erasure_notices_seal(connector_ids=connector_ids, contact_ref=contact_ref, email=email, phone=phone)
    return 0


def moved_notices_keep(*, brand_id: int, contact_ref: int, email: str | None, phone: str | None) -> None:
    """When a contact's address changes (in the change's transaction): the addresses it changed
    from, sealed for each of the brand's connectors whose vendor keeps consent by address
    (Klaviyo, HubSpot), for the push of its contact.updated."""
    connector_ids = [
        pk
        for pk, vendor in Connector.objects.filter(brand_id=brand_id).values_list("pk", "vendor")
        if (adapter := adapter_for(vendor)) is not None and adapter.keeps_consent_by_address
    ]
    moved_notices_seal(connector_ids=connector_ids, contact_ref=contact_ref, email=email, phone=phone)
