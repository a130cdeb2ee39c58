"""Reads of the console's connector pages, each scoped to one brand, in a fixed number of queries
whatever the number of connectors, deliveries or inbound signals: the list's last delivery is a
subquery on the delivery log's index (endpoint, id), and a connector's signals come in keyset
pages with their contacts' external ids in one more query. Never the credentials."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import OuterRef, QuerySet, Subquery

from brands.models import Brand
from consent.models import Contact
from sync.models import Connector, Delivery, InboundSignal

SIGNALS_PAGE = 25


def connectors_of(*, brand: Brand) -> QuerySet[Connector]:
    """The brand's connectors, oldest first, each with its endpoint and its newest delivery's
    status and time (`last_status`, `last_at`; None before the first)."""
    newest = Delivery.objects.filter(endpoint_id=OuterRef("endpoint_id")).order_by("-id")
    return (
        Connector.objects.filter(brand=brand)
        .select_related("endpoint")
        .defer("credentials", "endpoint__secret", "endpoint__previous_secret")
        .annotate(
            last_status=Subquery(newest.values("status")[:1]),
            last_at=Subquery(newest.values("created_at")[:1]),
        )
        .order_by("pk")
    )


def connector_of(*, brand: Brand, public_id: str) -> Connector | None:
    """One connector of the brand, with its endpoint; its credentials stay in the row (the
    connection test decrypts them), never in a page."""
    return (
        Connector.objects.filter(brand=brand, public_id=public_id).select_related("brand", "endpoint").first()
    )


def connector_delivery_of(*, connector: Connector, public_id: str) -> Delivery | None:
    return (
        Delivery.objects.filter(endpoint_id=connector.endpoint_id, public_id=public_id).defer("body").first()
    )


class UnknownSignal(Exception):
    """A signals page's `before` that is not a signal id of this connector."""


@dataclass(frozen=True)
class SignalRow:
    signal: InboundSignal
    contact: Contact | None  # None when no contact matched, or it is no longer there


@dataclass(frozen=True)
class SignalPage:
    rows: list[SignalRow]
    older: int | None  # the `signals_before` of the next (older) page


def signals_page(*, connector: Connector, before: str | None, limit: int = SIGNALS_PAGE) -> SignalPage:
    """The latest inbound signals of the connector, newest first, in keyset pages by id; each
    with its contact (by id and external id only: never an address)."""
    rows = InboundSignal.objects.filter(connector=connector)
    if before:
        if not before.isdigit() or len(before) > 18:
            raise UnknownSignal(before)
        rows = rows.filter(pk__lt=int(before))
    # Never the payload: until a worker applies the signal, it names the address.
    found = list(rows.defer("payload").order_by("-pk")[: limit + 1])
    page = found[:limit]
    refs = {s.contact_ref for s in page if s.contact_ref is not None}
    contacts = (
        {
            c.pk: c
            for c in Contact.objects.filter(brand_id=connector.brand_id, pk__in=refs).only(
                "pk", "external_id"
            )
        }
        if refs
        else {}
    )
    return SignalPage(
        rows=[SignalRow(signal=s, contact=contacts.get(s.contact_ref or 0)) for s in page],
        older=page[-1].pk if len(found) > limit else None,
    )
