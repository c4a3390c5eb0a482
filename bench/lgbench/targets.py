"""The targets under test: nginx direct / proxy, the mock, Lockgate, LiteLLM, Portkey."""

from __future__ import annotations

import json
import secrets
import string
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from .common import (
    BENCH,
    CANNED_COMPLETION,
    CORE_LOAD,
    CORE_PROXY,
    LITELLM_DIR,
    PORTKEY_DIR,
    VENV_BIN,
    chat_body,
)
from .procs import Procs, free_port, wait_http
from .tools import tool


@dataclass
class Target:
    name: str
    port: int
    model: str
    headers: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    is_gateway: bool = True
    error: str | None = None  # set when the target cannot be measured
    path: str = "/v1/chat/completions"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def verify(self) -> None:
        try:
            r = httpx.post(
                self.url,
                content=chat_body(self.model),
                headers={"content-type": "application/json", **self.headers},
                timeout=30,
            )
        except httpx.HTTPError as exc:
            self.error = f"request failed: {exc!r}"
            return
        if r.status_code != 200 or "choices" not in r.text:
            self.error = f"HTTP {r.status_code}: {r.text[:300]}"
        else:
            self.error = None


def render(template: str, **values: object) -> str:
    text = (BENCH / template).read_text()
    return string.Template(text).substitute({k: str(v) for k, v in values.items()})


def start_nginx(procs: Procs, tmp: Path, name: str, core: str, upstream: int | None) -> Target:
    prefix = tmp / name
    prefix.mkdir()
    port = free_port()
    if upstream is None:
        upstream_block = ""
        body = f"            return 200 '{json.dumps(CANNED_COMPLETION, separators=(',', ':'))}';"
    else:
        upstream_block = f"    upstream direct {{ server 127.0.0.1:{upstream}; keepalive 64; }}\n"
        body = (
            "            proxy_pass http://direct;\n"
            "            proxy_http_version 1.1;\n"
            '            proxy_set_header Connection "";'
        )
    conf = prefix / "nginx.conf"
    conf.write_text(
        render(
            "nginx.conf.tmpl",
            prefix=prefix,
            port=port,
            upstream_block=upstream_block,
            location_body=body,
        )
    )
    args = ["taskset", "-c", core, tool("nginx"), "-p", str(prefix), "-e", str(prefix / "e.log")]
    proc = procs.start(name, [*args, "-c", str(conf)])
    wait_http(f"http://127.0.0.1:{port}/", proc, 15)
    return Target(name, port, "m", proc=proc, is_gateway=upstream is not None)


def start_mock(procs: Procs) -> tuple[int, subprocess.Popen[bytes]]:
    port = free_port()
    args = ["taskset", "-c", CORE_LOAD, str(VENV_BIN / "lockgate"), "mock-upstream"]
    proc = procs.start("mock", [*args, "--port", str(port), "--no-record"])
    wait_http(f"http://127.0.0.1:{port}/_mock/stats", proc, 30)
    return port, proc


def start_lockgate(
    procs: Procs, tmp: Path, upstream: int, mock: int, state: str = "memory"
) -> Target:
    admin_key = "lga-bench-" + secrets.token_hex(20)
    conf = tmp / "lockgate.bench.yaml"
    conf.write_text(
        render(
            "lockgate.bench.yaml.tmpl",
            db_path=tmp / "lockgate.db",
            upstream_port=upstream,
            mock_port=mock,
            state=state,
        )
    )
    port = free_port()
    args = ["taskset", "-c", CORE_PROXY, str(VENV_BIN / "lockgate"), "serve", "--config", str(conf)]
    env = {"LOCKGATE_ADMIN_KEY": admin_key, "PYTHONUNBUFFERED": "1"}
    proc = procs.start("lockgate", [*args, "--port", str(port)], env=env, cwd=tmp)
    wait_http(f"http://127.0.0.1:{port}/healthz", proc, 60)
    auth = {"authorization": f"Bearer {admin_key}"}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}/admin/v1", headers=auth) as admin:
        r = admin.post("/tenants", json={"name": "bench"})
        r.raise_for_status()
        r = admin.post("/tenants/bench/apps", json={"name": "bench", "plan": "bench"})
        r.raise_for_status()
        r = admin.post(f"/apps/{r.json()['id']}/keys", json={})
        r.raise_for_status()
        key = str(r.json()["key"])
    return Target("lockgate", port, "bench-chat", {"Authorization": f"Bearer {key}"}, proc=proc)


def start_litellm(procs: Procs, tmp: Path, upstream: int) -> Target:
    master = "sk-bench-" + secrets.token_hex(20)
    conf = tmp / "litellm.yaml"
    conf.write_text(render("litellm.config.tmpl", upstream_port=upstream, master_key=master))
    port = free_port()
    exe = str(LITELLM_DIR / "bin" / "litellm")
    args = ["taskset", "-c", CORE_PROXY, exe, "--config", str(conf), "--port", str(port)]
    env = {
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no network fetch at start-up
        "LITELLM_TELEMETRY": "False",
        "LITELLM_LOG": "ERROR",
        "NO_DOCS": "True",
    }
    proc = procs.start("litellm", [*args, "--num_workers", "1"], env=env, cwd=tmp)
    wait_http(f"http://127.0.0.1:{port}/health/liveliness", proc, 180)
    return Target("litellm", port, "chat-a", {"Authorization": f"Bearer {master}"}, proc=proc)


def start_portkey(procs: Procs, upstream: int) -> Target:
    port = free_port()
    script = PORTKEY_DIR / "node_modules/@portkey-ai/gateway/build/start-server.js"
    # this version reads only "--port=P" (a bare "--port P" is ignored: it listens on 8787)
    args = ["taskset", "-c", CORE_PROXY, tool("node"), str(script), f"--port={port}", "--headless"]
    proc = procs.start("portkey", args, cwd=PORTKEY_DIR)
    wait_http(f"http://127.0.0.1:{port}/", proc, 60)
    headers = {
        "Authorization": "Bearer x",
        "x-portkey-provider": "openai",
        "x-portkey-custom-host": f"http://127.0.0.1:{upstream}/v1",
    }
    return Target("portkey", port, "m", headers, proc=proc)
