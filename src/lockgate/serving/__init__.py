"""A lean HTTP/1.1 ASGI server for Lockgate's own app (asyncio Protocol + httptools).

It exists because the generic server costs more CPU per request than the gateway itself; see
"The hot path" in ARCHITECTURE.md. It serves ASGI 3 ``http`` and ``lifespan`` only.

Modules: ``context`` (limits, shared state), ``connection`` (transport plumbing, flow control,
timeouts), ``protocol`` (HTTP/1.1 parsing, request lifecycle), ``cycle`` (ASGI receive/send),
``wire`` (bytes on the wire), ``lifespan``, ``server`` (``LeanServer``, ``run``) and
``workers`` (several processes on one socket). Every client-controlled cost is bounded by a
``ServerLimits`` field: head size and time, idle time, pipelining depth, body gaps, writes to
a client that stops reading, and unread body discarded after an early answer.
"""

from lockgate.serving.context import ServerLimits
from lockgate.serving.server import LeanServer, run

__all__ = ["LeanServer", "ServerLimits", "run"]
