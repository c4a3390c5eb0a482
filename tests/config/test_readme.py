"""The README's configuration is the one the code has: its YAML validates, its defaults hold,
and its admin walkthrough works on the embedded default."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import yaml

from lockgate.app import Gateway
from lockgate.config.default import default_config
from lockgate.config.loader import load_config_text, validate_file
from lockgate.config.models import ServerConfig, ServerLimitsConfig, UpstreamPoolConfig

ROOT = Path(__file__).parents[2]
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```yaml\n(.*?)```", README, re.S)
ADMIN = "lga-readme-" + "k" * 32


def test_the_configuration_blocks_of_the_readme_validate(tmp_path: Path) -> None:
    """The full example and the server block; the other blocks are fragments of a config."""
    blocks = [b for b in BLOCKS if b.startswith(("version:", "server:"))]
    assert len(blocks) == 2
    for i, block in enumerate(blocks):
        text = block if block.startswith("version:") else "version: 1\n" + block
        f = tmp_path / f"block{i}.yaml"
        f.write_text(text)
        assert validate_file(f, env={}, require_env=False) == [], block


def test_the_example_file_is_the_readme_example() -> None:
    example = (ROOT / "examples" / "lockgate.yaml").read_text()
    assert BLOCKS[0] in example
    assert validate_file(ROOT / "examples" / "lockgate.yaml", require_env=False, env={}) == []


def test_the_documented_server_defaults_are_the_defaults() -> None:
    (block,) = [b for b in BLOCKS if b.startswith("server:")]
    documented = load_config_text("version: 1\n" + block, env={}).server
    assert documented == ServerConfig()
    keys = yaml.safe_load(block)["server"]
    assert set(keys["limits"]) == set(ServerLimitsConfig.model_fields)
    assert set(keys["upstream"]) == set(UpstreamPoolConfig.model_fields)


@pytest.fixture
async def default_gateway(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    cfg = default_config({"LOCKGATE_ADMIN_KEY": ADMIN}, tmp_path)
    gw = Gateway(cfg)
    await gw.startup()
    try:
        transport = httpx.ASGITransport(app=gw)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as c:
            yield c
    finally:
        await gw.shutdown()


async def test_the_admin_walkthrough_works_on_the_embedded_default(
    default_gateway: httpx.AsyncClient,
) -> None:
    c = default_gateway
    auth = {"authorization": f"Bearer {ADMIN}"}
    r = await c.post("/admin/v1/tenants", json={"name": "acme", "plan": "standard"}, headers=auth)
    assert r.status_code == 201, r.text
    r = await c.post("/admin/v1/tenants/acme/apps", json={"name": "support-bot"}, headers=auth)
    app_id = r.json()["id"]
    key = (await c.post(f"/admin/v1/apps/{app_id}/keys", json={}, headers=auth)).json()["key"]
    r = await c.post(
        "/v1/chat/completions",
        json={"model": "demo-chat", "messages": [{"role": "user", "content": "Hello!"}]},
        headers={"authorization": f"Bearer {key}"},
    )
    assert r.status_code == 200, r.text
