"""`lockgate serve --workers N`: several processes behind one port, sharing the store."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import openai
from click.testing import CliRunner
from harness import ADMIN_KEY, UPSTREAM_KEY, Proc, free_port, make_key

from lockgate.cli import main


def test_workers_need_shared_state(tmp_path: Path) -> None:
    cfg = tmp_path / "mem.yaml"
    cfg.write_text("version: 1\nstate: memory\nproviders: {demo: {type: mock}}\n")
    result = CliRunner().invoke(main, ["serve", "--config", str(cfg), "--workers", "2"])
    assert result.exit_code != 0
    assert "needs shared state" in result.output


def test_two_workers_serve_and_see_the_same_keys(tmp_path: Path, redis_url: str) -> None:
    cfg = tmp_path / "workers.yaml"
    cfg.write_text(
        "version: 1\n"
        'server: {admin_keys: ["${env:LOCKGATE_ADMIN_KEY}"]}\n'
        f"storage: sqlite:///{tmp_path / 'w.db'}\n"
        f"state: {redis_url}\n"
        "providers: {demo: {type: mock}}\n"
        "models: {m: {deployments: [{provider: demo, model: x}]}}\n"
    )
    port = free_port()
    env = {"LOCKGATE_ADMIN_KEY": ADMIN_KEY, "UPSTREAM_KEY": UPSTREAM_KEY}
    p = Proc(
        ["serve", "--config", str(cfg), "--port", str(port), "--workers", "2"],
        port,
        env=env,
        cwd=tmp_path,
        log=tmp_path / "workers.log",
    )
    try:
        p.wait_ready("/readyz")
        key = make_key(p.base, "t", "a")
        c = openai.OpenAI(base_url=p.base + "/v1", api_key=key, max_retries=0)
        # Other workers learn of the key on their next identity poll (0.5 s): wait for that,
        # then every new connection, whichever worker takes it, must accept the key.
        deadline = time.monotonic() + 5
        ok = 0
        while ok < 10 and time.monotonic() < deadline:
            ok = (
                ok + 1
                if httpx.get(
                    p.base + "/v1/models", headers={"authorization": f"Bearer {key}"}
                ).is_success
                else 0
            )
        assert ok == 10
        for _ in range(20):
            with httpx.Client() as fresh:
                r = fresh.post(
                    p.base + "/v1/chat/completions",
                    headers={"authorization": f"Bearer {key}"},
                    json={"model": "m", "messages": [{"role": "user", "content": "x"}]},
                )
                assert r.status_code == 200, r.text
        assert c.models.list().data[0].id == "m"
        assert httpx.get(p.base + "/readyz").json()["checks"]["state"] == "ok"
    finally:
        p.stop()
    out = p.output()
    assert out.count("Started server process") >= 2, out


def test_uvicorn_fallback_server_serves_the_same_app(tmp_path: Path) -> None:
    cfg = tmp_path / "uv.yaml"
    cfg.write_text(
        "version: 1\n"
        'server: {admin_keys: ["${env:LOCKGATE_ADMIN_KEY}"]}\n'
        f"storage: sqlite:///{tmp_path / 'uv.db'}\n"
        "providers: {demo: {type: mock}}\n"
        "models: {m: {deployments: [{provider: demo, model: x}]}}\n"
    )
    port = free_port()
    p = Proc(
        ["serve", "--config", str(cfg), "--port", str(port), "--server", "uvicorn"],
        port,
        env={"LOCKGATE_ADMIN_KEY": ADMIN_KEY},
        cwd=tmp_path,
        log=tmp_path / "uv.log",
    )
    try:
        p.wait_ready()
        c = openai.OpenAI(
            base_url=p.base + "/v1", api_key=make_key(p.base, "t", "a"), max_retries=0
        )
        chunks = list(
            c.chat.completions.create(
                model="m", stream=True, messages=[{"role": "user", "content": "via uvicorn"}]
            )
        )
        assert "".join(x.choices[0].delta.content or "" for x in chunks if x.choices) == (
            "Mock reply to: via uvicorn"
        )
    finally:
        p.stop()
    assert "Uvicorn running" in p.output()
