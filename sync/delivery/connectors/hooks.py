"""/hooks/{vendor}/{connector}: a vendor's webhook call (GET for the URL check some vendors make,
POST for events). Server to server, so no CSRF token; rate-limited per connector. The view only
finds the connector, lets its adapter verify and read the call the vendor's way, and keeps the
signals for a worker to apply (sync.delivery.connectors.inbound). A disabled connector still
hears its vendor: a "no" is honoured whether or not Candor is pushing to that vendor now."""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from config.throttle import throttle_count
from sync.delivery.broker import publish
from sync.delivery.connectors.crypto import ConnectorKeysMissing, CredentialsUnreadable, credentials_decrypt
from sync.delivery.connectors.inbound import signals_accept, signals_nudge
from sync.delivery.connectors.registry import adapter_for
from sync.delivery.connectors.vendors import InboundRequest, Target
from sync.models import Connector

logger = logging.getLogger(__name__)
TEXT = "text/plain; charset=utf-8"
HOOK_FIELDS = ("public_id", "vendor", "brand_id", "credentials", "mapping", "endpoint__url")


def _plain(text: str, status: int) -> HttpResponse:
    return HttpResponse(text + "\n", status=status, content_type=TEXT)


@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
def vendor_hook(request: HttpRequest, vendor: str, connector_id: str) -> HttpResponse:
    retry_after = throttle_count(
        scope="vendor-hook", ident=connector_id[:40], rate=settings.CONNECTOR_HOOK_RATE
    )
    if retry_after is not None:
        response = _plain("Too many requests", 429)
        response["Retry-After"] = str(retry_after)
        return response
    adapter = adapter_for(vendor)
    # Only what the call needs: a wide select (the brand's every column) cost more than the rest.
    connector = (
        Connector.objects.select_related("endpoint")
        .only(*HOOK_FIELDS)
        .filter(public_id=connector_id, vendor=vendor)
        .order_by()
        .first()
    )
    if adapter is None or connector is None:
        return _plain("Not found", 404)
    try:
        credentials = credentials_decrypt(connector.credentials)
    except (ConnectorKeysMissing, CredentialsUnreadable):
        # Ours to fix, and the vendor retries: it must not take this for an answer.
        logger.error(
            "connector %s: credentials unreadable; its vendor's call was refused", connector.public_id
        )
        return _plain("Temporarily unavailable", 503)
    target = Target(
        public_id=connector.public_id,
        base_url=connector.endpoint.url,
        credentials=credentials,
        mapping=connector.mapping,
    )
    received_at = timezone.now()
    call = InboundRequest(
        method=request.method or "POST",
        # The URL the vendor was given: the public base URL, not whatever Host a proxy passed on.
        url=settings.PUBLIC_BASE_URL + request.get_full_path(),
        headers={name.lower(): value for name, value in request.headers.items()},
        query={name: request.GET.get(name, "") for name in request.GET},
        body=request.body,
        received_at=received_at,
    )
    answer = adapter.inbound(target, call)
    if answer.signals and 200 <= answer.status < 300:
        signals_accept(connector=connector, signals=answer.signals, received_at=received_at)
        signals_nudge(publish=lambda: publish("inbound_signals_apply"))
    return HttpResponse(answer.body, status=answer.status, content_type=TEXT)
