"""Model access: a principal may call only the models its plan (and roles) allow.

A model the caller may not use answers exactly like a model that does not exist (404), so
keys cannot probe which models are configured.
"""

from __future__ import annotations

from typing import ClassVar

from lockgate.errors import ModelNotFound
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

    async def on_complete(self, ctx: RequestContext) -> None:
        return None
