"""Reads for the console's pages, each scoped to one brand."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils import timezone

from brands.models import ApiKey, Brand, Invitation, Membership
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
    """The brand's webhook endpoints, oldest first, without their secrets (a connector's
    endpoint belongs to its connector, which the console does not show yet)."""
    return (
        Endpoint.objects.filter(brand=brand, kind=Endpoint.Kind.WEBHOOK)
        .defer("secret", "previous_secret")
        .order_by("pk")
    )


def endpoint_of(*, brand: Brand, public_id: str) -> Endpoint | None:
    webhooks = Endpoint.objects.filter(brand=brand, public_id=public_id, kind=Endpoint.Kind.WEBHOOK)
    return webhooks.select_related("brand").first()


def delivery_of(*, endpoint: Endpoint, public_id: str) -> Delivery | None:
    return Delivery.objects.filter(endpoint=endpoint, public_id=public_id).defer("body").first()
