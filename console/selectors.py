"""Reads for the console's pages, each scoped to one brand."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils import timezone

from brands.models import Brand, Invitation, Membership


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
