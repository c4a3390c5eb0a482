"""The client's address, and the IP rules that can be decided before the body is read.

``ClientAddress`` (built only with ``server.trusted_proxies``) runs first: the client address
is the socket peer, unless the peer is a trusted proxy; then it is the right-most
``X-Forwarded-For`` hop that is not itself a trusted proxy. Hops left of it were written by
the client and are never believed, so a spoofed header from an untrusted peer changes nothing.
It sets ``ctx.client_ip`` once, for every later policy (IP rules, per-IP limits, records).

``IpAccess`` (built only when a policy has IP lists and no model or route in ``match``)
refuses addresses those rules deny, on every route. The tenant's and the app's own lists are
checked by authentication, as soon as the principal is known.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from lockgate.identity.iprules import Address, Networks, parse_ip
from lockgate.pipeline.context import RequestContext
from lockgate.pipeline.policy import Phase

from .rules import Rule, refuse

Parse = Callable[[str], Address | None]


def forwarded_client(
    peer: str, headers: list[tuple[bytes, bytes]], trusted: Networks, parse: Parse = parse_ip
) -> str:
    """The client address behind trusted proxies (``peer`` itself when it is not one)."""
    address = parse(peer)
    if address is None or address not in trusted:
        return peer
    hops: list[str] = []
    for key, value in headers:
        if key == b"x-forwarded-for":
            hops.extend(h.strip() for h in value.decode("latin-1").split(","))
    client = peer
    for hop in reversed(hops):
        if not hop:
            continue
        hop_address = parse(hop)
        if hop_address is None:
            break  # garbage can only come from the untrusted side: stop at the last good hop
        client = hop.strip("[]")
        if hop_address not in trusted:
            break
    return client


class ClientAddress:
    name: ClassVar[str] = "client-address"
    phase: ClassVar[Phase] = Phase.AUTHN

    def __init__(self, trusted: Networks, addresses: Parse = parse_ip) -> None:
        self._trusted = trusted
        self._addresses = addresses

    async def on_request(self, ctx: RequestContext) -> None:
        peer = ctx.client_ip
        address = self._addresses(peer)
        if address is not None and address in self._trusted:
            ctx.peer_trusted = True
            ctx.client_ip = forwarded_client(peer, ctx.headers, self._trusted, self._addresses)


class IpAccess:
    name: ClassVar[str] = "ip-access"
    phase: ClassVar[Phase] = Phase.AUTHN

    def __init__(self, rules: tuple[Rule, ...], addresses: Parse = parse_ip) -> None:
        self._rules = rules
        self._addresses = addresses

    async def on_request(self, ctx: RequestContext) -> None:
        address = self._addresses(ctx.client_ip)
        for rule in self._rules:
            if rule.ip_rule is not None and rule.applies(ctx, address):
                reason = rule.ip_rule.refusal(address)
                if reason is not None:
                    raise refuse(reason)
