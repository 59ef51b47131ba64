"""Which client a request counts against, for the per-address rate limits."""

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
