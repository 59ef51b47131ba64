"""Which client a request counts against, for the per-address rate limits, and roughly where it was, for the
account's activity log."""

from __future__ import annotations

import ipaddress

IPV6_CLIENT_PREFIX = 64


def client_network(ip: str) -> str:
    """An IPv4 client is its address; an IPv6 client is its /64, since one subscriber's host can take any of the
    2^64 addresses of its network, one per request. An IPv4 address in IPv6 form counts as the IPv4 address."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip  # no address ("unknown"): counted as it is
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        network = ipaddress.IPv6Network((int(address), IPV6_CLIENT_PREFIX), strict=False)
        return str(network)
    return str(address)


IPV4_DISPLAY_PREFIX = 24


def display_network(ip: str) -> str | None:
    """Where a client was, roughly, for the account's activity log: an IPv4 address's /24, an IPv6 address's /64
    (an IPv4 address in IPv6 form as the IPv4 one), e.g. `203.0.113.0/24`; None when there is no address. Never the
    address itself: the log shows the user an approximate place, and keeps no more than that."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if isinstance(address, ipaddress.IPv4Address):
        return str(ipaddress.IPv4Network((int(address), IPV4_DISPLAY_PREFIX), strict=False))
    return str(ipaddress.IPv6Network((int(address), IPV6_CLIENT_PREFIX), strict=False))  # int(): no scope id
