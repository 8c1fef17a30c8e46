"""Which URLs may receive webhooks: https, and only addresses on the public internet.

A receiver URL must be `https` and its host must resolve (every address it resolves to)
to globally routable unicast addresses: never loopback, private, link-local, unspecified,
multicast, reserved or a cloud metadata address, also when wrapped in IPv6 (IPv4-mapped,
6to4, Teredo, NAT64). Checked when an endpoint is created and again before every attempt,
since DNS can change; the sender then connects to the address it checked.
`EXPORTS_WEBHOOK_ALLOW_PRIVATE=1` (`allow_private=True`) lifts both rules, for
development and tests.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

MAX_URL_LENGTH = 2048
METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class RefusedUrl(ValueError):
    """The URL may not receive webhooks; the message says which rule it breaks."""


@dataclass(frozen=True)
class Target:
    """A URL checked for sending: its parts and the addresses its host resolved to."""

    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_problem(address: IPAddress) -> str | None:
    """Why webhooks may not go to `address` (e.g. "a loopback address"), or None."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return address_problem(embedded)
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    checks = (
        (address.is_loopback, "a loopback address"),
        (address.is_unspecified, "an unspecified address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (address.is_reserved, "a reserved address"),
        (address.is_private, "a private address"),
        (not address.is_global, "not a public internet address"),
    )
    return next((reason for failed, reason in checks if failed), None)


def _parse(url: str, *, allow_private: bool) -> SplitResult:
    if len(url) > MAX_URL_LENGTH:
        raise RefusedUrl(f"must be at most {MAX_URL_LENGTH} characters")
    if any(c.isspace() or ord(c) < 0x21 for c in url):
        raise RefusedUrl("must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as exc:
        raise RefusedUrl(f"is not a valid URL ({exc})") from None
    allowed = ("https", "http") if allow_private else ("https",)
    if parts.scheme.lower() not in allowed:
        raise RefusedUrl("must be an https:// URL")
    if not parts.hostname:
        raise RefusedUrl("must name a host")
    if parts.username is not None or parts.password is not None:
        raise RefusedUrl("must not contain a user name or password")
    return parts


def _resolve(host: str, port: int) -> tuple[str, ...]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise RefusedUrl(f"host {host!r} does not resolve ({exc})") from None
    addresses: list[str] = []
    for info in infos:
        # Drop an IPv6 zone ("fe80::1%eth0"): the address itself decides.
        address = str(info[4][0]).split("%", 1)[0]
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise RefusedUrl(f"host {host!r} does not resolve")
    return tuple(addresses)


def check_url(url: str, *, allow_private: bool = False) -> Target:
    """The URL's target when webhooks may be sent to it; `RefusedUrl` naming the rule
    otherwise (not https, no host, credentials, does not resolve, or resolves to an address
    outside the public internet). With `allow_private`, http and any address are allowed.
    """
    parts = _parse(url, allow_private=allow_private)
    host = parts.hostname or ""
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    addresses = _resolve(host, port)
    if not allow_private:
        for text in addresses:
            problem = address_problem(ipaddress.ip_address(text))
            if problem is not None:
                # The host as given, never the address it resolved to: the answer must not
                # tell a caller what an internal name resolves to.
                raise RefusedUrl(f"must not point at {problem}: {host}")
    return Target(url=url, scheme=scheme, host=host, port=port, addresses=addresses)
