"""HttpChunkStream: priming to the first token, timeouts, errors naming the provider."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from lockgate.errors import UpstreamProtocolError, UpstreamStatusError, UpstreamTimeout
from lockgate.providers.stream import HttpChunkStream, RawEventStream
from lockgate.wire import anthropic, openai
from lockgate.wire.openai_passthrough import OPENAI_PASSTHROUGH
from lockgate.wire.types import StreamEnd, StreamStart, TextDelta


class FakeResponse:
    def __init__(
        self, pieces: list[bytes], *, stall: bool = False, max_event_bytes: int = 0
    ) -> None:
        self.max_event_bytes = max_event_bytes
        self.pieces = pieces
        self.stall = stall
        self.closed = False

    async def iter_body(self) -> AsyncIterator[bytes]:
        for piece in self.pieces:
            yield piece
        if self.stall:
            await asyncio.Event().wait()

    async def aclose(self) -> None:
        self.closed = True


def chunk(content: str | None = None, finish: str | None = None) -> bytes:
    delta = "{}" if content is None else '{"content":"' + content + '"}'
    reason = "null" if finish is None else f'"{finish}"'
    return (
        b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m",'
        b'"choices":[{"index":0,"delta":'
        + delta.encode()
        + b',"finish_reason":'
        + reason.encode()
        + b"}]}\n\n"
    )


async def test_prime_buffers_to_the_first_token_and_replays_in_order() -> None:
    resp = FakeResponse(
        [chunk(), chunk("Hel"), chunk("lo"), chunk(finish="stop"), b"data: [DONE]\n\n"]
    )
    stream = HttpChunkStream(resp, openai.ChatStreamDecoder(), "up")  # type: ignore[arg-type]
    await stream.prime(1.0)
    out = [c async for c in stream]
    assert isinstance(out[0], StreamStart)
    assert [c.text for c in out if isinstance(c, TextDelta)] == ["Hel", "lo"]
    assert isinstance(out[-1], StreamEnd) and out[-1].stop_reason == "stop"
    assert resp.closed


async def test_error_event_before_the_first_token_fails_prime() -> None:
    resp = FakeResponse(
        [
            b'event: message_start\ndata: {"type":"message_start","message":{"id":"m",'
            b'"type":"message","role":"assistant","model":"x","content":[],"stop_reason":null,'
            b'"stop_sequence":null,"usage":{"input_tokens":3,"output_tokens":0}}}\n\n',
            b'event: error\ndata: {"type":"error",'
            b'"error":{"type":"overloaded_error","message":"busy"}}\n\n',
        ]
    )
    stream = HttpChunkStream(resp, anthropic.ChatStreamDecoder(), "claude")  # type: ignore[arg-type]
    with pytest.raises(UpstreamStatusError) as err:
        await stream.prime(1.0)
    assert err.value.may_retry
    assert "provider 'claude'" in err.value.message and "busy" in err.value.message
    assert resp.closed


async def test_a_stall_before_the_first_token_times_out() -> None:
    resp = FakeResponse([chunk()], stall=True)
    stream = HttpChunkStream(resp, openai.ChatStreamDecoder(), "slow")  # type: ignore[arg-type]
    with pytest.raises(UpstreamTimeout) as err:
        await stream.prime(0.05)
    assert "provider 'slow'" in err.value.message and "first_token" in err.value.message
    assert resp.closed


async def test_failure_after_the_first_token_names_the_provider() -> None:
    resp = FakeResponse([chunk("ok"), b"data: {not json\n\n"])
    stream = HttpChunkStream(resp, openai.ChatStreamDecoder(), "up")  # type: ignore[arg-type]
    await stream.prime(1.0)
    seen = []
    with pytest.raises(UpstreamProtocolError) as err:
        async for c in stream:
            seen.append(c)
    assert any(isinstance(c, TextDelta) for c in seen)
    assert err.value.message.startswith("provider 'up' stream failed")
    assert resp.closed


async def test_an_event_past_max_event_bytes_fails_naming_the_setting() -> None:
    """The data lines of one event are bounded, not only a line still waiting for its end."""
    endless = b"".join(b"data: " + b"x" * 100 + b"\n" for _ in range(50))  # no blank line
    resp = FakeResponse([chunk("Hi"), endless], max_event_bytes=1000)
    stream = HttpChunkStream(resp, openai.ChatStreamDecoder(), "up")  # type: ignore[arg-type]
    await stream.prime(1.0)
    with pytest.raises(UpstreamProtocolError) as err:
        async for _ in stream:
            pass
    assert "exceeds 1000 bytes (server.upstream.max_event_bytes)" in err.value.message
    assert err.value.message.startswith("provider 'up' stream failed")
    assert resp.closed


# --- RawEventStream (same-format passthrough) -------------------------------------------------


def raw_stream(resp: FakeResponse) -> RawEventStream:
    return RawEventStream(resp, openai.ChatStreamDecoder, "up", OPENAI_PASSTHROUGH)  # type: ignore[arg-type]


async def test_raw_stream_relays_whole_events_as_they_arrived() -> None:
    whole = chunk() + chunk("Hel") + chunk("lo") + chunk(finish="stop") + b"data: [DONE]\n\n"
    # Pieces cut mid-event: blocks end at event boundaries, and join to the same bytes.
    pieces = [whole[:30], whole[30:200], whole[200:]]
    resp = FakeResponse(pieces)
    stream = raw_stream(resp)
    await stream.prime(1.0)
    blocks = [b async for b in stream]
    assert b"".join(blocks) == whole and all(b.endswith(b"\n\n") for b in blocks)
    assert resp.closed
    texts = [c.text for c in stream.decoded() if isinstance(c, TextDelta)]
    assert texts == ["Hel", "lo"]  # what a usage-less stream is counted from


async def test_raw_stream_fails_before_the_first_token_so_routing_can_retry() -> None:
    error = b'data: {"error": {"message": "overloaded", "type": "server_error"}}\n\n'
    resp = FakeResponse([chunk(), error])
    with pytest.raises(UpstreamStatusError, match="provider 'up'"):
        await raw_stream(resp).prime(1.0)
    assert resp.closed
    cut = FakeResponse([chunk()])  # ended before any token
    with pytest.raises(UpstreamProtocolError, match="provider 'up'"):
        await raw_stream(cut).prime(1.0)
    stalled = FakeResponse([chunk()], stall=True)
    with pytest.raises(UpstreamTimeout):
        await raw_stream(stalled).prime(0.05)
    assert stalled.closed


async def test_raw_stream_bounds_an_event_without_end() -> None:
    resp = FakeResponse([chunk("x"), b"data: " + b"a" * 400], max_event_bytes=300)
    stream = raw_stream(resp)
    await stream.prime(1.0)
    with pytest.raises(UpstreamProtocolError, match="max_event_bytes"):
        [b async for b in stream]
