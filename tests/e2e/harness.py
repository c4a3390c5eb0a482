"""Real processes for end-to-end tests: ``lockgate mock-upstream`` and ``lockgate serve``."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Proc:
    def __init__(
        self,
        args: list[str],
        port: int,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        log: Path,
    ) -> None:
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.log_path = log
        self._log = open(log, "wb")  # noqa: SIM115 - closed in stop()
        full_env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lockgate", *args],
            env=full_env,
            cwd=cwd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, path: str = "/healthz", timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"process exited {self.proc.returncode}:\n{self.output()}")
            try:
                if httpx.get(self.base + path, timeout=1.0).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"not ready after {timeout}s:\n{self.output()}")

    def output(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


def start_mock(tmp: Path, *extra: str) -> Proc:
    port = free_port()
    p = Proc(["mock-upstream", "--port", str(port), *extra], port, log=tmp / f"mock-{port}.log")
    p.wait_ready("/_mock/stats")
    return p


def gateway_config(mock: str, db: Path, *, extra_models: str = "") -> str:
    return f"""
version: 1
server: {{admin_keys: ["${{env:LOCKGATE_ADMIN_KEY}}"], max_body_bytes: 200000, shutdown_grace: 10s}}
storage: sqlite:///{db}
providers:
  oai:    {{type: openai, base_url: "{mock}/v1", api_key: "${{env:UPSTREAM_KEY}}"}}
  az:     {{type: azure_openai, base_url: "{mock}", api_version: "2024-10-21", api_key: "${{env:UPSTREAM_KEY}}", region: eu}}
  claude: {{type: anthropic, base_url: "{mock}", api_key: "${{env:UPSTREAM_KEY}}"}}
  gem:    {{type: gemini, base_url: "{mock}", api_key: "${{env:UPSTREAM_KEY}}"}}
  demo:   {{type: mock}}
  dead:   {{type: openai, base_url: "http://127.0.0.1:9/v1", api_key: x}}
models:
  m-openai:    {{deployments: [{{provider: oai, model: gpt-x}}], retry: {{attempts: 1, backoff: 1ms}}}}
  m-azure:     {{deployments: [{{provider: az, model: dep-1}}], retry: {{attempts: 1, backoff: 1ms}}}}
  m-anthropic: {{deployments: [{{provider: claude, model: claude-x}}], retry: {{attempts: 1, backoff: 1ms}}}}
  m-gemini:    {{deployments: [{{provider: gem, model: gemini-x}}], retry: {{attempts: 1, backoff: 1ms}}}}
  m-mock:      {{deployments: [{{provider: demo, model: demo}}]}}
  m-deadfirst: {{deployments: [{{provider: dead, model: gpt-x}}], retry: {{attempts: 0}}, fallbacks: [m-anthropic]}}
  e-openai:    {{kind: embedding, deployments: [{{provider: oai, model: emb-x}}]}}
  e-azure:     {{kind: embedding, deployments: [{{provider: az, model: emb-dep}}]}}
  e-gemini:    {{kind: embedding, deployments: [{{provider: gem, model: emb-g}}]}}
{extra_models}
plans:
  narrow: {{models: [m-mock]}}
"""


ADMIN_KEY = "lga-e2e-admin-key-0123456789abcdefghijklmnop"
UPSTREAM_KEY = "sk-upstream-secret-never-from-client"


def start_gateway(tmp: Path, config_text: str, *serve_args: str) -> tuple[Proc, Path]:
    cfg = tmp / f"gateway-{free_port()}.yaml"
    cfg.write_text(config_text)
    port = free_port()
    env = {"LOCKGATE_ADMIN_KEY": ADMIN_KEY, "UPSTREAM_KEY": UPSTREAM_KEY}
    p = Proc(
        ["serve", "--config", str(cfg), "--port", str(port), *serve_args],
        port,
        env=env,
        cwd=tmp,
        log=tmp / f"gateway-{port}.log",
    )
    p.wait_ready("/healthz")
    return p, cfg


def admin(base: str) -> httpx.Client:
    return httpx.Client(
        base_url=base + "/admin/v1", timeout=10, headers={"authorization": f"Bearer {ADMIN_KEY}"}
    )


def make_key(base: str, tenant: str, app: str, **tenant_fields: object) -> str:
    with admin(base) as c:
        r = c.post("/tenants", json={"name": tenant, **tenant_fields})
        assert r.status_code in (200, 201), r.text
        r = c.post(f"/tenants/{tenant}/apps", json={"name": app})
        assert r.status_code in (200, 201), r.text
        r = c.post(f"/apps/{r.json()['id']}/keys", json={})
        assert r.status_code in (200, 201), r.text
        return str(r.json()["key"])


@dataclass
class Env:
    mock: Proc
    gateway: Proc
    key: str
    tmp: Path

    @property
    def base(self) -> str:
        return self.gateway.base

    def mock_stats(self) -> dict[str, Any]:
        data: dict[str, Any] = httpx.get(self.mock.base + "/_mock/stats").json()
        return data
