"""Polled vendors (Salesforce): read the opt-outs changed in the vendor since the connector's
watermark and record them as a webhook call's signals are (sync.delivery.connectors.inbound).

Beat runs `connectors_poll` every CONNECTORS_POLL_SECONDS. The signals are recorded before the
watermark moves, so a crash in between only re-reads them (a re-read signal is a duplicate and
changes nothing). No database transaction waits on the vendor.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from django.conf import settings
from django.utils import timezone

from sync.delivery.connectors.crypto import ConnectorKeysMissing, CredentialsUnreadable, credentials_decrypt
from sync.delivery.connectors.inbound import signals_record
from sync.delivery.connectors.registry import adapter_for, vendors_built
from sync.delivery.connectors.vendors import Target, VendorError
from sync.delivery.sending import http_client
from sync.delivery.ssrf import AddressRefused, url_normalise
from sync.models import Connector, Endpoint

logger = logging.getLogger(__name__)


def polled_vendors() -> list[str]:
    return [vendor for vendor in vendors_built() if getattr(adapter_for(vendor), "polled", False)]


def connector_poll(*, connector: Connector) -> list[str] | None:
    """Poll one connector; the outcome of each signal, or None when the vendor could not be
    read (the watermark stays, the next run tries again)."""
    adapter = adapter_for(connector.vendor)
    if adapter is None or not adapter.polled:
        return None
    allow_private = settings.WEBHOOK_ALLOW_PRIVATE
    base_url, problems = url_normalise(connector.endpoint.url, allow_private=allow_private)
    if problems or (urlsplit(base_url).scheme != "https" and not allow_private):
        logger.warning("connector %s: its host is not allowed; not polled", connector.public_id)
        return None
    try:
        target = Target(
            public_id=connector.public_id,
            base_url=base_url.rstrip("/"),
            credentials=credentials_decrypt(connector.credentials),
            mapping=connector.mapping,
        )
        signals, watermark = adapter.poll(target, connector.poll_watermark or None, client=http_client())
    except (VendorError, AddressRefused, ConnectorKeysMissing, CredentialsUnreadable) as exc:
        # The message is safe (redacted of the credentials); the type says enough otherwise.
        logger.warning("connector %s: poll failed: %s", connector.public_id, str(exc)[:300])
        return None
    outcomes = signals_record(connector=connector, signals=signals) if signals else []
    Connector.objects.filter(pk=connector.pk).update(poll_watermark=watermark or "", polled_at=timezone.now())
    return outcomes


def connectors_poll() -> dict[str, int]:
    """Poll every active connector of a polled vendor: how many were polled, and signals read."""
    done = {"connectors": 0, "signals": 0}
    connectors = (
        Connector.objects.filter(vendor__in=polled_vendors(), endpoint__status=Endpoint.Status.ACTIVE)
        .select_related("endpoint", "brand")
        .order_by("pk")
    )
    for connector in connectors:
        outcomes = connector_poll(connector=connector)
        if outcomes is not None:
            done["connectors"] += 1
            done["signals"] += len(outcomes)
    return done
