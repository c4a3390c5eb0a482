"""The policy contract: what a policy may do to a request, its response and its stream.

Every policy has a ``name`` (it appears in rejection messages and records), a ``phase`` and an
``on_request`` hook. ``on_request`` runs once per client request, in phase order, and

- raises a ``GatewayError`` to reject (the pipeline records the policy as ``decided_by``);
- returns a :class:`Reply` to answer without calling a provider (a cache hit);
- returns ``None``: admitted, and nothing more to do for this request;
- returns anything else: admitted, and that value is the policy's *state* for this request
  (a reservation, a redaction buffer). Only policies that kept a state take part in the rest
  of the request, and each gets its own state back.

The optional hooks below are found once when the pipeline is built, so a policy without them,
or a request whose policies kept no state, costs nothing per response or chunk:

- ``async on_response(ctx, state, response) -> response`` for a complete chat or embedding
  response, in reverse phase order (guards first, then the cache that stores the result);
- ``on_chunk(ctx, state, chunk) -> list[Chunk]`` for each streamed chunk, in reverse phase
  order; an empty list holds the chunk back (a redactor waiting for the next bytes), several
  chunks release what was held. Synchronous: per-chunk work is CPU work;
- ``on_complete(ctx, state)`` after the response was sent (also when the client went away or a
  later policy rejected the request), once, in reverse order. It may be a plain function
  (run at once, never interrupted) or a coroutine function (run as a tracked task the gateway
  drains at shutdown); either way the response is not delayed.

Retries, fallbacks and breakers are per attempt and live in ``lockgate.routing``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import ClassVar, Protocol

from lockgate.pipeline.context import RequestContext
from lockgate.wire.types import ChatResponse, EmbeddingResponse


class Phase(IntEnum):
    AUTHN = 10
    AUTHZ = 20
    ADMIT = 30  # limits, quotas, budgets
    GUARD_INPUT = 35  # input guards: before the cache, so keys are over the redacted prompt
    CACHE = 40
    GUARD = 50  # output guards: their response hooks run before the cache stores


@dataclass(slots=True)
class Reply:
    """An answer a policy gives instead of a provider; the handler encodes it in the caller's
    format (and replays a chat response as a stream when the caller streams)."""

    chat: ChatResponse | None = None
    embedding: EmbeddingResponse | None = None
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)


class Policy(Protocol):
    name: ClassVar[str]
    phase: ClassVar[Phase]

    async def on_request(self, ctx: RequestContext) -> object | None: ...
