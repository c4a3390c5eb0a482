"""Helpers of the web UI tests: the seeded gateway, signing in over HTTP, a browser context.

The gateway runs as a process (``lockgate serve``, started with the e2e harness) with the mock
provider; the seed gives two tenants, an API product with manual approval, scoped admin keys
of every role, hostile text where names are free (a key's name, an API's description, a
requested model's name), and a few data-plane calls so usage and the request log have rows.
"""

from __future__ import annotations

import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))

from harness import ADMIN_KEY, Proc, free_port

__all__ = [
    "ADMIN_KEY",
    "Browsing",
    "Proc",
    "Seed",
    "csrf_of",
    "free_port",
    "seed_gateway",
    "signed_in",
]

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parent / ".artifacts"
HOSTILE = "<script>alert(1)</script>"

CONFIG = """
version: 1
server: {{admin_keys: ["${{env:LOCKGATE_ADMIN_KEY}}"]}}
storage: sqlite:///{db}
observability: {{usage: {{flush_interval: 100ms}}}}
providers: {{demo: {{type: mock}}}}
models:
  demo-chat: {{deployments: [{{provider: demo, model: demo}}]}}
  demo-fast: {{deployments: [{{provider: demo, model: demo}}]}}
plans:
  narrow: {{models: [demo-chat]}}
"""


@dataclass
class Seed:
    base: str
    keys: dict[str, str]  # role label -> admin key secret
    apps: dict[str, str]  # "tenant/app" -> app id
    tmp: Path

    def admin(self, key: str | None = None) -> httpx.Client:
        secret = key or ADMIN_KEY
        return httpx.Client(
            base_url=self.base + "/admin/v1",
            timeout=10,
            headers={"authorization": f"Bearer {secret}"},
        )


def _ok(r: httpx.Response) -> Any:
    assert r.status_code < 300, r.text
    return r.json() if r.content else None


def seed_gateway(base: str, tmp: Path) -> Seed:
    keys: dict[str, str] = {"platform": ADMIN_KEY}
    apps: dict[str, str] = {}
    with httpx.Client(
        base_url=base + "/admin/v1", timeout=10, headers={"authorization": f"Bearer {ADMIN_KEY}"}
    ) as a:
        _ok(a.post("/tenants", json={"name": "acme", "plan": "narrow"}))  # demo-chat only
        _ok(a.post("/tenants", json={"name": "globex"}))
        for tenant, app in (("acme", "bot"), ("globex", "crm")):
            apps[f"{tenant}/{app}"] = _ok(a.post(f"/tenants/{tenant}/apps", json={"name": app}))[
                "id"
            ]
        for label, role, tenant in (
            ("acme-admin", "tenant-admin", "acme"),
            ("globex-admin", "tenant-admin", "globex"),
            ("auditor", "auditor", None),
            ("developer", "developer", "acme"),
        ):
            keys[label] = _ok(a.post("/admin-keys", json={"role": role, "tenant": tenant}))["key"]
        _ok(a.post("/apis", json={"name": "summarize", "tenant": "acme", "subscription": "manual",
                                  "description": f"Summarize a text {HOSTILE}"}))  # fmt: skip
        _ok(
            a.post(
                "/apis/summarize/versions",
                json={
                    "model": "demo-chat",
                    "template": "Summarize in {{ sentences }} sentences: {{ text }}",
                    "input_schema": {
                        "type": "object",
                        "required": ["text"],
                        "properties": {
                            "text": {"type": "string"},
                            "sentences": {"type": "integer", "default": 3},
                        },
                    },
                },
            )
        )
        _ok(a.post("/apis/summarize/versions/1/publish"))
        secrets = [
            _ok(a.post(f"/apps/{apps[name]}/keys", json={"name": HOSTILE}))["key"]
            for name in ("acme/bot", "globex/crm")
        ]
    for i, secret in enumerate(secrets * 3):
        r = httpx.post(
            base + "/v1/chat/completions",
            headers={"authorization": f"Bearer {secret}"},
            json={
                "model": ("demo-chat", "demo-fast")[i % 2],
                "messages": [{"role": "user", "content": "hello"}],
            },
            timeout=10,
        )
        assert r.status_code == 200, r.text
    r = httpx.post(  # a caller-chosen model name reaches the request log
        base + "/v1/chat/completions",
        headers={"authorization": f"Bearer {secrets[0]}"},
        json={"model": HOSTILE, "messages": [{"role": "user", "content": "hi"}]},
        timeout=10,
    )
    assert r.status_code == 404, r.text
    seed = Seed(base, keys, apps, tmp)
    _wait_for_usage(seed, expected=6)
    return seed


def _wait_for_usage(seed: Seed, expected: int) -> None:
    """The usage writer flushes in batches: wait until the calls are readable."""
    deadline = time.monotonic() + 30
    with seed.admin() as a:
        while time.monotonic() < deadline:
            rows = a.get("/requests", params={"limit": 100}).json()["rows"]
            if len(rows) >= expected:
                return
            time.sleep(0.1)
    raise AssertionError("the usage records never became readable")


# --- signing in without a browser ------------------------------------------------------------

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found is not None, html
    return found.group(1)


def signed_in(seed: Seed, key: str, area: str = "console") -> httpx.Client:
    """An HTTP client with a session cookie for ``key`` (through the real sign-in form)."""
    c = httpx.Client(base_url=seed.base, timeout=10)
    form = c.get(f"/{area}/sign-in")
    r = c.post(
        f"/{area}/sign-in", data={"csrf": csrf_of(form.text), "key": key, "next": f"/{area}"}
    )
    assert r.status_code == 303, r.text
    return c


# --- the browser -----------------------------------------------------------------------------


class Browsing:
    """One browser context (its own cookies) that records CSP violations and page errors."""

    def __init__(self, browser: Any, seed: Seed, width: int = 1280, height: int = 800) -> None:
        self.seed = seed
        self.context = browser.new_context(
            viewport={"width": width, "height": height}, base_url=seed.base
        )
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("dialog", self._dialog)

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.problems.append(message.text)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def sign_in(self, key: str, area: str = "console") -> None:
        self.page.goto(f"/{area}")
        self.page.get_by_label("Key").fill(key)
        self.page.get_by_role("button", name="Sign in").click()
        self.page.wait_for_load_state()

    def expect_problems(self, text: str) -> None:
        """Drop the recorded console errors containing ``text`` (a test provoked them)."""
        self.problems = [p for p in self.problems if text not in p]

    def shot(self, name: str) -> Path:
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def close(self) -> None:
        self.context.close()
        assert self.problems == [], self.problems  # CSP violations and script errors
        assert self.dialogs == [], self.dialogs  # nothing injected ran
