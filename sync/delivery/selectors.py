"""Reads of webhook endpoints and their deliveries. Every read the API makes takes the brand;
the worker's reads take an endpoint's id."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import models
from django.db.models import Case, Count, Exists, OuterRef, Prefetch, Q, Subquery, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from brands.models import Brand
from config.errors import NotFound
from sync.delivery.opt_outs import opt_outs_overdue
from sync.models import Attempt, Delivery, Endpoint, Event


def endpoints_cache_key(brand_id: int) -> str:
    return f"sync:active-endpoints:{brand_id}"


def endpoint_ids_active(*, brand_id: int) -> list[int]:
    """The ids of the brand's active endpoints, cached (WEBHOOK_ENDPOINT_CACHE_SECONDS): every
    write asks, and most brands have none. sync.delivery.endpoints clears the entry after a change."""
    key = endpoints_cache_key(brand_id)
    ids = cache.get(key)
    if ids is None:
        ids = list(
            Endpoint.objects.filter(brand_id=brand_id, status=Endpoint.Status.ACTIVE)
            .order_by("id")
            .values_list("id", flat=True)
        )
        cache.set(key, ids, settings.WEBHOOK_ENDPOINT_CACHE_SECONDS)
    return ids


def _with_overdue_opt_outs(rows: models.QuerySet[Endpoint]) -> models.QuerySet[Endpoint]:
    """Each endpoint with `opt_outs_overdue` (how many opt-outs it has not acknowledged in 15
    business days; sync.delivery.opt_outs) and `opt_outs_overdue_since` (the oldest one's time)."""
    overdue = opt_outs_overdue(now=timezone.now()).filter(endpoint_id=OuterRef("pk"))
    count = overdue.order_by().values("endpoint_id").annotate(n=Count("id")).values("n")
    return rows.annotate(
        opt_outs_overdue=Coalesce(Subquery(count), 0),
        opt_outs_overdue_since=Subquery(overdue.order_by("created_at").values("created_at")[:1]),
    )


def endpoint_get(*, brand: Brand, public_id: str) -> Endpoint:
    webhooks = Endpoint.objects.filter(brand=brand, public_id=public_id, kind=Endpoint.Kind.WEBHOOK)
    endpoint = _with_overdue_opt_outs(webhooks).first()
    if endpoint is None:
        raise NotFound(f"No endpoint {public_id!r}.")
    return endpoint


def endpoints_list(*, brand: Brand, after_id: int, limit: int) -> list[Endpoint]:
    """Oldest first, up to `limit` + 1 (the extra one says there is a next page)."""
    # A connector's endpoint is shown as its connector (sync.delivery.connectors.api).
    rows = Endpoint.objects.filter(brand=brand, id__gt=after_id, kind=Endpoint.Kind.WEBHOOK).order_by("id")
    return list(_with_overdue_opt_outs(rows)[: limit + 1])


def delivery_get(*, endpoint: Endpoint, public_id: str) -> Delivery:
    delivery = Delivery.objects.filter(endpoint=endpoint, public_id=public_id).first()
    if delivery is None:
        raise NotFound(f"No delivery {public_id!r} for this endpoint.")
    return delivery


def deliveries_list(
    *, endpoint: Endpoint, before_id: int | None, limit: int, status: str | None = None, overdue: bool = False
) -> list[Delivery]:
    """The delivery log, newest first, each with its attempts; up to `limit` + 1. With
    `overdue`, only the opt-outs the endpoint has not acknowledged in time."""
    rows = Delivery.objects.filter(endpoint=endpoint)
    if overdue:
        rows = opt_outs_overdue(now=timezone.now()).filter(endpoint=endpoint)
    if before_id is not None:
        rows = rows.filter(id__lt=before_id)
    if status:
        rows = rows.filter(status=status)
    attempts = Prefetch("attempts", queryset=Attempt.objects.order_by("number", "id"))
    return list(
        rows.select_related("event").prefetch_related(attempts).defer("body").order_by("-id")[: limit + 1]
    )


def deliveries_ready_rows(now: datetime) -> models.QuerySet[Delivery]:
    """Pending deliveries that may be sent now: due, held by no live worker, for an active
    endpoint, and the earliest pending one of their contact for their endpoint (so a receiver
    gets each contact's events in sequence order)."""
    earlier = Delivery.objects.filter(
        endpoint_id=OuterRef("endpoint_id"),
        contact_ref=OuterRef("contact_ref"),
        status=Delivery.Status.PENDING,
        sequence__lt=OuterRef("sequence"),
    )
    return (
        Delivery.objects.filter(
            status=Delivery.Status.PENDING, next_attempt_at__lte=now, endpoint__status=Endpoint.Status.ACTIVE
        )
        .filter(Q(leased_until__isnull=True) | Q(leased_until__lte=now))
        .filter(~Exists(earlier) | Q(contact_ref__isnull=True))
    )


def deliveries_ready(
    *,
    endpoint_id: int,
    limit: int,
    now: datetime,
    prefer_contact: int | None = None,
    enqueued_before: datetime | None = None,
) -> list[int]:
    """Up to `limit` ids of the endpoint's deliveries ready to send, oldest first (the contact
    `prefer_contact`'s first); with `enqueued_before`, only those not handed to the broker since."""
    rows = deliveries_ready_rows(now).filter(endpoint_id=endpoint_id)
    if enqueued_before is not None:
        rows = rows.filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=enqueued_before))
    order: list[Any] = ["id"]
    if prefer_contact is not None:
        order.insert(0, Case(When(contact_ref=prefer_contact, then=0), default=1))
    return list(rows.order_by(*order).values_list("id", flat=True)[:limit])


def deliveries_in_flight(*, endpoint_id: int, now: datetime) -> int:
    """The endpoint's claims in flight: a claim (sync.delivery.claims) leases its whole
    batch until one instant and sends one request at a time, so each distinct live lease is one
    worker busy with the endpoint."""
    leases = Delivery.objects.filter(
        endpoint_id=endpoint_id, status=Delivery.Status.PENDING, leased_until__gt=now
    )
    return leases.values("leased_until").distinct().count()


def endpoint_ids_behind() -> list[int]:
    """Active endpoints whose brand has events past their fan-out cursor (the feed's horizon
    may still hold some back: fan-out then finds nothing, which is harmless)."""
    later = Event.objects.filter(brand_id=OuterRef("brand_id")).filter(
        Q(txid__gt=OuterRef("cursor_txid")) | Q(txid=OuterRef("cursor_txid"), id__gt=OuterRef("cursor_id"))
    )
    return list(
        Endpoint.objects.filter(status=Endpoint.Status.ACTIVE)
        .filter(Exists(later))
        .order_by("id")
        .values_list("id", flat=True)
    )


def endpoint_ids_with_ready(*, now: datetime) -> list[int]:
    """Active endpoints with a delivery due now."""
    due = Delivery.objects.filter(
        endpoint_id=OuterRef("pk"), status=Delivery.Status.PENDING, next_attempt_at__lte=now
    )
    return list(
        Endpoint.objects.filter(status=Endpoint.Status.ACTIVE)
        .filter(Exists(due))
        .order_by("id")
        .values_list("id", flat=True)
    )
