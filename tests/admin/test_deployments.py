"""``GET /admin/v1/deployments`` and the table ``lockgate deployments`` prints."""

from __future__ import annotations

from typing import Any

from lockgate.admin.deployments_cli import table

ADMIN = "lga-deployments-test-admin-key-0123456789"
CONFIG = {
    "providers": {"demo": {"type": "mock", "region": "eu"}, "spare": {"type": "mock"}},
    "models": {
        "chat": {
            "deployments": [
                {"provider": "demo", "model": "a"},
                {"provider": "spare", "model": "b", "priority": 2, "weight": 3},
            ],
            "circuit_breaker": {"window": "10s", "min_requests": 2, "open_for": "30s"},
            "retry": {"attempts": 0},
        },
        "plain": {"deployments": [{"provider": "demo", "model": "p"}]},
    },
}


async def test_rows_show_breaker_health_and_traffic(inproc: Any) -> None:
    async with inproc(CONFIG, extra_admin_keys=(ADMIN,)) as gw:
        key = await gw.key()
        auth = {"authorization": f"Bearer {key}"}
        body = {"model": "chat", "messages": [{"role": "user", "content": "x [[mock:status=503]]"}]}
        for _ in range(2):
            r = await gw.client.post("/v1/chat/completions", json=body, headers=auth)
            assert r.status_code == 503
        r = await gw.client.get(
            "/admin/v1/deployments", headers={"authorization": f"Bearer {ADMIN}"}
        )
        assert r.status_code == 200
        rows = {(d["model"], d["deployment"]): d for d in r.json()["data"]}
        assert list(rows) == [("chat", "demo/a"), ("chat", "spare/b"), ("plain", "demo/p")]
        a = rows[("chat", "demo/a")]
        assert a["breaker"] == "open" and not a["available"]
        assert 0 < a["breaker_opens_in_s"] <= 30
        assert (a["requests"], a["failures"], a["error_rate"]) == (2, 2, 1.0)
        assert "503" in a["last_error"] and a["region"] == "eu" and a["health"] == "unchecked"
        b = rows[("chat", "spare/b")]
        assert b["breaker"] == "closed" and b["priority"] == 2 and b["weight"] == 3
        assert rows[("plain", "demo/p")]["breaker"] is None  # no circuit_breaker configured
        lines = table(r.json()["data"])
        assert lines[0].split() == [
            "MODEL",
            "DEPLOYMENT",
            "STATE",
            "HEALTH",
            "IN-FLIGHT",
            "LATENCY",
            "ERRORS",
            "REQS",
        ]
        assert lines[1].split()[:3] == ["chat", "demo/a", "open"]
        assert "*" in lines[1] and "100%" in lines[1]  # cannot serve now; every attempt failed


async def test_deployments_need_an_admin_key(inproc: Any) -> None:
    async with inproc(CONFIG, extra_admin_keys=(ADMIN,)) as gw:
        assert (await gw.client.get("/admin/v1/deployments")).status_code == 401
        key = await gw.key()  # a data-plane key is not an admin key
        r = await gw.client.get("/admin/v1/deployments", headers={"authorization": f"Bearer {key}"})
        assert r.status_code == 401
        spec = (await gw.client.get("/admin/v1/openapi.json")).json()
        assert "/deployments" in spec["paths"]
