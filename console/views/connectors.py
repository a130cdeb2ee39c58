"""The owners' connector pages: the brand's connectors, and one connector with its inbound URL,
a connection test, disable / enable / delete, its delivery log (with a redelivery per row, as
for webhook endpoints) and the latest opt-outs its vendor told Candor about.

Connectors are created and their credentials and mappings changed through the API
(/api/v1/connectors): those are JSON documents, and a key typed into a console form would be one
more place to leak it. Every action here goes through the services the API uses, as the staff
member; no page ever holds the credentials (only the connection test decrypts them, in the
service, and shows what the vendor answered)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import resolve, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from brands.audit import Actor
from config.errors import ApplicationError
from console.access import OWNER, Console, access_of, brand_page
from console.connector_forms import ConnectorRedeliverForm, ConnectorTargetForm
from console.connector_selectors import (
    UnknownSignal,
    connector_delivery_of,
    connector_of,
    connectors_of,
    signals_page,
)
from console.pages import refusal, render
from console.service_messages import translated
from console.views.integrations import (
    DELIVERY_STATUSES,
    IN_FLIGHT,
    UnknownPage,
    deliveries_page,
    last_attempt,
)
from sync.delivery.connectors.registry import adapter_for
from sync.delivery.connectors.services import connector_delete, connector_test, connector_update
from sync.delivery.redelivery import deliveries_redeliver
from sync.models import Connector, Endpoint

DISABLED_IN_CONSOLE = "Disabled in the console."
VENDORS = {
    Connector.Vendor.KLAVIYO.value: "Klaviyo",
    Connector.Vendor.MAILCHIMP.value: "Mailchimp",
    Connector.Vendor.HUBSPOT.value: "HubSpot",
    Connector.Vendor.SALESFORCE.value: "Salesforce",
}
SIGNAL_KINDS = {
    "unsubscribed": gettext_lazy("Unsubscribed"),
    "complained": gettext_lazy("Spam complaint"),
    "bounced": gettext_lazy("Hard bounce"),
}
SIGNAL_OUTCOMES = {
    "pending": gettext_lazy("Accepted, not applied yet"),
    "recorded": gettext_lazy("Recorded"),
    "unchanged": gettext_lazy("Already so in Candor"),
    "unknown_contact": gettext_lazy("No such contact in Candor"),
}
CHANNELS = {"email": gettext_lazy("Email"), "sms": gettext_lazy("SMS")}


def _actor(request: HttpRequest) -> Actor:
    return Actor.staff(request.user)


def _host(url: str) -> str:
    """The vendor's host as called: scheme and host, without any path, query or user info."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def _inbound_url(connector: Connector) -> str:
    """The hook's address; Mailchimp does not sign its calls, so its URL carries the connector's
    webhook secret, shown here as a placeholder (the page never shows a credential)."""
    url = f"{settings.PUBLIC_BASE_URL}/hooks/{connector.vendor}/{connector.public_id}"
    return f"{url}?secret=<webhook_secret>" if connector.vendor == "mailchimp" else url


def _polled(vendor: str) -> bool:
    """Whether Candor asks the vendor (Salesforce) rather than being called by it."""
    adapter = adapter_for(vendor)
    return adapter.polled if adapter is not None else vendor == Connector.Vendor.SALESFORCE


def _may_open_contacts(console: Console) -> bool:
    """Whether the person's role may open a contact's page (the page's own declaration decides,
    as for the navigation)."""
    access = access_of(resolve(reverse("console:contacts", args=[console.brand.slug])).func)
    return access is not None and access.may_read(console.role)


@brand_page(read=OWNER)
def connectors(request: HttpRequest, brand_slug: str) -> HttpResponse:
    """The brand's connectors (owners only): vendor, name, status and the last delivery."""
    brand = request.console.brand  # type: ignore[attr-defined]
    context = {
        "connectors": list(connectors_of(brand=brand)),
        "vendors": VENDORS,
        "statuses": DELIVERY_STATUSES,
    }
    return render(request, "console/connectors.html", context)


def _connector_page(
    request: HttpRequest,
    connector: Connector,
    *,
    errors: list[tuple[str, str]] | None = None,
    tested: Any = None,
    status: int = 200,
) -> HttpResponse:
    console: Console = request.console  # type: ignore[attr-defined]
    try:
        page = deliveries_page(endpoint=connector.endpoint, before=request.GET.get("before") or None)
        signals = signals_page(connector=connector, before=request.GET.get("signals_before") or None)
    except UnknownPage:
        return refusal(request, 404, console)
    except UnknownSignal:
        return refusal(request, 400, console)
    polled = _polled(connector.vendor)
    context = {
        "connector": connector,
        "endpoint": connector.endpoint,
        "vendor_name": VENDORS.get(connector.vendor, connector.vendor),
        "host": _host(connector.endpoint.url),
        "polled": polled,
        "inbound_url": None if polled else _inbound_url(connector),
        "errors": errors or [],
        "tested": tested,
        "rows": [(d, last_attempt(d)) for d in page.deliveries],
        "older": page.older,
        "before": request.GET.get("before") or "",
        "statuses": DELIVERY_STATUSES,
        "signals": signals.rows,
        "signals_older": signals.older,
        "signals_before": request.GET.get("signals_before") or "",
        "may_open_contacts": _may_open_contacts(console),
        "kinds": SIGNAL_KINDS,
        "outcomes": SIGNAL_OUTCOMES,
        "channels": CHANNELS,
    }
    return render(request, "console/connector.html", context, status=status)


@brand_page(
    read=OWNER,
    actions={"test": OWNER, "disable": OWNER, "enable": OWNER, "delete": OWNER, "redeliver": OWNER},
)
def connector(request: HttpRequest, brand_slug: str, connector_id: str) -> HttpResponse:
    """One connector (owners only): its facts and inbound URL, a connection test, disable or
    enable, delete, its delivery log with a redelivery per row, and its latest inbound signals."""
    brand = request.console.brand  # type: ignore[attr-defined]
    found = connector_of(brand=brand, public_id=connector_id)
    if found is None:
        return refusal(request, 404, request.console)  # type: ignore[attr-defined]
    if request.method != "POST":
        return _connector_page(request, found)
    action = request.POST["action"]
    form_class = ConnectorRedeliverForm if action == "redeliver" else ConnectorTargetForm
    target: ConnectorTargetForm = form_class(request.POST)
    if not target.is_valid() or target.cleaned_data["connector"] != found.public_id:
        return refusal(request, 400, request.console)  # type: ignore[attr-defined]
    here = reverse("console:connector", args=[brand.slug, found.public_id])
    actor = _actor(request)
    try:
        if action == "test":
            # Asks the vendor (no transaction is open meanwhile); writes nothing, so no redirect.
            return _connector_page(request, found, tested=connector_test(connector=found))
        if action == "disable":
            if found.endpoint.status != Endpoint.Status.DISABLED:
                connector_update(
                    connector=found,
                    actor=actor,
                    status=Endpoint.Status.DISABLED,
                    disabled_reason=DISABLED_IN_CONSOLE,
                )
            messages.success(request, _("Connector disabled: nothing is sent to it until you enable it."))
        elif action == "enable":
            connector_update(connector=found, actor=actor, status=Endpoint.Status.ACTIVE)
            messages.success(request, _("Connector enabled: it catches up from where it stopped."))
        elif action == "delete":
            connector_delete(connector=found, actor=actor)
            messages.success(request, _("Connector deleted."))
            return HttpResponseRedirect(reverse("console:connectors", args=[brand.slug]))
        else:  # redeliver
            delivery = connector_delivery_of(connector=found, public_id=target.cleaned_data["delivery"])
            if delivery is None:
                return refusal(request, 404, request.console)  # type: ignore[attr-defined]
            if not deliveries_redeliver(endpoint=found.endpoint, delivery=delivery, actor=actor):
                return _connector_page(request, found, errors=[("#deliveries", str(IN_FLIGHT))], status=409)
            messages.success(request, _("Delivery %(id)s queued again.") % {"id": delivery.public_id})
    except ApplicationError as refused:
        detail = translated(refused.detail)
        return _connector_page(request, found, errors=[("#actions", detail)], status=refused.status)
    return HttpResponseRedirect(here)
