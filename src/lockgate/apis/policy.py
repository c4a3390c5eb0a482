"""The subscription check: an app may call an API product only with an active subscription.

An AUTHZ policy that reads the in-memory product index (rebuilt on every identity change, so
a revocation reaches every replica within a second; no store query per call). A request that
is not an API call returns at once. A refusal is 403 naming the subscription's state. The
subscription's plan, if it has one, is recorded for the limits policy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from lockgate.errors import PermissionDenied
from lockgate.pipeline.context import RequestContext
from lockgate.pipeline.policy import Phase

from .catalog import ProductIndex
from .lifecycle import STATE_WORDS


class SubscriptionCheck:
    name: ClassVar[str] = "subscription"
    phase: ClassVar[Phase] = Phase.AUTHZ

    def __init__(self, products: Callable[[], ProductIndex]) -> None:
        self._products = products

    async def on_request(self, ctx: RequestContext) -> None:
        api = ctx.api
        if api is None:
            return
        p = ctx.principal
        if p is None:
            raise PermissionDenied(f"subscription: API '{api}' needs an app's credential")
        state = self._products().subscription(p.app_id, api)
        if state is not None and state.status == "active":
            ctx.api_plan = state.plan
            return
        who = f"app '{p.tenant_name}/{p.app_name}'"
        if state is None:
            raise PermissionDenied(
                f"subscription: {who} has no subscription to API '{api}'; request one "
                f"(POST /admin/v1/subscriptions with app_id {p.app_id} and api {api})",
                code="subscription_required",
            )
        words = STATE_WORDS.get(state.status, state.status)
        raise PermissionDenied(
            f"subscription: the subscription of {who} to API '{api}' {words} "
            f"(subscription {state.id}, status {state.status})",
            code=f"subscription_{state.status}",
        )
