"""App factories for the worker-process tests, imported by spawned workers by name."""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

log = logging.getLogger("lean_worker_app")


def pid_app() -> Any:
    """Answers with the pid of the worker that served the request; ``?slow`` takes a while."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return  # no lifespan
        if scope["query_string"] == b"slow":
            log.warning("request in flight")  # the test signals once it sees this
            await asyncio.sleep(0.5)
        body = str(os.getpid()).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    return app


def broken_app() -> Any:
    raise RuntimeError("this worker cannot start")
