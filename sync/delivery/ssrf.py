"""Keep webhooks away from internal networks (SSRF).

A receiver URL is chosen by whoever holds an admin key, so without a guard it could point the
worker at the database, the cloud's metadata service or anything else on the private network.
Two checks:

- when an endpoint is created or changed, `url_normalise` reads the URL with the HTTP client's
  own parser and refuses what is plainly wrong (scheme, credentials, length, a literal internal
  address) and every host that is not written in its one canonical form; the sender checks the
  stored URL the same way again before each attempt (a row written past the services);
- at send time, `GuardedBackend` resolves the host itself, refuses the connection unless every
  address is public, and connects to the address it checked. Checking a name and letting the
  HTTP client resolve it again would leave a gap (DNS rebinding: the second answer can differ).
  TLS still verifies the certificate and sends SNI for the host name, and the Host header is
  unchanged: only the TCP connect is ours.

Redirects are never followed (httpx follow_redirects=False): a 3xx is a failed attempt.
settings.WEBHOOK_ALLOW_PRIVATE (development and tests) lifts the address and scheme checks, but
never for the cloud metadata addresses. An IPv6 address that carries an IPv4 one (6to4, NAT64,
Teredo, IPv4-mapped…) is judged by the IPv4 address, at registration and at every connect.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import socket
import typing

import httpcore
import httpx
from django.conf import settings

MAX_URL_LENGTH = 2000

# Instance metadata services (AWS, GCP, Azure, OpenStack…; AWS's IPv6 one), refused always.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(address) for address in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
# Not global but missing from is_private/is_reserved on some Python versions: CGNAT.
_SHARED = ipaddress.ip_network("100.64.0.0/10")
# IPv6 prefixes that carry an IPv4 address in their last 32 bits: NAT64's well-known prefix
# (RFC 6052) and its local-use one (RFC 8215). A packet to them reaches the IPv4 address.
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
# ISATAP interface identifiers (RFC 5214): the IPv4 address follows them.
_ISATAP_IDS = (0x00005EFE, 0x02005EFE)
# A host name label: letters, digits and inner hyphens (RFC 1123), as the client sends it
# (an international name in its xn-- form).
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
# What WHATWG URL parsers and inet_aton read as an IPv4 address when it ends a host name:
# decimal, octal or hex numbers (127.1, 0x7f000001, 2130706433, 0177.0.0.1).
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class AddressRefused(Exception):
    """The receiver's address is not one webhooks may be sent to. Not an httpcore error, so it
    leaves the client as it is rather than as a connection error."""


def _carried(address: ipaddress.IPv6Address) -> tuple[tuple[ipaddress.IPv4Address, ...], bool]:
    """The IPv4 addresses `address` carries, and whether it is only a translation of them (its
    own prefix then says nothing about where a packet ends up) rather than a routed IPv6 address
    of its own that also names them (Teredo, ISATAP)."""
    value = int(address)
    low = ipaddress.IPv4Address(value & 0xFFFFFFFF)
    if address.ipv4_mapped is not None:
        return (address.ipv4_mapped,), True
    if value >> 32 == 0 and value > 1:  # IPv4-compatible (::a.b.c.d); :: and ::1 are themselves
        return (low,), True
    if address.sixtofour is not None:
        return (address.sixtofour,), True
    if any(address in network for network in _NAT64):
        return (low,), True
    if address.teredo is not None:
        return address.teredo, False
    if (value >> 32) & 0xFFFFFFFF in _ISATAP_IDS:
        return (low,), False
    return (), False


def embedded_ipv4(address: Address) -> tuple[ipaddress.IPv4Address, ...]:
    """The IPv4 addresses an IPv6 address carries, which a packet to it may reach through a
    translator or tunnel: IPv4-mapped and -compatible, 6to4, NAT64, Teredo (its server and its
    client) and ISATAP. Empty for IPv4 and for plain IPv6 addresses."""
    if not isinstance(address, ipaddress.IPv6Address):
        return ()
    return _carried(address)[0]


def _refusal(address: Address, *, allow_private: bool) -> str | None:
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


def address_refusal(address: Address, *, allow_private: bool) -> str | None:
    """Why webhooks may not go to `address`, or None when they may. An IPv6 address that
    carries an IPv4 one (6to4, NAT64, Teredo, mapped…) is judged by what it carries: the
    wrapper's own prefix says nothing about where the packet ends up."""
    embedded, translation = _carried(address) if isinstance(address, ipaddress.IPv6Address) else ((), False)
    for candidate in (*embedded, *(() if translation else (address,))):
        reason = _refusal(candidate, allow_private=allow_private)
        if reason:
            return reason
    return None


def _host_problem(host: str) -> str | None:
    """Why `host` (the client's ASCII form of a name) is not a canonical host name, or None.
    Only one spelling of each host is accepted: resolvers and parsers disagree about the others
    (127.1, 0x7f000001, a single label completed by a search domain), so a check here could pass
    a host that the connection then reads differently."""
    if host.endswith("."):
        return f"Leave out the dot at the end of the host name {host!r}."
    labels = host.split(".")
    if not all(_LABEL.fullmatch(label) for label in labels) or len(host) > 253:
        return (
            f"{host!r} is not a valid host name: use letters, digits, hyphens and dots "
            "(at most 63 characters between dots)."
        )
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        return (
            "Write an IPv4 address as four decimal numbers without leading zeros "
            f"(like 203.0.113.7), not {host!r}."
        )
    if len(labels) == 1 and host != "localhost":  # localhost: a loopback address (see below)
        return f"Use a fully qualified host name (like hooks.example.com), not {host!r}."
    return None


@functools.lru_cache(maxsize=1024)
def url_normalise(url: str, *, allow_private: bool) -> tuple[str, tuple[str, ...]]:
    """The canonical form of `url` as a webhook receiver, read by the HTTP client's own parser
    (httpx.URL, the one the sender uses), and what is wrong with it (empty when nothing is).
    Host names are not resolved here (their addresses may change): GuardedBackend checks them
    at every connect."""
    if len(url) > MAX_URL_LENGTH:
        return url, (f"Use at most {MAX_URL_LENGTH} characters.",)
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        return url, ("The URL contains spaces or control characters.",)
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError, TypeError) as exc:
        return url, (f"This is not a valid URL ({exc}).",)
    raw_host = parsed.raw_host.decode("ascii", errors="replace")
    if parsed.scheme not in ("https", "http") or not raw_host:
        return url, ("Use an absolute https:// URL.",)
    problems = []
    if parsed.scheme == "http" and not allow_private:
        problems.append("Use https://.")
    if parsed.userinfo:
        problems.append("Leave credentials out of the URL; verify the signature instead.")
    if parsed.fragment or "#" in url:
        problems.append("Leave out the #fragment.")
    if parsed.port is not None and not 0 < parsed.port < 65536:
        problems.append(f"Use a port from 1 to 65535, not {parsed.port}.")
    elif parsed.port == {"https": 443, "http": 80}[parsed.scheme]:
        parsed = parsed.copy_with(port=None)  # httpx keeps it when the scheme was upper case
    try:
        literal: Address | None = ipaddress.ip_address(raw_host)
    except ValueError:
        literal = None
    if isinstance(literal, ipaddress.IPv6Address) and literal.scope_id:
        problems.append("Leave out the IPv6 zone (%…): it names an interface of this machine.")
    elif literal is not None:
        reason = address_refusal(literal, allow_private=allow_private)
        if reason:
            problems.append(f"Webhooks cannot be sent to {reason}.")
        if literal.version == 6:  # one spelling of each address: lower case, zeros compressed
            parsed = parsed.copy_with(host=str(literal))
    else:
        problem = _host_problem(raw_host)
        if problem:
            problems.append(problem)
        elif not allow_private and (raw_host == "localhost" or raw_host.endswith(".localhost")):
            problems.append("Webhooks cannot be sent to a loopback address.")
    return str(parsed), tuple(problems)


def url_validate(url: str, *, allow_private: bool) -> list[str]:
    """What is wrong with `url` as a webhook receiver (empty when nothing is); see url_normalise."""
    return list(url_normalise(url, allow_private=allow_private)[1])


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
