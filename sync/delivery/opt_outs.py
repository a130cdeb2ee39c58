"""Opt-out follow-up (CCPA: opt-outs carried out within 15 business days, third parties told):
which destinations have not acknowledged an opt-out, and telling the brand once about each.

An opt-out is a `consent.withdrawn` or `contact.unsubscribed` delivery; a destination (webhook
endpoint) acknowledges it by answering 2xx (the delivery succeeded). One not acknowledged by the
end of the 15th business day (Monday to Friday, UTC; public holidays are not skipped) after the
day it was made is overdue. The endpoints API shows each endpoint's overdue opt-outs
(selectors.endpoints_with_overdue); `opt_outs_overdue_notify` (beat) emails the brand once per
endpoint and period: the period ends when the endpoint has none overdue any more.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db.models import QuerySet
from django.template.loader import render_to_string
from django.utils import timezone, translation

from brands.models import Membership
from sync.models import Delivery, Endpoint, EventType

logger = logging.getLogger(__name__)

OPT_OUT_TYPES = (EventType.CONSENT_WITHDRAWN.value, EventType.CONTACT_UNSUBSCRIBED.value)
ACKNOWLEDGE_BUSINESS_DAYS = 15
TEMPLATE = "emails/opt_outs_overdue"


def business_days_after(day: date, count: int) -> date:
    """The `count`th weekday (Monday to Friday) after `day`."""
    while count:
        day += timedelta(days=1)
        if day.weekday() < 5:
            count -= 1
    return day


def overdue_before(now: datetime) -> datetime:
    """Opt-outs made before this instant and still unacknowledged are overdue at `now`: those
    of the latest day whose 15th business day after it has ended, and of every earlier day."""
    day = now.astimezone(UTC).date()
    while True:
        day -= timedelta(days=1)
        deadline = business_days_after(day, ACKNOWLEDGE_BUSINESS_DAYS) + timedelta(days=1)
        if datetime.combine(deadline, time.min, tzinfo=UTC) <= now:
            return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)


def opt_outs_overdue(*, now: datetime) -> QuerySet[Delivery]:
    """Every endpoint's overdue opt-out deliveries (the worker's read; the API's take the brand)."""
    return Delivery.objects.filter(type__in=OPT_OUT_TYPES, created_at__lt=overdue_before(now)).exclude(
        status=Delivery.Status.SUCCEEDED
    )


def opt_outs_overdue_notify(*, now: datetime | None = None) -> int:
    """Email each brand about its endpoints that have overdue opt-outs, once per endpoint and
    period; the number of endpoints told. An endpoint with none overdue any more ends its period
    (a later overdue opt-out is told again). Safe to run at any time and twice at once: the
    conditional update that marks an endpoint told lets one run alone send its email."""
    now = now or timezone.now()
    overdue = set(opt_outs_overdue(now=now).values_list("endpoint_id", flat=True).distinct())
    Endpoint.objects.filter(opt_outs_flagged_at__isnull=False).exclude(pk__in=overdue).update(
        opt_outs_flagged_at=None
    )
    told = 0
    for endpoint_id in sorted(overdue):
        if not Endpoint.objects.filter(pk=endpoint_id, opt_outs_flagged_at__isnull=True).update(
            opt_outs_flagged_at=now
        ):
            continue  # told already in this period
        endpoint = Endpoint.objects.select_related("brand").get(pk=endpoint_id)
        try:
            _brand_notify(endpoint=endpoint, now=now)
        except Exception as exc:
            # Not told: the next run tries again.
            Endpoint.objects.filter(pk=endpoint_id, opt_outs_flagged_at=now).update(opt_outs_flagged_at=None)
            slug, kind = endpoint.brand.slug, type(exc).__name__
            logger.warning("could not email %s about overdue opt-outs (%s)", slug, kind)
            continue
        told += 1
    return told


def _recipients(endpoint: Endpoint) -> list[str]:
    """The brand's contact email; without one, its owners'."""
    brand = endpoint.brand
    if brand.contact_email:
        return [brand.contact_email]
    owners = Membership.objects.filter(brand=brand, role=Membership.Role.OWNER).exclude(user__email="")
    return sorted(set(owners.values_list("user__email", flat=True)))


def _brand_notify(*, endpoint: Endpoint, now: datetime) -> None:
    recipients = _recipients(endpoint)
    if not recipients:
        return
    rows = opt_outs_overdue(now=now).filter(endpoint=endpoint)
    count = rows.count()
    oldest = rows.order_by("created_at").values_list("created_at", flat=True).first()
    brand = endpoint.brand
    supported = {code for code, _ in settings.LANGUAGES}
    language = brand.default_language if brand.default_language in supported else settings.LANGUAGE_CODE
    context = {
        "brand": brand,
        "endpoint": endpoint.public_id,
        "count": count,
        "days": ACKNOWLEDGE_BUSINESS_DAYS,
        "oldest": oldest.strftime("%Y-%m-%d") if oldest else "",
        "language": language,
    }
    with translation.override(language):
        subject = " ".join(render_to_string(f"{TEMPLATE}_subject.txt", context).split())
        text = render_to_string(f"{TEMPLATE}_message.txt", context)
        html = render_to_string(f"{TEMPLATE}_message.html", context)
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=recipients,
        headers={"Auto-Submitted": "auto-generated"},
    )
    message.attach_alternative(html, "text/html")
    message.send()
