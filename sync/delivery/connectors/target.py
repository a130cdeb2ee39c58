"""A connector as its adapter sees it for one call, outside a delivery (backfill, reconciler):
the same checks push makes (https unless WEBHOOK_ALLOW_PRIVATE, the SSRF guard's URL rules) and
the credentials decrypted for this call only."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings

from sync.delivery.connectors.crypto import credentials_decrypt
from sync.delivery.connectors.registry import adapter_for
from sync.delivery.connectors.vendors import Adapter, Target, VendorError
from sync.delivery.ssrf import url_normalise
from sync.models import Connector


def connector_target(*, connector: Connector) -> tuple[Adapter, Target]:
    """The adapter and Target of `connector`; VendorError (safe to show) if it cannot be called."""
    adapter = adapter_for(connector.vendor)
    if adapter is None:
        raise VendorError(f"No adapter for {connector.vendor}.")
    allow_private = settings.WEBHOOK_ALLOW_PRIVATE
    if urlsplit(connector.endpoint.url).scheme != "https" and not allow_private:
        raise VendorError("Only https:// vendor hosts are allowed.")
    base_url, problems = url_normalise(connector.endpoint.url, allow_private=allow_private)
    if problems:
        raise VendorError(f"The API base URL is not allowed: {' '.join(problems)}"[:300])
    target = Target(
        public_id=connector.public_id,
        base_url=base_url.rstrip("/"),
        credentials=credentials_decrypt(connector.credentials),
        mapping=connector.mapping,
    )
    return adapter, target
