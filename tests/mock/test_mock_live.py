"""The real server over real sockets, driven by the official OpenAI and Anthropic SDKs."""

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import anthropic
import httpx
import openai
import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _start(behaviour: str) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    code = (
        "from lockgate.mock.engine import MockBehaviour\n"
        "from lockgate.mock.server import run_mock_upstream\n"
        f"run_mock_upstream('127.0.0.1', {port}, MockBehaviour({behaviour}))\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("the mock upstream did not start") from None
            time.sleep(0.02)
    return proc, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    proc, url = _start("")
    yield url
    proc.terminate()
    proc.wait(timeout=5)


@pytest.fixture(scope="module")
def slow_server() -> Iterator[str]:
    proc, url = _start("tokens_per_s=10")
    yield url
    proc.terminate()
    proc.wait(timeout=5)


def test_openai_sdk(server: str) -> None:
    client = openai.OpenAI(base_url=server + "/v1", api_key="x", max_retries=0)
    messages: list[openai.types.chat.ChatCompletionMessageParam] = [
        {"role": "user", "content": "hello there"}
    ]
    c = client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    assert c.choices[0].message.content == "Mock reply to: hello there"
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=messages,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices) == (
        "Mock reply to: hello there"
    )
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 5
    tools: list[openai.types.chat.ChatCompletionToolParam] = [
        {"type": "function", "function": {"name": "search", "parameters": {"type": "object"}}}
    ]
    c = client.chat.completions.create(model="m", messages=messages, tools=tools)
    assert c.choices[0].message.tool_calls is not None
    # The SDK asks for base64 by default and decodes it itself.
    e = client.embeddings.create(model="text-embedding-3-small", input="hi", dimensions=4)
    assert len(e.data[0].embedding) == 4
    assert "demo-chat" in {m.id for m in client.models.list()}
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "[[mock:status=429]]"}]
        )
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "[[mock:status=503]]"}]
        )


def test_anthropic_sdk(server: str) -> None:
    client = anthropic.Anthropic(base_url=server, api_key="x", max_retries=0)
    m = client.messages.create(
        model="mock-claude",
        max_tokens=50,
        messages=[{"role": "user", "content": "hello there"}],
    )
    assert m.content[0].type == "text" and m.content[0].text == "Mock reply to: hello there"
    with client.messages.stream(
        model="mock-claude",
        max_tokens=50,
        messages=[{"role": "user", "content": "hello there"}],
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Mock reply to: hello there" and final.usage.output_tokens == 5
    with client.messages.stream(
        model="c",
        max_tokens=50,
        tools=[{"name": "search", "input_schema": {"type": "object"}}],
        messages=[{"role": "user", "content": "find it"}],
    ) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    assert final.content[0].type == "tool_use" and final.content[0].input == {"query": "find it"}
    count = client.messages.count_tokens(
        model="c", messages=[{"role": "user", "content": "hello there"}]
    )
    assert count.input_tokens == 3
    with pytest.raises(anthropic.RateLimitError):
        client.messages.create(
            model="c", max_tokens=5, messages=[{"role": "user", "content": "[[mock:status=429]]"}]
        )


def test_hang_times_out_the_client(server: str) -> None:
    client = openai.OpenAI(base_url=server + "/v1", api_key="x", max_retries=0, timeout=0.3)
    with pytest.raises(openai.APITimeoutError):
        client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "[[mock:hang]]"}]
        )


def test_disconnect_mid_stream_is_counted(slow_server: str) -> None:
    with httpx.Client(base_url=slow_server) as client:
        client.post("/_mock/reset")
        body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "a b c"}]}
        with client.stream(
            "POST", "/v1/chat/completions", json=body, headers={"authorization": "Bearer x"}
        ) as r:
            chunks = r.iter_bytes()  # keep a reference: a collected iterator closes the response
            first = next(chunks)
            assert b"chat.completion.chunk" in first
            assert client.get("/_mock/stats").json()["open_streams"] == 1
        # leaving the block closes the unfinished response's connection
        deadline = time.monotonic() + 5
        stats = client.get("/_mock/stats").json()
        while stats["streams_cancelled"] != 1 and time.monotonic() < deadline:
            time.sleep(0.01)
            stats = client.get("/_mock/stats").json()
        assert stats["streams_cancelled"] == 1, json.dumps(stats)
        assert stats["streams_completed"] == 0 and stats["open_streams"] == 0
