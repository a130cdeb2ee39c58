"""Reads for the console's pages, each scoped to one brand."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet
from django.utils import timezone

from brands.models import ApiKey, Brand, Invitation, Membership
from sync.delivery.selectors import deliveries_list
from sync.models import Delivery, Endpoint


def members_of(*, brand: Brand) -> QuerySet[Membership]:
    return Membership.objects.filter(brand=brand).select_related("user").order_by("user__email", "pk")


def member_get(*, brand: Brand, membership_id: int) -> Membership | None:
    return Membership.objects.filter(brand=brand, pk=membership_id).select_related("brand", "user").first()


def invitations_open(*, brand: Brand) -> QuerySet[Invitation]:
    return Invitation.objects.filter(
        brand=brand, accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now()
    ).order_by("email", "pk")


def invitation_get(*, brand: Brand, invitation_id: int) -> Invitation | None:
    return invitations_open(brand=brand).filter(pk=invitation_id).first()


# --- Integrations: API keys and webhook endpoints (owners) -------------------------------------


def api_keys_of(*, brand: Brand) -> QuerySet[ApiKey]:
    """Every key of the brand, revoked ones too, newest first. Never the hash."""
    return ApiKey.objects.filter(brand=brand).defer("key_hash").order_by("-created_at", "-pk")


def api_key_get(*, brand: Brand, prefix: str) -> ApiKey | None:
    return ApiKey.objects.filter(brand=brand, prefix=prefix).select_related("brand").first()


def endpoints_of(*, brand: Brand) -> QuerySet[Endpoint]:
    """The brand's endpoints, oldest first, without their secrets."""
    return Endpoint.objects.filter(brand=brand).defer("secret", "previous_secret").order_by("pk")


def endpoint_of(*, brand: Brand, public_id: str) -> Endpoint | None:
    return Endpoint.objects.filter(brand=brand, public_id=public_id).select_related("brand").first()


def delivery_of(*, endpoint: Endpoint, public_id: str) -> Delivery | None:
    return Delivery.objects.filter(endpoint=endpoint, public_id=public_id).defer("body").first()


class UnknownPage(Exception):
    """A delivery log's `before` that names no delivery of this endpoint."""


@dataclass(frozen=True)
class DeliveryPage:
    deliveries: list[Delivery]
    older: str | None  # the `before` of the next (older) page


def deliveries_page(*, endpoint: Endpoint, before: str | None, limit: int = 25) -> DeliveryPage:
    """One keyset page of the delivery log, newest first, each delivery with its attempts
    (the API's selector: one query for the page on the log's index, one for the attempts)."""
    before_id = None
    if before:
        before_id = (
            Delivery.objects.filter(endpoint=endpoint, public_id=before).values_list("pk", flat=True).first()
        )
        if before_id is None:
            raise UnknownPage(before)
    rows = deliveries_list(endpoint=endpoint, before_id=before_id, limit=limit)
    page = rows[:limit]
    return DeliveryPage(deliveries=page, older=page[-1].public_id if len(rows) > limit else None)
