"""The README's API-products walkthrough, run as written against the embedded default (a
gateway started with no config file, as `make run` starts it), only the port changed."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from harness import Proc, free_port

README = Path(__file__).resolve().parents[2] / "README.md"
MARK = "<!-- walkthrough: api-products -->\n```sh\n"


def walkthrough() -> str:
    text = README.read_text()
    start = text.index(MARK) + len(MARK)
    return text[start : text.index("\n```", start)]


def test_the_api_products_walkthrough_runs_as_written(tmp_path: Path) -> None:
    port = free_port()
    gateway = Proc(
        ["serve", "--port", str(port)],
        port,
        cwd=tmp_path,
        log=tmp_path / "gateway.log",
        env={"LOCKGATE_ADMIN_KEY": "", "OPENAI_API_KEY": "", "ANTHROPIC_API_KEY": ""},
    )
    try:
        gateway.wait_ready()
        script = walkthrough()
        assert "BASE=http://127.0.0.1:8080\n" in script
        script = script.replace("BASE=http://127.0.0.1:8080", f"BASE={gateway.base}", 1)
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        out = done.stdout
        assert done.returncode == 0, out + done.stderr + gateway.output()
    finally:
        gateway.stop()
    assert "is pending approval" in out
    assert '"status":"active"' in out and '"decision_reason":"welcome"' in out
    reply = '"output":"Mock reply to: Summarize in 3 sentences: Printer out of toner."'
    assert reply in out and '"usage":{"input_tokens":' in out
    assert '"output":"Mock reply to: Summarize in 3 sentences: {{7*7}}"' in out
    assert '"param":"text"' in out
    assert re.search(r'"api":"summarize","app":"app_\w+","requests":4,', out)
    assert '"api_version":1' in out
    assert re.search(r"(?mi)^deprecation: @\d+\r?$", out)
    assert re.search(r"(?mi)^sunset: Sun, 30 Jun 2030 00:00:00 GMT\r?$", out)
    assert "API 'summarize' v1 is retired" in out
