"""The ``world`` fixture: an in-process gateway with a tenant, an app and its key."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest
from apis_helpers import World, base_config

from lockgate.pipeline.context import RequestContext


@pytest.fixture
def world(
    inproc: Callable[..., AbstractAsyncContextManager[Any]],
) -> Callable[..., AbstractAsyncContextManager[World]]:
    @asynccontextmanager
    async def start(doc: dict[str, Any] | None = None, **kwargs: Any) -> AsyncIterator[World]:
        async with inproc(doc or base_config(), **kwargs) as gw:
            w = World(gw)
            w.key = await gw.key("acme", "bot", plan="narrow")
            w.app_id = gw.gw.store.list_apps("acme")[0].id

            def record(ctx: RequestContext) -> None:
                total = ctx.usage.total_tokens if ctx.usage is not None else None
                w.records.append((ctx.api, ctx.api_version, total))

            gw.gw.finalizer.recorders.append(record)
            yield w

    return start
