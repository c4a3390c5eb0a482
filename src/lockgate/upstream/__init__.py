"""The only place Lockgate does upstream HTTP: a lean HTTP/1.1 client on asyncio + httptools.

``request`` holds the value types and request encoding, ``connection`` the Protocol that parses
responses, ``response`` the body reader, ``pool`` the per-origin keep-alive pools and ``client``
the entry point. Runs on uvloop or the default asyncio loop.
"""

from lockgate.upstream.client import UpstreamClient
from lockgate.upstream.pool import PoolStats
from lockgate.upstream.request import Timeouts, UpstreamRequest
from lockgate.upstream.response import UpstreamResponse

__all__ = ["PoolStats", "Timeouts", "UpstreamClient", "UpstreamRequest", "UpstreamResponse"]
