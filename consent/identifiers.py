"""Normalising and pseudonymising contact identifiers."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress

from django.conf import settings


def normalise_email(email: str) -> str:
    return email.strip().lower()


def email_hmac(normalised_email: str) -> str:
    """HMAC-SHA256 with a pepper held outside the database: proof that survives erasure."""
    return hmac.new(
        settings.IDENTIFIER_PEPPER.encode(), normalised_email.encode(), hashlib.sha256
    ).hexdigest()


def truncate_ip(raw: str) -> str:
    """Keep only the network: /24 for IPv4, /48 for IPv6. Raises ValueError on junk."""
    address = ipaddress.ip_address(raw.strip())
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False).network_address)


def erased_external_id(*, brand_id: int, contact_id: int, external_id: str) -> str:
    """The pseudonym an erased contact is known by from then on.

    Keyed like `email_hmac` and bound to the internal id, so it is unique, says nothing about
    the old id without the pepper, and whoever holds the pepper and the old id can check it.
    """
    message = f"erased-contact\x00{brand_id}\x00{contact_id}\x00{external_id}".encode()
    digest = hmac.new(settings.IDENTIFIER_PEPPER.encode(), message, hashlib.sha256).hexdigest()
    return f"erased-{digest[:32]}"
