"""Rules, addresses and subjects without a gateway: time windows in the tenant's time zone,
forwarded-for parsing, distinguished names."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from lockgate.conditions import frozen_map
from lockgate.config.models import PolicyRule
from lockgate.errors import PermissionDenied
from lockgate.identity.iprules import networks, parse_ip
from lockgate.identity.principal import Principal
from lockgate.pipeline.context import RequestContext
from lockgate.policies.conditions import AccessRules
from lockgate.policies.ip import forwarded_client
from lockgate.policies.mtls import header_subject, parse_dn
from lockgate.policies.rules import compile_rule

P = Principal(
    key_id="k",
    key_prefix="lg-x",
    app_id="app_1",
    app_name="bot",
    tenant_name="acme",
    plan=None,
    roles=(),
    attributes=frozen_map({"department": "finance"}),
    residency=(),
    tz="America/New_York",
)
BUSINESS_HOURS = (
    'principal.attributes.department == "finance" && request.time.hour >= 9 '
    "&& request.time.hour < 17 && request.time.weekday >= 1 && request.time.weekday <= 5"
)


def ctx_at(when: datetime, principal: Principal = P) -> RequestContext:
    return RequestContext(
        request_id="r",
        route="chat",
        ingress="openai",
        headers=[],
        client_ip="127.0.0.1",
        runtime=None,  # type: ignore[arg-type]
        started=0.0,
        received_at=when.timestamp(),
        principal=principal,
        model="m",
    )


def policy(**rule: Any) -> AccessRules:
    compiled = compile_rule(PolicyRule.model_validate({"name": "business-hours", **rule}))
    assert compiled is not None
    return AccessRules((compiled,))


@pytest.mark.parametrize(
    ("local", "allowed"),
    [
        (datetime(2026, 3, 4, 9, 0), True),  # Wednesday 09:00 in New York
        (datetime(2026, 3, 4, 16, 59), True),
        (datetime(2026, 3, 4, 17, 0), False),
        (datetime(2026, 3, 4, 8, 59), False),
        (datetime(2026, 3, 7, 12, 0), False),  # Saturday
        (datetime(2026, 3, 8, 12, 0), False),  # Sunday (weekday 0)
    ],
)
async def test_time_window_in_the_tenant_time_zone(local: datetime, allowed: bool) -> None:
    rules = policy(allow_if=BUSINESS_HOURS)
    ctx = ctx_at(local.replace(tzinfo=ZoneInfo("America/New_York")))
    if allowed:
        await rules.on_request(ctx)
    else:
        with pytest.raises(PermissionDenied, match="policy 'business-hours'"):
            await rules.on_request(ctx)


async def test_the_same_instant_differs_by_time_zone() -> None:
    rules = policy(allow_if="request.time.hour == 10")
    instant = datetime(2026, 3, 4, 15, 0, tzinfo=ZoneInfo("UTC"))
    await rules.on_request(ctx_at(instant))  # 10:00 in New York
    with pytest.raises(PermissionDenied):
        await rules.on_request(ctx_at(instant, replace(P, tz="UTC")))


async def test_estimated_tokens_are_computed_only_when_read() -> None:
    rules = policy(deny_if="request.tokens > 100")
    ctx = ctx_at(datetime(2026, 1, 1, tzinfo=ZoneInfo("UTC")))
    await rules.on_request(ctx)  # no chat body: 0 tokens
    assert ctx.prompt_estimate is None


TRUSTED = networks(["10.0.0.0/8", "fd00::/8"])


@pytest.mark.parametrize(
    ("peer", "xff", "client"),
    [
        ("198.51.100.1", "1.2.3.4", "198.51.100.1"),  # untrusted peer: header ignored
        ("10.0.0.1", "1.2.3.4", "1.2.3.4"),
        ("10.0.0.1", "6.6.6.6, 1.2.3.4", "1.2.3.4"),  # left hops are the client's to forge
        ("10.0.0.1", "1.2.3.4, 10.0.0.9", "1.2.3.4"),  # a chain of trusted proxies
        ("10.0.0.1", "10.0.0.9, 10.0.0.8", "10.0.0.9"),  # only proxies: the left-most
        ("10.0.0.1", "garbage, 1.2.3.4", "1.2.3.4"),
        ("10.0.0.1", "1.2.3.4, garbage", "10.0.0.1"),  # a bad hop ends the walk
        ("fd00::1", "[2001:db8::5]", "2001:db8::5"),
        ("10.0.0.1", "", "10.0.0.1"),
    ],
)
def test_right_most_untrusted_forwarded_hop(peer: str, xff: str, client: str) -> None:
    headers = [(b"x-forwarded-for", xff.encode())] if xff else []
    assert forwarded_client(peer, headers, TRUSTED) == client


def test_addresses_and_networks() -> None:
    nets = networks(["192.0.2.0/24", "2001:db8::/32", "::ffff:198.51.100.0/120"])
    assert parse_ip("192.0.2.9") in nets and parse_ip("192.0.3.1") not in nets  # type: ignore[operator]
    assert parse_ip("2001:db8:1::1") in nets  # type: ignore[operator]
    assert parse_ip("198.51.100.20") in nets  # type: ignore[operator]  # mapped network
    assert parse_ip("::ffff:192.0.2.1") in nets  # type: ignore[operator]  # mapped address
    assert parse_ip("not-an-ip") is None


def test_distinguished_names() -> None:
    assert parse_dn("CN=bot,O=acme\\, inc.,OU=ml") == {"CN": "bot", "O": "acme, inc.", "OU": "ml"}
    assert parse_dn("CN=a+UID=u1,O=x") == {"CN": "a", "UID": "u1", "O": "x"}
    xfcc = 'Hash=1;Subject="CN=old,O=x",Hash=2;Subject="CN=bot,O=acme";URI=spiffe://c'
    assert header_subject(xfcc) == {"CN": "bot", "O": "acme"}
