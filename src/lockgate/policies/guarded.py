"""Which guard and cache policies a config load runs, on which long-lived stores.

None when no policy has ``guards`` and no model has ``cache``: such a gateway builds nothing
here and imports neither the guards' detectors nor the models.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lockgate.pipeline.policy import Policy

if TYPE_CHECKING:
    from lockgate.runtime import Runtime


def guard_and_cache_policies(runtime: Runtime) -> list[Policy]:
    config, services = runtime.config, runtime.services
    cached = any(m.cache is not None for m in config.models.values())
    guarded = any(r.guards for r in config.policies)
    if not cached and not guarded:
        return []
    from lockgate.guards.policy import InputGuards, OutputGuards
    from lockgate.guards.spec import GuardBook

    book = GuardBook(config)
    out: list[Policy] = []
    if book:
        out += [InputGuards(book, services.ml), OutputGuards(book)]
    if cached:
        out.append(_cache_policy(runtime, book))
    return out


def _cache_policy(runtime: Runtime, book: object) -> Policy:
    from lockgate.cache.policy import CachePolicy
    from lockgate.cache.semantic import SemanticIndexes
    from lockgate.cache.store import MemoryStore, RedisStore
    from lockgate.guards.spec import GuardBook
    from lockgate.state import RedisState

    services = runtime.services
    redis = services.state.client if isinstance(services.state, RedisState) else None
    if services.cache is None:
        services.cache = RedisStore(redis) if redis is not None else MemoryStore(services.clock)
    if services.semantic is None:
        services.semantic = SemanticIndexes(redis)
    assert isinstance(book, GuardBook)
    return CachePolicy(
        runtime.config,
        services.cache,
        guards=book,
        semantic=services.semantic,
        hub=services.ml,
        clock=services.clock,
        prefix=services.key_prefix,
    )
