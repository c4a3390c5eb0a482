"""`lockgate serve` with no config: the embedded default a new user meets with `make run`."""

from __future__ import annotations

import re
from pathlib import Path

import openai
from harness import Proc, free_port


def _start(tmp: Path, port: int) -> Proc:
    p = Proc(
        ["serve", "--port", str(port)],
        port,
        cwd=tmp,
        log=tmp / f"default-{free_port()}.log",
        env={
            "LOCKGATE_ADMIN_KEY": "",
            "OPENAI_API_KEY": "",
            "ANTHROPIC_API_KEY": "",
            "GEMINI_API_KEY": "",
        },
    )
    p.wait_ready()
    return p


def test_embedded_default_first_call_and_stable_key(tmp_path: Path) -> None:
    port = free_port()
    first = _start(tmp_path, port)
    try:
        out = first.output()
        key = re.search(r"API key: (lg-[A-Za-z0-9_-]{32,})", out)
        assert key, out
        assert "demo-chat" in out and f"http://127.0.0.1:{port}" in out
        c = openai.OpenAI(base_url=first.base + "/v1", api_key=key.group(1), max_retries=0)
        reply = c.chat.completions.create(
            model="demo-chat", messages=[{"role": "user", "content": "Hello!"}]
        )
        assert reply.choices[0].message.content == "Mock reply to: Hello!"
        assert {m.id for m in c.models.list()} == {"demo-chat", "demo-embed"}
        assert c.embeddings.create(model="demo-embed", input="x").data[0].embedding
    finally:
        first.stop()
    assert (tmp_path / ".lockgate" / "lockgate.db").exists()
    assert oct((tmp_path / ".lockgate" / "api-key").stat().st_mode & 0o777) == "0o600"
    second = _start(tmp_path, port)
    try:
        again = re.search(r"API key: (lg-[A-Za-z0-9_-]{32,})", second.output())
        assert again and again.group(1) == key.group(1)
        assert "kept from the first start" in second.output()
    finally:
        second.stop()
