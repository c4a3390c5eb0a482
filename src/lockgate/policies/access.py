"""Model access: a principal may call only the models its plan (and roles) allow.

A model the caller may not use answers exactly like a model that does not exist (404), so
keys cannot probe which models are configured. An allowed model called on the wrong route (a
chat model on /v1/embeddings) is a 400. The model's route is resolved here, once, for every
later policy and the handler.
"""

from __future__ import annotations

from typing import ClassVar

from lockgate.errors import InvalidRequest, ModelNotFound
from lockgate.pipeline.context import RequestContext
from lockgate.pipeline.policy import Phase


class ModelAccess:
    name: ClassVar[str] = "model-access"
    phase: ClassVar[Phase] = Phase.AUTHZ

    async def on_request(self, ctx: RequestContext) -> None:
        model = ctx.model
        if model is None:
            return
        if model not in ctx.runtime.allowed_for(ctx.principal):
            raise ModelNotFound(
                f"model '{model}' does not exist or this key's plan does not include it",
                param="model",
            )
        route = ctx.runtime.models[model]
        wanted = "embedding" if ctx.route == "embeddings" else "chat"
        if route.kind != wanted:
            where = "/v1/embeddings" if route.kind == "embedding" else "a chat route"
            raise InvalidRequest(
                f"model '{model}' is an {route.kind} model; call it through {where}",
                param="model",
            )
        ctx.model_route = route
