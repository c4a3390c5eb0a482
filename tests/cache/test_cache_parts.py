"""The cache's parts: the LRU bounded by bytes, keys, the codec, the stream collector and the
lexical veto."""

from __future__ import annotations

from dataclasses import replace

from lockgate.cache import codec, keys
from lockgate.cache.collect import Collector
from lockgate.cache.lexical import content_words, swapped
from lockgate.cache.store import MemoryStore
from lockgate.identity.principal import Principal
from lockgate.wire.replay import response_chunks
from lockgate.wire.types import (
    ChatRequest,
    ChatResponse,
    Message,
    TextPart,
    ToolCall,
    Usage,
)


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_the_memory_store_is_an_lru_bounded_by_bytes() -> None:
    clock = Clock()
    store = MemoryStore(clock, max_bytes=300)
    for i in range(5):
        await store.set(f"k{i}", b"x" * 90, ttl=10)
    assert len(store) == 3 and store.bytes <= 300
    assert await store.get("k0") is None and await store.get("k4") == b"x" * 90
    await store.get("k2")  # used: k3 is now the least recently used
    await store.set("k5", b"y" * 90, ttl=10)
    assert await store.get("k3") is None and await store.get("k2") is not None
    await store.set("huge", b"z" * 1000, ttl=10)  # bigger than the whole store: not kept
    assert await store.get("huge") is None
    clock.now += 10
    assert await store.get("k5") is None and store.bytes < 300


def test_keys_cover_what_changes_the_answer_and_nothing_else() -> None:
    req = ChatRequest(model="m", messages=[Message("user", [TextPart("hi")])], max_tokens=10)
    base = keys.chat_key(req, b"")
    assert keys.chat_key(replace(req, stream=True, user="u", include_usage=True), b"") == base
    assert keys.chat_key(replace(req, metadata={"trace": "x"}), b"") == base
    for changed in (
        replace(req, temperature=0.2),
        replace(req, max_tokens=11),
        replace(req, system=[TextPart("be brief")]),
        replace(req, messages=[Message("user", [TextPart("hi!")])]),
        replace(req, stop=["\n"]),
    ):
        assert keys.chat_key(changed, b"") != base
    assert keys.chat_key(req, b"other guards") != base


def test_scope_ids_are_hash_tagged_by_tenant() -> None:
    p = Principal("k1", "lg-ab", "a1", "bot", "acme", None, (), {}, ())
    assert keys.scope_id("tenant", p) == "{t:acme}"
    assert keys.scope_id("app", p) == "{t:acme}:a:a1"
    assert keys.scope_id("key", p) == "{t:acme}:k:k1"
    assert keys.scope_id("global", p) == "{cache:global}"


def test_codec_and_collector_round_trip() -> None:
    resp = ChatResponse(
        id="r1",
        model="m",
        content=[TextPart("hello")],
        tool_calls=[ToolCall("c1", "f", '{"a": 1}')],
        stop_reason="tool_calls",
        usage=Usage(3, 4),
        created=7,
    )
    data = codec.encode_chat(resp)
    assert data is not None and codec.decode(data) == resp
    collector = Collector()
    for chunk in response_chunks(resp):
        collector.add(chunk)
    assert collector.done and collector.response() == resp
    assert codec.decode(b"not json") is None


def test_the_lexical_veto() -> None:
    def differ(a: str, b: str) -> bool:
        return swapped(content_words(a), content_words(b))

    assert differ(
        "What time does the store open on Sundays?", "What time does the store close on Sundays?"
    )
    assert differ("How do I enable two-factor login?", "How do I disable two-factor login?")
    assert not differ("How do I reset my password?", "What are the steps to reset my password?")
    assert not differ("How many days are in a leap year?", "A leap year has how many days?")
