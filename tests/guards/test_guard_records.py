"""Every guard decision reaches the request log and the audit log, with entity types and
counts and never the matched text."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

ADMIN = "lga-guard-records-admin-key-0123456789abcdef"
SECRET = "AKIAIOSFODNN7EXAMPLE"
CONFIG: dict[str, Any] = {
    "providers": {"demo": {"type": "mock"}},
    "models": {"m": {"deployments": [{"provider": "demo", "model": "x"}]}},
    "policies": [
        {
            "name": "pii-eu",
            "guards": [
                {"type": "pii", "on": ["input", "output"], "action": "redact"},
                {"type": "secrets", "action": "block"},
            ],
        }
    ],
    "observability": {"request_log": "info"},
}
H = {"authorization": f"Bearer {ADMIN}"}


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(orjson.loads(record.getMessage()))


@pytest.fixture
def captured() -> Iterator[Lines]:
    """The request log's lines (the logger is set to INFO for the test)."""
    handler = Lines()
    requests = logging.getLogger("lockgate.requests")
    level = requests.level
    requests.addHandler(handler)
    requests.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        requests.removeHandler(handler)
        requests.setLevel(level)


async def test_decisions_in_the_request_log_and_the_audit_log(inproc: Any, captured: Lines) -> None:
    async with inproc(CONFIG, extra_admin_keys=(ADMIN,)) as gw:
        auth = {"authorization": f"Bearer {await gw.key()}"}

        async def ask(text: str) -> Any:
            body = {"model": "m", "messages": [{"role": "user", "content": text}]}
            return await gw.client.post("/v1/chat/completions", json=body, headers=auth)

        assert (await ask("mail me: zoe@example.com, or zoe@example.org")).status_code == 200
        assert (await ask(f"my key {SECRET}")).status_code == 400
        await gw.gw.obs.flush()
        lines = captured.lines
        redacted, blocked = lines
        assert redacted["guards"] == [
            {
                "policy": "pii-eu",
                "guard": "pii",
                "type": "pii",
                "side": "input",
                "action": "redact",
                "entities": {"EMAIL": 2},
            }
        ]
        assert blocked["guards"][0]["action"] == "block" and blocked["status"] == 400
        assert blocked["guards"][0]["entities"] == {"AWS_ACCESS_KEY": 1}
        r = await gw.client.get("/admin/v1/audit", headers=H, params={"actor": "pii-eu"})
        rows = r.json()["rows"]
        actions = sorted(row["action"] for row in rows)
        assert actions == ["guard.block", "guard.redact"]
        assert all(row["actor_type"] == "policy" for row in rows)
        text = str(rows) + str(lines)
        assert "zoe@example" not in text and SECRET not in text
