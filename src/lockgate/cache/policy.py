"""The cache policy (phase CACHE): answer from the cache, or remember the answer.

Per request to a model with ``cache:`` — after limits (a hit still counts as a request) and
input guards (keys are over the redacted prompt; a blocked prompt never reaches the cache):

- ``Cache-Control: no-store`` bypasses the cache; ``no-cache`` skips the lookup but stores
  the fresh answer. ``x-lockgate-cache: hit | miss | bypass`` goes on every answer.
- A hit is a ``Reply`` (the handler encodes it in the caller's format, as a stream when the
  caller streams) recorded with zero usage and cost, and the tokens it saved.
- A miss keeps the key as its state; the final answer (after the output guards, which run
  first on the way back) is collected from ``on_response`` or the chunks, and stored once
  the response went out complete (``on_complete``, off the response path).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from lockgate.cache import codec, keys
from lockgate.cache.collect import Collector
from lockgate.cache.semantic import SemanticIndexes
from lockgate.cache.store import ResponseStore
from lockgate.cache.vectors import Entry
from lockgate.config.models import CacheConfig, Config
from lockgate.guards.spec import GuardBook
from lockgate.ml.embedder import MAX_TOKENS, Vectors
from lockgate.ml.hub import ModelHub
from lockgate.pipeline.context import RequestContext
from lockgate.pipeline.policy import Phase, Reply
from lockgate.policies.values import operation
from lockgate.wire.types import ChatRequest, ChatResponse, Chunk, EmbeddingResponse, TextPart, Usage

HEADER = b"x-lockgate-cache"
HIT = [(HEADER, b"hit")]
DEFAULT_THRESHOLD = 0.88  # precision 1.0 on bench/data/paraphrases.jsonl (bench/RESULTS.md)
CACHED_ROUTES = frozenset({"chat", "embeddings"})


@dataclass(frozen=True, slots=True)
class ModelCache:
    semantic: bool
    ttl: float
    scope: str
    threshold: float


@dataclass(slots=True)
class Miss:
    key: str
    cache: ModelCache
    collector: Collector | None = None
    response: ChatResponse | EmbeddingResponse | None = None
    vector: Vectors | None = None
    text: str = ""
    context: str = ""
    index: str = ""


def _compile(c: CacheConfig) -> ModelCache:
    threshold = c.threshold if c.threshold is not None else DEFAULT_THRESHOLD
    return ModelCache(c.mode == "semantic", c.ttl, c.scope, threshold)


def _directive(ctx: RequestContext) -> tuple[bool, bool]:
    """(look up?, store?) from the client's Cache-Control."""
    value = ctx.header(b"cache-control")
    if value is None:
        return True, True
    v = value.lower()
    if b"no-store" in v:
        return False, False
    return b"no-cache" not in v, True


class CachePolicy:
    name: ClassVar[str] = "cache"
    phase: ClassVar[Phase] = Phase.CACHE

    def __init__(
        self,
        config: Config,
        store: ResponseStore,
        *,
        guards: GuardBook,
        semantic: SemanticIndexes,
        hub: ModelHub,
        clock: Callable[[], float],
        prefix: str,
    ) -> None:
        self._models = {
            n: _compile(m.cache) for n, m in config.models.items() if m.cache is not None
        }
        self._store = store
        self._guards = guards
        self._semantic = semantic
        self._hub = hub
        self._clock = clock
        self._prefix = prefix + "c:"

    @property
    def uses_embedder(self) -> bool:
        return any(c.semantic for c in self._models.values())

    async def warm(self) -> None:
        if self.uses_embedder:
            await self._hub.embedder()

    async def on_request(self, ctx: RequestContext) -> Reply | Miss | None:
        route, p = ctx.model_route, ctx.principal
        if route is None or p is None or ctx.route not in CACHED_ROUTES:
            return None
        cache = self._models.get(route.name)
        if cache is None:
            return None
        lookup, store = _directive(ctx)
        found = self._guards.for_request(p.tenant_name, p.app_name, route.name, operation(ctx))
        fingerprint = found.fingerprint if found is not None else b""
        scope = keys.scope_id(cache.scope, p)
        if ctx.chat is not None:
            digest = keys.chat_key(ctx.chat, fingerprint)
        elif ctx.embedding is not None:
            digest = keys.embedding_key(ctx.embedding, fingerprint)
        else:
            return None
        miss = Miss(f"{self._prefix}{scope}:{route.name}:{digest}", cache)
        data = await self._store.get(miss.key) if lookup else None
        if data is None and cache.semantic and ctx.chat is not None:
            await self._prepare_semantic(ctx, miss, scope, route.name, fingerprint)
            if lookup and miss.vector is not None:
                near = await self._semantic.search(
                    miss.index, miss.vector, miss.text, miss.context, cache.threshold, self._clock()
                )
                if near is not None:
                    data = await self._store.get(near[1].key)
        if data is not None:
            reply = self._hit(ctx, data)
            if reply is not None:
                return reply
        ctx.cache = "miss" if lookup else "bypass"
        ctx.response_headers.append((HEADER, ctx.cache.encode()))
        return miss if store else None

    def _hit(self, ctx: RequestContext, data: bytes) -> Reply | None:
        resp = codec.decode(data)
        if resp is None:
            return None
        ctx.cache = "hit"
        ctx.cache_saved_tokens = resp.usage.total_tokens if resp.usage is not None else 0
        ctx.usage = Usage()
        ctx.cost = 0.0
        if isinstance(resp, EmbeddingResponse):
            return Reply(embedding=resp, headers=list(HIT))
        return Reply(chat=resp, headers=list(HIT))

    async def _prepare_semantic(
        self, ctx: RequestContext, miss: Miss, scope: str, model: str, fingerprint: bytes
    ) -> None:
        req = ctx.chat
        assert req is not None
        text = _last_user_text(req)
        if text is None:
            return
        embedder = await self._hub.embedder()

        def embed() -> Vectors | None:
            ids = embedder.token_ids(text)
            if len(ids) > MAX_TOKENS - 2:
                return None  # too long to embed whole: exact matching only
            vector: Vectors = embedder.embed_ids([ids])[0]
            return vector

        miss.vector = await self._hub.run(embed)
        if miss.vector is None:
            return
        miss.text = text
        miss.context = keys.context_key(req, fingerprint)
        miss.index = f"{self._prefix}{scope}:{model}:semantic"

    # --- on the way back ----------------------------------------------------------------------

    async def on_response(
        self, ctx: RequestContext, state: Miss, resp: ChatResponse | EmbeddingResponse
    ) -> ChatResponse | EmbeddingResponse:
        state.response = resp
        return resp

    def on_chunk(self, ctx: RequestContext, state: Miss, chunk: Chunk) -> list[Chunk]:
        if state.collector is None:
            state.collector = Collector()
        state.collector.add(chunk)
        return [chunk]

    async def on_complete(self, ctx: RequestContext, state: Miss) -> None:
        if ctx.error is not None or ctx.status != 200 or ctx.client_disconnected:
            return
        resp = state.response
        if resp is None and state.collector is not None and state.collector.done:
            resp = state.collector.response()
        if resp is None:
            return
        if isinstance(resp, EmbeddingResponse):
            data: bytes | None = codec.encode_embedding(resp)
        else:
            if resp.usage is None and ctx.usage is not None:
                resp.usage = ctx.usage
            data = codec.encode_chat(resp)
        if data is None:
            return
        await self._store.set(state.key, data, state.cache.ttl)
        if state.vector is not None:
            now = self._clock()
            entry = Entry(state.context, state.key, now + state.cache.ttl, state.text)
            await self._semantic.add(state.index, state.vector, entry, now)


def _last_user_text(req: ChatRequest) -> str | None:
    """The last turn's text when it is a plain user message (no images, no tool results)."""
    if not req.messages:
        return None
    last = req.messages[-1]
    if (
        last.role != "user"
        or not last.content
        or not all(isinstance(p, TextPart) for p in last.content)
    ):
        return None
    text = last.text().strip()
    return text or None
