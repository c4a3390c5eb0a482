"""A lean HTTP/1.1 ASGI server for Lockgate's own app (asyncio Protocol + httptools).

It exists because the generic server costs more CPU per request than the gateway itself; see
"The hot path" in ARCHITECTURE.md. It serves ASGI 3 ``http`` and ``lifespan`` only.
"""

from lockgate.serving.context import ServerLimits
from lockgate.serving.server import LeanServer, run

__all__ = ["LeanServer", "ServerLimits", "run"]
