"""What every admin route needs, reached through FastAPI dependencies.

The context hangs off ``app.state`` of the app ``create_admin_app`` builds (no module state);
``Ctx`` and ``Caller`` are the annotated dependency types the routes declare.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Annotated, ParamSpec, TypeVar

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from lockgate.errors import AuthenticationFailed, InvalidRequest
from lockgate.identity.principal import AdminPrincipal, scope_admin
from lockgate.store.repo import Store

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class AdminContext:
    store: Store
    admin_auth: Callable[[str], AdminPrincipal | None]
    on_identity_change: Callable[[], Awaitable[None]]
    plan_names: Callable[[], Collection[str]] | None
    rotation_grace: Callable[[], float] = lambda: 3600.0  # auth.api_keys.rotation_grace

    async def call(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        return await asyncio.to_thread(fn, *args, **kwargs)

    async def mutate(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        result = await asyncio.to_thread(fn, *args, **kwargs)
        await self.on_identity_change()
        return result

    def check_plan(self, plan: str | None) -> None:
        if plan is None or self.plan_names is None:
            return
        known = self.plan_names()
        if plan not in known:
            names = ", ".join(sorted(known)) or "none configured"
            raise InvalidRequest(
                f"plan: unknown plan {plan!r} (known plans: {names})",
                code="invalid_request",
                param="plan",
            )


def get_context(request: Request) -> AdminContext:
    ctx = request.app.state.lockgate_admin
    assert isinstance(ctx, AdminContext)
    return ctx


Ctx = Annotated[AdminContext, Depends(get_context)]


# Declares the scheme in the OpenAPI document (so API explorers offer to send the key);
# with auto_error off a missing or non-Bearer header comes through as None, answered below.
ADMIN_KEY = HTTPBearer(
    auto_error=False,
    scheme_name="adminKey",
    description="An admin key (the bootstrap key or one made with POST /admin-keys).",
)


def authenticate(
    request: Request,
    ctx: Ctx,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(ADMIN_KEY)],
) -> AdminPrincipal:
    internal = scope_admin(request.scope)
    if internal is not None:
        return internal  # the web console, in-process, for its signed-in key
    token = credentials.credentials.strip() if credentials is not None else ""
    principal = ctx.admin_auth(token) if token else None
    if principal is None:
        raise AuthenticationFailed(
            "admin API: missing or unknown admin key (send Authorization: Bearer <admin key>)",
            headers={"www-authenticate": "Bearer"},
        )
    return principal


Caller = Annotated[AdminPrincipal, Depends(authenticate)]
