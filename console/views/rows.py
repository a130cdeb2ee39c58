"""The rows behind the Overview's figures (owners and support): the ledger's events, the
contacts a figure counts, or the webhook deliveries behind a health figure, one keyset page at
a time. External ids only: no addresses."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _

from consent.models import Decision, Method, Purpose
from console.access import SUPPORT, Console, brand_page
from console.charts import SOURCE_LABELS, STATE_LABELS
from console.filters import ConsentEventsForm, ContactsForm, source_choices, state_choices
from console.pages import render
from console.rows import (
    ContactPage,
    DeliveryPage,
    EventPage,
    consent_events_list,
    counted_consents_list,
    counted_subscriptions_list,
    deliveries_behind,
)
from console.rows_forms import FIGURE_LABELS, DeliveriesForm
from preferences.labels import CADENCE_LABELS, CHANNEL_LABELS
from preferences.models import Topic
from sync.delivery.endpoints import audit_url
from sync.models import Attempt, Delivery, Endpoint

PAGE_SIZE = 50

DECISION_LABELS = {
    Decision.GRANTED.value: _("Granted"),
    Decision.WITHDRAWN.value: _("Withdrawn"),
    Decision.EXPIRED.value: _("Expired"),
}
METHOD_LABELS = {
    Method.API.value: _("API"),
    Method.PREFERENCE_CENTRE.value: _("Preference centre"),
    Method.QUIZ.value: _("Quiz"),
    Method.ONE_CLICK.value: _("One-click unsubscribe"),
    Method.IMPORT.value: _("Import"),
    Method.GPC.value: _("Global Privacy Control"),
    Method.AGENT.value: _("Support agent"),
    Method.SMS.value: _("Text message reply"),
    Method.EXPIRY.value: _("Expiry"),
}


def _query(request: HttpRequest, **extra: str) -> str:
    """The page's filters without its position, plus `extra`."""
    query = {name: str(value) for name, value in request.GET.items() if name != "after" and value}
    return urlencode({**query, **extra})


def _page(request: HttpRequest, template: str, context: dict[str, Any], form: Any) -> HttpResponse:
    valid = not form.errors
    filters = _query(request)
    return render(
        request,
        template,
        {
            **context,
            "form": form,
            "errors": form.error_summary(),
            "first": f"{request.path}?{filters}" if filters else request.path,
        },
        status=200 if valid else 400,
    )


@brand_page(read=SUPPORT)
def rows_events(request: HttpRequest, brand_slug: str) -> HttpResponse:
    """The ledger's events behind a figure, newest first."""
    console: Console = request.console  # type: ignore[attr-defined]
    purposes = {
        slug: (pk, name)
        for pk, slug, name in Purpose.objects.filter(brand=console.brand)
        .order_by("slug")
        .values_list("pk", "slug", "name")
    }
    form = ConsentEventsForm(
        ConsentEventsForm.data_of(request.GET),
        purposes=[(slug, name) for slug, (_pk, name) in purposes.items()],
        sources=source_choices(SOURCE_LABELS),
    )
    page: EventPage | None = None
    start = end = None
    if form.is_valid():
        data = form.cleaned_data
        start, end = form.period(timezone.now().date())
        page = consent_events_list(
            brand=console.brand,
            start=start,
            end=end,
            purpose_id=purposes[data["purpose"]][0] if data["purpose"] else None,
            decision=data["decision"] or None,
            source=data["source"] or None,
            after=data["after"],
            limit=PAGE_SIZE,
        )
    following = None
    if page is not None and page.next is not None:
        following = f"{request.path}?{_query(request, after=f'{page.next.at_us}.{page.next.uuid.hex}')}"
    context = {
        "page": page,
        "start": start,
        "end": end,
        "next": following,
        "decisions": DECISION_LABELS,
        "methods": METHOD_LABELS,
    }
    return _page(request, "console/rows_events.html", context, form)


@brand_page(read=SUPPORT)
def rows_contacts(request: HttpRequest, brand_slug: str) -> HttpResponse:
    """The contacts a figure counts: a purpose's consents, or subscriptions."""
    console: Console = request.console  # type: ignore[attr-defined]
    purposes = {
        slug: (pk, name)
        for pk, slug, name in Purpose.objects.filter(brand=console.brand)
        .order_by("slug")
        .values_list("pk", "slug", "name")
    }
    topics = {
        slug: (pk, name)
        for pk, slug, name in Topic.objects.filter(brand=console.brand)
        .order_by("position", "slug")
        .values_list("pk", "slug", "name")
    }
    form = ContactsForm(
        request.GET,
        purposes=[(slug, name) for slug, (_pk, name) in purposes.items()],
        topics=[(slug, name) for slug, (_pk, name) in topics.items()],
        states=state_choices(STATE_LABELS),
    )
    page: ContactPage | None = None
    if form.is_valid():
        data = form.cleaned_data
        if form.shows_consents:
            page = counted_consents_list(
                brand=console.brand,
                purpose_id=purposes[data["purpose"]][0],
                granted=data["consent"] == "granted",
                after=data["after"],
                limit=PAGE_SIZE,
            )
        else:
            page = counted_subscriptions_list(
                brand=console.brand,
                topic_id=topics[data["topic"]][0] if data["topic"] else None,
                channel=data["channel"] or None,
                state=data["subscription"] or None,
                cadence=data["cadence"] or None,
                after=data["after"],
                limit=PAGE_SIZE,
            )
    following = None
    if page is not None and page.next is not None:
        following = f"{request.path}?{_query(request, after=str(page.next))}"
    context = {
        "page": page,
        "next": following,
        "consents": form.is_valid() and form.shows_consents,
        "labels": {"channels": CHANNEL_LABELS, "cadences": CADENCE_LABELS, "states": STATE_LABELS},
    }
    return _page(request, "console/rows_contacts.html", context, form)


DELIVERY_STATUSES = {
    Delivery.Status.PENDING.value: _("Pending"),
    Delivery.Status.SUCCEEDED.value: _("Succeeded"),
    Delivery.Status.FAILED.value: _("Failed"),
}
ATTEMPT_OUTCOMES = {
    Attempt.Outcome.SUCCEEDED.value: _("Succeeded"),
    Attempt.Outcome.FAILED.value: _("Failed"),
    Attempt.Outcome.GONE.value: _("Gone (410): endpoint disabled"),
    Attempt.Outcome.REFUSED.value: _("Refused before sending"),
}


@brand_page(read=SUPPORT)
def rows_deliveries(request: HttpRequest, brand_slug: str) -> HttpResponse:
    """The webhook deliveries behind a health figure, newest first: no bodies, and endpoints
    without their query (it may hold the receiver's token)."""
    console: Console = request.console  # type: ignore[attr-defined]
    endpoints = [
        (public_id, audit_url(url))
        for public_id, url in Endpoint.objects.filter(brand=console.brand)
        .order_by("created_at", "pk")
        .values_list("public_id", "url")
    ]
    form = DeliveriesForm(request.GET, endpoints=endpoints)
    page: DeliveryPage | None = None
    if form.is_valid():
        data = form.cleaned_data
        page = deliveries_behind(
            brand=console.brand,
            figure=data["figure"],
            endpoint_public_id=data["endpoint"] or None,
            now=timezone.now(),
            after=data["after"],
            limit=PAGE_SIZE,
        )
    following = None
    if page is not None and page.next is not None:
        following = f"{request.path}?{_query(request, after=str(page.next))}"
    context = {
        "page": page,
        "next": following,
        "caption": FIGURE_LABELS[form.cleaned_data["figure"]] if page is not None else "",
        "shown": audit_url,
        "statuses": DELIVERY_STATUSES,
        "outcomes": ATTEMPT_OUTCOMES,
    }
    return _page(request, "console/rows_deliveries.html", context, form)
