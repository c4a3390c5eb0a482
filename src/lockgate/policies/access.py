"""Model access: a principal may call only the models its plan (and roles) allow, and only
the operations its roles allow.

A model the caller may not use answers exactly like a model that does not exist (404), so
keys cannot probe which models are configured. An allowed model called on the wrong route (a
chat model on /v1/embeddings) is a 400; a model without a ``kind`` serves the route it is
called on and the upstream decides. The model's route is resolved here, once, for every later
policy and the handler.

A role's ``operations`` (chat, messages, embeddings, count_tokens) limit what its holders may
do; a principal whose roles name operations may use the union of them (roles without the key
allow every operation). A refused operation is a 403 naming the roles.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from lockgate.config.models import Role
from lockgate.errors import InvalidRequest, ModelNotFound, PermissionDenied
from lockgate.pipeline.context import RequestContext
from lockgate.pipeline.policy import Phase

from .values import operation


class ModelAccess:
    name: ClassVar[str] = "model-access"
    phase: ClassVar[Phase] = Phase.AUTHZ

    def __init__(self, roles: Mapping[str, Role] | None = None) -> None:
        self._ops = {
            name: frozenset(r.operations)
            for name, r in (roles or {}).items()
            if r.operations is not None
        }
        self._known = frozenset(roles or ())
        self._allowed: dict[tuple[str, ...], frozenset[str] | None] = {}

    def operations(self, roles: tuple[str, ...]) -> frozenset[str] | None:
        """Operations these roles allow; None: every one."""
        if roles not in self._allowed:
            limited = [self._ops[r] for r in roles if r in self._ops]
            unlimited = any(r in self._known and r not in self._ops for r in roles)
            self._allowed[roles] = None if unlimited or not limited else frozenset().union(*limited)
        return self._allowed[roles]

    async def on_request(self, ctx: RequestContext) -> None:
        model = ctx.model
        if model is None:
            return
        # An API product's call is authorised by its subscription, not the plan's models.
        if ctx.api is None and model not in ctx.runtime.allowed_for(ctx.principal):
            raise ModelNotFound(
                f"model '{model}' does not exist or this key's plan does not include it",
                param="model",
            )
        if self._ops and ctx.principal is not None and ctx.principal.roles:
            allowed = self.operations(ctx.principal.roles)
            op = operation(ctx)
            if allowed is not None and op not in allowed:
                raise PermissionDenied(
                    f"access denied: the roles {', '.join(ctx.principal.roles)} do not allow "
                    f"'{op}' (roles.*.operations)",
                    code="operation_not_allowed",
                )
        route = ctx.runtime.models[model]
        wanted = "embedding" if ctx.route == "embeddings" else "chat"
        if route.kind is not None and route.kind != wanted:
            where = "/v1/embeddings" if route.kind == "embedding" else "a chat route"
            raise InvalidRequest(
                f"model '{model}' is an {route.kind} model; call it through {where}",
                param="model",
            )
        ctx.model_route = route
