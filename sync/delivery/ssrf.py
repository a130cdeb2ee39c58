"""Keep webhooks away from internal networks (SSRF).

A receiver URL is chosen by whoever holds an admin key, so without a guard it could point the
worker at the database, the cloud's metadata service or anything else on the private network.
Two checks:

- when an endpoint is created or changed, `url_validate` refuses what is plainly wrong (scheme,
  credentials, length, a literal internal address);
- at send time, `GuardedBackend` resolves the host itself, refuses the connection unless every
  address is public, and connects to the address it checked. Checking a name and letting the
  HTTP client resolve it again would leave a gap (DNS rebinding: the second answer can differ).
  TLS still verifies the certificate and sends SNI for the host name, and the Host header is
  unchanged: only the TCP connect is ours.

Redirects are never followed (httpx follow_redirects=False): a 3xx is a failed attempt.
settings.WEBHOOK_ALLOW_PRIVATE (development and tests) lifts the address and scheme checks, but
never for the cloud metadata addresses.
"""

from __future__ import annotations

import ipaddress
import socket
import typing
from urllib.parse import urlsplit

import httpcore
from django.conf import settings

MAX_URL_LENGTH = 2000

# Instance metadata services (AWS, GCP, Azure, OpenStack…; AWS's IPv6 one), refused always.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(address) for address in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
# Not global but missing from is_private/is_reserved on some Python versions: CGNAT.
_SHARED = ipaddress.ip_network("100.64.0.0/10")

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class AddressRefused(Exception):
    """The receiver's address is not one webhooks may be sent to. Not an httpcore error, so it
    leaves the client as it is rather than as a connection error."""


def address_refusal(address: Address, *, allow_private: bool) -> str | None:
    """Why webhooks may not go to `address`, or None when they may."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if allow_private:
        return None
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_private or (isinstance(address, ipaddress.IPv4Address) and address in _SHARED):
        return "a private address"
    if address.is_reserved or not address.is_global:
        return "a reserved address"
    return None


def url_validate(url: str, *, allow_private: bool) -> list[str]:
    """What is wrong with `url` as a webhook receiver (empty when nothing is). Host names are not
    resolved here (their addresses may change): GuardedBackend checks them at every connect."""
    if len(url) > MAX_URL_LENGTH:
        return [f"Use at most {MAX_URL_LENGTH} characters."]
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return ["This is not a valid URL."]
    problems = []
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return ["Use an absolute https:// URL."]
    if parts.scheme == "http" and not allow_private:
        problems.append("Use https://.")
    if parts.username is not None or parts.password is not None:
        problems.append("Leave credentials out of the URL; verify the signature instead.")
    if parts.fragment:
        problems.append("Leave out the #fragment.")
    if port == 0:
        problems.append("Port 0 is not a port.")
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        problems.append("The URL contains spaces or control characters.")
    host = parts.hostname
    try:
        literal: Address | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        reason = address_refusal(literal, allow_private=allow_private)
        if reason:
            problems.append(f"Webhooks cannot be sent to {reason}.")
    elif not allow_private and (host == "localhost" or host.endswith(".localhost")):
        problems.append("Webhooks cannot be sent to a loopback address.")
    return problems


class GuardedBackend(httpcore.SyncBackend):
    """httpcore's network backend, resolving and checking the host before connecting."""

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.NetworkStream:
        allow_private = settings.WEBHOOK_ALLOW_PRIVATE
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise httpcore.ConnectError(f"Could not resolve the host: {exc.strerror}") from None
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        # Every address must pass: otherwise a name with one public and one internal address
        # would reach the internal one whenever the public one did not answer.
        for raw in addresses:
            reason = address_refusal(ipaddress.ip_address(raw.split("%")[0]), allow_private=allow_private)
            if reason:
                raise AddressRefused(f"The receiver's host resolves to {reason}.")
        last_error: Exception | None = None
        for raw in addresses:
            try:
                return super().connect_tcp(raw, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:
                last_error = exc
        raise last_error or httpcore.ConnectError("The host has no address.")
