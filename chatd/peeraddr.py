"""Client and listener addresses: one spelling for the logs and users, one key for limits.

A "::" listener takes IPv4 too, and its IPv4 clients arrive as IPv4-mapped IPv6
(::ffff:1.2.3.4): they are shown and counted as the IPv4 address they are.  An IPv6 host
is usually given a whole /64 (RFC 6177), and can pick any address in it for every
connection, so per-address limits count IPv6 clients by prefix.
"""

from __future__ import annotations

import ipaddress

IPV6_PREFIX_LENGTH = 64  # the limits' default: one host's share of an IPv6 network
ANY, ANY4 = ipaddress.IPv6Address("::"), ipaddress.IPv4Address("0.0.0.0")  # the wildcards


def normal(host: str) -> str:
    """The normal form of an address: a mapped IPv4 address as plain IPv4, IPv6
    compressed (RFC 5952); anything that is no IP address (a unix socket's "local") as is."""
    if ":" not in host:
        return host  # IPv4 from the kernel is already dotted quad, or not an address
    try:
        addr = ipaddress.IPv6Address(host)
    except ValueError:
        return host
    mapped = addr.ipv4_mapped
    return str(mapped) if mapped is not None else str(addr)


def limit_key(label: str, prefix_length: int = IPV6_PREFIX_LENGTH) -> str:
    """What max_clients_per_ip counts by: an IPv4 address itself (mapped or not), an IPv6
    address's network of prefix_length bits (2001:db8::/64), anything else as is."""
    if ":" not in label:
        return label
    try:
        addr = ipaddress.IPv6Address(label)
    except ValueError:
        return label
    if addr.ipv4_mapped is not None:
        return str(addr.ipv4_mapped)
    # The scope (fe80::1%eth0) is dropped: a host on two links is still one host.
    bits = int(addr) >> (128 - prefix_length) << (128 - prefix_length)
    return f"{ipaddress.IPv6Address(bits)}/{prefix_length}"


def with_port(host: str, port: int) -> str:
    """host:port for a log line; an IPv6 address in brackets ([::1]:5000)."""
    host = normal(host)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def first_overlap(binds: list[str]) -> tuple[int, int] | None:
    """For listeners of one port, in order: (n, m) if listener n would take connections of
    the earlier listener m (the same address, or a wildcard and an address it covers: '::'
    covers IPv4 too, as it listens with IPV6_V6ONLY off); None if none would.  Linear, as a
    config file may list thousands of listeners."""
    seen: dict[ipaddress.IPv4Address | ipaddress.IPv6Address, int] = {}
    first: dict[int, int] = {}  # by IP version: the first listener of that family
    for n, bind in enumerate(binds):
        addr = ipaddress.ip_address(normal(bind))  # with its scope: fe80::1%a is not %b
        for wide in (ANY, ANY4 if addr.version == 4 else None):
            if wide in seen:
                return n, seen[wide]
        if addr in seen:
            return n, seen[addr]
        if addr == ANY and first:
            return n, min(first.values())
        if addr == ANY4 and 4 in first:
            return n, first[4]
        seen[addr] = n
        first.setdefault(addr.version, n)
    return None


def irc_host(label: str) -> str:
    """A host as an IRC parameter, which cannot start with ':': '::1' is '0::1', as ircds
    write it (the same address)."""
    return "0" + label if label.startswith(":") else label
