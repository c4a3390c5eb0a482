"""What a condition can read, and how each field is computed from a request.

``principal``: ``tenant``, ``app``, ``app_id``, ``user``, ``roles`` (list), ``attributes``
(map: the tenant's overlaid by the app's), ``plan``, ``auth`` (``key``, ``jwt`` or ``mtls``).

``request``: ``model``, ``route`` (the operation: ``chat``, ``messages``, ``embeddings``,
``count_tokens``, ``models``), ``ip`` (the client address), ``headers`` (map, lower-case
names), ``time`` (map in the tenant's time zone, attribute ``tz``, else UTC: ``hour``,
``minute``, ``weekday`` with 0 = Sunday as CEL's ``getDayOfWeek``, ``day``, ``month``,
``year``), ``tokens`` (the estimated prompt tokens).

Only the fields an expression reads are computed, each once per request.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from lockgate.conditions import frozen_map
from lockgate.usage.tokens import estimate_request, estimate_text

if TYPE_CHECKING:
    from lockgate.pipeline.context import RequestContext

Getter = Callable[["RequestContext"], Any]


def operation(ctx: RequestContext) -> str:
    """The route as an operation name: an Anthropic chat is ``messages``."""
    if ctx.route == "chat" and ctx.ingress == "anthropic":
        return "messages"
    return ctx.route


def _principal(name: str, read: Callable[[Any], Any]) -> Getter:
    def get(ctx: RequestContext) -> Any:
        return None if ctx.principal is None else read(ctx.principal)

    get.__name__ = f"principal_{name}"
    return get


def _headers(ctx: RequestContext) -> Any:
    out: dict[str, str] = {}
    for key, value in ctx.headers:
        name = key.decode("latin-1").lower()
        text = value.decode("latin-1")
        out[name] = f"{out[name]}, {text}" if name in out else text
    out.pop("authorization", None)  # never hand a credential to an expression
    out.pop("x-api-key", None)
    return frozen_map(out)


def local_time(ts: float, tz: str) -> Any:
    t = datetime.fromtimestamp(ts, zoneinfo.ZoneInfo(tz))
    return frozen_map(
        {
            "hour": t.hour,
            "minute": t.minute,
            "weekday": t.isoweekday() % 7,
            "day": t.day,
            "month": t.month,
            "year": t.year,
        }
    )


def time_getter() -> Getter:
    """``request.time``, computed once per time zone and minute (the map is the same object
    for every request of that minute, so conditions memoise on it)."""
    last: list[Any] = [None, None]  # (tz, minute), map

    def get(ctx: RequestContext) -> Any:
        tz = ctx.principal.tz if ctx.principal is not None else "UTC"
        key = (tz, int(ctx.received_at // 60))
        if last[0] != key:
            last[1] = local_time(key[1] * 60.0, tz)
            last[0] = key
        return last[1]

    return get


def prompt_tokens(ctx: RequestContext) -> int:
    if ctx.prompt_estimate is None:
        if ctx.chat is not None:
            ctx.prompt_estimate = estimate_request(ctx.chat)
        elif ctx.embedding is not None:
            ctx.prompt_estimate = sum(estimate_text(t) for t in ctx.embedding.inputs)
        else:
            return 0
    return ctx.prompt_estimate


PRINCIPAL: dict[str, Getter] = {
    "tenant": _principal("tenant", lambda p: p.tenant_name),
    "app": _principal("app", lambda p: p.app_name),
    "app_id": _principal("app_id", lambda p: p.app_id),
    "user": _principal("user", lambda p: p.user),
    "roles": _principal("roles", lambda p: p.roles),
    "attributes": _principal("attributes", lambda p: p.attributes),
    "plan": _principal("plan", lambda p: p.plan),
    "auth": _principal("auth", lambda p: p.auth),
}
REQUEST: dict[str, Getter] = {
    "model": lambda ctx: ctx.model,
    "route": operation,
    "ip": lambda ctx: ctx.client_ip,
    "headers": _headers,
    "tokens": prompt_tokens,
}


FACTORIES: dict[str, Callable[[], Getter]] = {"time": time_getter}


def getter(root: str, field: str) -> Getter:
    if root == "request" and field in FACTORIES:
        return FACTORIES[field]()
    return (PRINCIPAL if root == "principal" else REQUEST)[field]


FIELDS = {"principal": frozenset(PRINCIPAL), "request": frozenset(REQUEST) | frozenset(FACTORIES)}
