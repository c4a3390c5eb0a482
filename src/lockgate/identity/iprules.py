"""IP allow and deny lists, parsed once: networks as integer (address, mask) pairs.

A check is a few integer operations per network; the client address is parsed once per
request (``parse_ip``). IPv4-mapped IPv6 addresses (``::ffff:192.0.2.1``) count as IPv4, so a
dual-stack listener cannot be used to step around an IPv4 rule.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

Address = tuple[int, int]  # (version, integer value)


def parse_ip(text: str) -> Address | None:
    """The address of a client, or None when it is not an IP (a Unix socket, a test client)."""
    try:
        addr = ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return addr.version, int(addr)


class AddressCache:
    """``parse_ip`` remembered per address text (bounded): parsing costs ~10 µs in the
    ``ipaddress`` module, a dict hit ~50 ns, and clients repeat."""

    __slots__ = ("_known",)
    SIZE = 65536

    def __init__(self) -> None:
        self._known: dict[str, Address | None] = {}

    def __call__(self, text: str) -> Address | None:
        try:
            return self._known[text]
        except KeyError:
            pass
        if len(self._known) >= self.SIZE:
            self._known.clear()
        found = self._known[text] = parse_ip(text)
        return found


@dataclass(frozen=True, slots=True)
class Networks:
    v4: tuple[tuple[int, int], ...]  # (network, mask)
    v6: tuple[tuple[int, int], ...]
    text: tuple[str, ...]

    def __contains__(self, address: Address) -> bool:
        version, value = address
        return any(value & mask == net for net, mask in (self.v4 if version == 4 else self.v6))

    def __bool__(self) -> bool:
        return bool(self.text)


def networks(items: Iterable[str]) -> Networks:
    """Parse CIDRs (or single addresses); entries are validated where they are written."""
    v4: list[tuple[int, int]] = []
    v6: list[tuple[int, int]] = []
    text: list[str] = []
    for item in items:
        net = ipaddress.ip_network(item, strict=False)
        if isinstance(net, ipaddress.IPv6Network) and net.network_address.ipv4_mapped:
            net = ipaddress.ip_network(f"{net.network_address.ipv4_mapped}/{net.prefixlen - 96}")
        (v4 if net.version == 4 else v6).append((int(net.network_address), int(net.netmask)))
        text.append(str(net))
    return Networks(tuple(v4), tuple(v6), tuple(text))


@dataclass(frozen=True, slots=True)
class IpRule:
    """One owner's lists (the tenant's, an app's, a policy's): deny wins, then allow."""

    owner: str  # for the message: "tenant 'acme'", "policy 'office-only'"
    allow: Networks | None
    deny: Networks | None

    def refusal(self, address: Address | None) -> str | None:
        """Why this address is refused, or None when it may pass."""
        if address is None:
            return None if self.allow is None else f"{self.owner} allows listed networks only"
        if self.deny is not None and address in self.deny:
            return f"{self.owner} denies this client address"
        if self.allow is not None and address not in self.allow:
            return f"{self.owner} allows only {', '.join(self.allow.text[:4])}" + (
                ", ..." if len(self.allow.text) > 4 else ""
            )
        return None


def ip_rule(owner: str, allow: Iterable[str], deny: Iterable[str]) -> IpRule | None:
    allowed, denied = networks(allow), networks(deny)
    if not allowed and not denied:
        return None
    return IpRule(owner, allowed or None, denied or None)
