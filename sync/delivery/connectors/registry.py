"""The vendors whose adapters are built (the others are refused with a clear 422 for now)."""

from __future__ import annotations

from sync.delivery.connectors.hubspot import HubSpotAdapter
from sync.delivery.connectors.klaviyo import KlaviyoAdapter
from sync.delivery.connectors.mailchimp import MailchimpAdapter
from sync.delivery.connectors.salesforce import SalesforceAdapter
from sync.delivery.connectors.vendors import Adapter

_ADAPTERS: dict[str, Adapter] = {
    "hubspot": HubSpotAdapter(),
    "klaviyo": KlaviyoAdapter(),
    "mailchimp": MailchimpAdapter(),
    "salesforce": SalesforceAdapter(),
}


def adapter_for(vendor: str) -> Adapter | None:
    return _ADAPTERS.get(vendor)


def vendors_built() -> list[str]:
    return sorted(_ADAPTERS)
