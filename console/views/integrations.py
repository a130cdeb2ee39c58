"""The owners' integration pages: API keys, and webhook endpoints with their delivery logs.

A new key or endpoint secret is shown once, on the page that answers the POST that made it:
it is never stored in the session, never put in a redirect, never logged, and the next load of
any page shows only the key's prefix (the secret not at all)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from brands.audit import Actor
from brands.services import api_key_create, api_key_revoke
from config.errors import ApplicationError
from console.access import OWNER, brand_page
from console.integration_forms import (
    ApiKeyCreateForm,
    ApiKeyRevokeForm,
    EndpointForm,
    EndpointTargetForm,
    RedeliverForm,
)
from console.pages import refusal, render
from console.selectors import (
    api_key_get,
    api_keys_of,
    delivery_of,
    endpoint_of,
    endpoints_of,
)
from console.service_messages import refusal_errors, translated
from sync.delivery.endpoints import (
    audit_url,
    endpoint_create,
    endpoint_delete,
    endpoint_disable,
    endpoint_secret_rotate,
    endpoint_test_send,
    endpoint_update,
)
from sync.delivery.redelivery import deliveries_redeliver
from sync.delivery.selectors import deliveries_list
from sync.models import Attempt, Delivery, Endpoint

DISABLED_IN_CONSOLE = "Disabled in the console."
IN_FLIGHT = gettext_lazy("This delivery is being attempted right now; try again shortly.")
DELIVERY_STATUSES = {
    Delivery.Status.PENDING.value: gettext_lazy("Pending"),
    Delivery.Status.SUCCEEDED.value: gettext_lazy("Succeeded"),
    Delivery.Status.FAILED.value: gettext_lazy("Failed"),
}


def _with_service_errors(form: Any, refused: ApplicationError) -> Any:
    """The form again, with the service's refusal on the fields it names (the rest on top)."""
    form.is_valid()
    for name, problems in refusal_errors(refused).items():
        form.add_error(name if name in form.fields else None, problems)
    return form


def _actor(request: HttpRequest) -> Actor:
    return Actor.staff(request.user)


# --- API keys -----------------------------------------------------------------------------------


def _keys_page(
    request: HttpRequest, *, form: ApiKeyCreateForm | None = None, status: int = 200
) -> HttpResponse:
    brand = request.console.brand  # type: ignore[attr-defined]
    form = form or ApiKeyCreateForm()
    context = {
        "keys": list(api_keys_of(brand=brand)),
        "form": form,
        "errors": form.error_summary() if form.is_bound else [],
    }
    return render(request, "console/api_keys.html", context, status=status)


@brand_page(read=OWNER, actions={"create": OWNER, "revoke": OWNER})
def api_keys(request: HttpRequest, brand_slug: str) -> HttpResponse:
    """The brand's API keys (owners only): create one with scopes, revoke one."""
    if request.method != "POST":
        return _keys_page(request)
    brand = request.console.brand  # type: ignore[attr-defined]
    if request.POST["action"] == "create":
        form = ApiKeyCreateForm(request.POST)
        if not form.is_valid():
            return _keys_page(request, form=form, status=400)
        try:
            issued = api_key_create(
                brand=brand,
                actor=_actor(request),
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
            )
        except ApplicationError as refused:
            return _keys_page(request, form=_with_service_errors(form, refused), status=refused.status)
        # The one time the full key exists outside the caller's hands: this page, this answer.
        return render(request, "console/api_key_created.html", {"issued": issued}, status=201)
    revoking = ApiKeyRevokeForm(request.POST)
    if not revoking.is_valid():
        return refusal(request, 400, request.console)  # type: ignore[attr-defined]
    key = api_key_get(brand=brand, prefix=revoking.cleaned_data["key"])
    if key is None:
        return refusal(request, 404, request.console)  # type: ignore[attr-defined]
    api_key_revoke(api_key=key, actor=_actor(request))
    messages.success(request, _("Key %(prefix)s revoked.") % {"prefix": key.prefix})
    return HttpResponseRedirect(reverse("console:api_keys", args=[brand.slug]))


# --- Webhook endpoints --------------------------------------------------------------------------


def _endpoints_page(
    request: HttpRequest, *, form: EndpointForm | None = None, status: int = 200
) -> HttpResponse:
    brand = request.console.brand  # type: ignore[attr-defined]
    form = form or EndpointForm()
    context = {
        # Shown without the query, which may hold the receiver's token (as the audit log does).
        "endpoints": [(e, audit_url(e.url)) for e in endpoints_of(brand=brand)],
        "form": form,
        "errors": form.error_summary() if form.is_bound else [],
    }
    return render(request, "console/endpoints.html", context, status=status)


@brand_page(read=OWNER, actions={"create": OWNER})
def endpoints(request: HttpRequest, brand_slug: str) -> HttpResponse:
    """The brand's webhook endpoints (owners only), and a form to register one."""
    if request.method != "POST":
        return _endpoints_page(request)
    brand = request.console.brand  # type: ignore[attr-defined]
    form = EndpointForm(request.POST)
    if not form.is_valid():
        return _endpoints_page(request, form=form, status=400)
    try:
        # The service applies the SSRF guard the API applies (https, no private addresses).
        endpoint = endpoint_create(brand=brand, actor=_actor(request), **form.cleaned_data)
    except ApplicationError as refused:
        return _endpoints_page(request, form=_with_service_errors(form, refused), status=refused.status)
    return _secret_page(request, endpoint, created=True)


def _secret_page(request: HttpRequest, endpoint: Endpoint, *, created: bool) -> HttpResponse:
    context = {"endpoint": endpoint, "shown_url": audit_url(endpoint.url), "created": created}
    return render(request, "console/endpoint_secret.html", context, status=201 if created else 200)


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


def last_attempt(delivery: Delivery) -> Attempt | None:
    attempts = list(delivery.attempts.all())  # prefetched, in order
    return attempts[-1] if attempts else None


def _endpoint_page(
    request: HttpRequest,
    endpoint: Endpoint,
    *,
    form: EndpointForm | None = None,
    errors: list[tuple[str, str]] | None = None,
    status: int = 200,
) -> HttpResponse:
    try:
        page = deliveries_page(endpoint=endpoint, before=request.GET.get("before") or None)
    except UnknownPage:
        return refusal(request, 404, request.console)  # type: ignore[attr-defined]
    form = form or EndpointForm.of(endpoint)
    context = {
        "endpoint": endpoint,
        "form": form,
        "errors": errors if errors is not None else (form.error_summary() if form.is_bound else []),
        "shown_url": audit_url(endpoint.url),
        # Each delivery with its latest attempt (the attempts come prefetched, in order).
        "rows": [(d, last_attempt(d)) for d in page.deliveries],
        "older": page.older,
        "before": request.GET.get("before") or "",
        "statuses": DELIVERY_STATUSES,
        "now": timezone.now(),
    }
    return render(request, "console/endpoint.html", context, status=status)


@brand_page(
    read=OWNER,
    actions={
        "update": OWNER,
        "rotate": OWNER,
        "disable": OWNER,
        "enable": OWNER,
        "delete": OWNER,
        "test": OWNER,
        "redeliver": OWNER,
    },
)
def endpoint(request: HttpRequest, brand_slug: str, endpoint_id: str) -> HttpResponse:
    """One endpoint (owners only): its settings, its secret's rotation, disable or enable,
    delete, a test message, and its delivery log with a redelivery per row."""
    brand = request.console.brand  # type: ignore[attr-defined]
    found = endpoint_of(brand=brand, public_id=endpoint_id)
    if found is None:
        return refusal(request, 404, request.console)  # type: ignore[attr-defined]
    if request.method != "POST":
        return _endpoint_page(request, found)
    action = request.POST["action"]
    target_class = RedeliverForm if action == "redeliver" else EndpointTargetForm
    target_form: EndpointTargetForm = target_class(request.POST)
    if not target_form.is_valid() or target_form.cleaned_data["endpoint"] != found.public_id:
        return refusal(request, 400, request.console)  # type: ignore[attr-defined]
    here = reverse("console:endpoint", args=[brand.slug, found.public_id])
    actor = _actor(request)
    try:
        if action == "update":
            form = EndpointForm(request.POST)
            if not form.is_valid():
                return _endpoint_page(request, found, form=form, status=400)
            try:
                endpoint_update(endpoint=found, actor=actor, **form.cleaned_data)
            except ApplicationError as refused:
                form = _with_service_errors(form, refused)
                return _endpoint_page(request, found, form=form, status=refused.status)
            messages.success(request, _("Endpoint saved."))
        elif action == "rotate":
            endpoint_secret_rotate(endpoint=found, actor=actor)
            return _secret_page(request, found, created=False)
        elif action == "disable":
            disabled = endpoint_disable(
                endpoint_id=found.pk, reason=DISABLED_IN_CONSOLE, automatic=False, actor=actor
            )
            if disabled:
                messages.success(request, _("Endpoint disabled: nothing is sent to it until you enable it."))
        elif action == "enable":
            endpoint_update(endpoint=found, actor=actor, status=Endpoint.Status.ACTIVE)
            messages.success(request, _("Endpoint enabled: it catches up from where it stopped."))
        elif action == "delete":
            endpoint_delete(endpoint=found, actor=actor)
            messages.success(request, _("Endpoint deleted."))
            return HttpResponseRedirect(reverse("console:endpoints", args=[brand.slug]))
        elif action == "test":
            endpoint_test_send(endpoint=found, actor=actor)
            messages.success(request, _("Test message queued: it appears in the delivery log below."))
        else:  # redeliver
            delivery = delivery_of(endpoint=found, public_id=target_form.cleaned_data["delivery"])
            if delivery is None:
                return refusal(request, 404, request.console)  # type: ignore[attr-defined]
            if not deliveries_redeliver(endpoint=found, delivery=delivery, actor=actor):
                return _endpoint_page(
                    request,
                    found,
                    errors=[("#deliveries", str(IN_FLIGHT))],
                    status=409,
                )
            messages.success(request, _("Delivery %(id)s queued again.") % {"id": delivery.public_id})
    except ApplicationError as refused:
        detail = translated(refused.detail)
        return _endpoint_page(request, found, errors=[("#actions", detail)], status=refused.status)
    return HttpResponseRedirect(here)
