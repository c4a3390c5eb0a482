"""Make the README's screenshots of the console and the portal (docs/*.png).

Starts ``lockgate serve`` on a fresh SQLite store, creates tenants, apps, an API product and a
developer through the admin API, writes two weeks of synthetic usage records straight into
the store (the data plane can only record calls as they happen), then drives Chromium
(Playwright, ``/usr/bin/chromium``) through the pages.

    .venv/bin/python docs/screenshots.py
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

from lockgate.store.repo import Store
from lockgate.store.usage_repo import UsageRow, UsageStore

DOCS = Path(__file__).parent
ADMIN = "lga-docs-admin-key-0123456789abcdefghijklmn"
CONFIG = """
version: 1
server: {{admin_keys: ["{admin}"]}}
storage: sqlite:///{db}
providers: {{demo: {{type: mock}}}}
models:
  gpt-4o-mini: {{deployments: [{{provider: demo, model: demo}}]}}
  claude-haiku: {{deployments: [{{provider: demo, model: demo}}]}}
  demo-chat: {{deployments: [{{provider: demo, model: demo}}]}}
"""
MODELS = {"gpt-4o-mini": 0.6, "claude-haiku": 1.25, "demo-chat": 0.1}  # USD per M tokens


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def seed(base: str) -> tuple[dict[str, tuple[str, str]], str]:
    """Tenants, apps (id -> (tenant, name)), an API product; returns a developer key."""
    a = httpx.Client(base_url=base + "/admin/v1", headers={"authorization": f"Bearer {ADMIN}"})
    apps: dict[str, tuple[str, str]] = {}
    for tenant, names in (
        ("acme", ("support-bot", "search")),
        ("globex", ("crm", "reports")),
        ("initech", ("tps",)),
    ):
        a.post("/tenants", json={"name": tenant}).raise_for_status()
        for name in names:
            app = a.post(f"/tenants/{tenant}/apps", json={"name": name}).json()
            apps[app["id"]] = (tenant, name)
    api = {"name": "summarize", "tenant": "acme", "description": "Summarize a text"}
    a.post("/apis", json=api).raise_for_status()
    version = {"model": "gpt-4o-mini", "template": "Summarize: {{ text }}"}
    a.post("/apis/summarize/versions", json=version).raise_for_status()
    a.post("/apis/summarize/versions/1/publish").raise_for_status()
    dev = a.post("/admin-keys", json={"role": "developer", "tenant": "acme"}).json()["key"]
    d = httpx.Client(base_url=base + "/admin/v1", headers={"authorization": f"Bearer {dev}"})
    mine = d.post("/tenants/acme/apps", json={"name": "help-desk"}).json()
    d.post(f"/apps/{mine['id']}/keys", json={"name": "production"}).raise_for_status()
    sub = {"app_id": mine["id"], "api": "summarize", "reason": "ticket summaries"}
    d.post("/subscriptions", json=sub).raise_for_status()
    reasons = ("answer drafts", "result snippets", "call notes")
    for (app_id, (_, name)), reason in zip(list(apps.items())[:3], reasons, strict=True):
        body = {"app_id": app_id, "api": "summarize", "reason": reason}
        s = a.post("/subscriptions", json=body)
        if name == "crm":
            a.post(f"/subscriptions/{s.json()['id']}/approve", json={"reason": "ok"})
    apps[mine["id"]] = ("acme", "help-desk")
    return apps, dev


def history(db: Path, apps: dict[str, tuple[str, str]]) -> None:
    rng = random.Random(14)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    weight = {"acme": 3.0, "globex": 1.8, "initech": 0.6}
    rows = []
    n = 0
    for day in range(14, -1, -1):
        for app_id, (tenant, name) in apps.items():
            calls = int(weight[tenant] * rng.uniform(20, 40) * (1 + (14 - day) / 20))
            for _ in range(calls):
                model = rng.choice(list(MODELS))
                tokens_in, tokens_out = rng.randint(50, 1500), rng.randint(20, 600)
                cost = int((tokens_in + tokens_out) * MODELS[model] * 1_000_000)  # picoUSD
                ts = now - timedelta(days=day, minutes=rng.randint(0, 1439))
                status = 200 if rng.random() > 0.03 else 429
                n += 1
                rows.append(UsageRow(
                    f"req_docs{n:06d}", ts, tenant, app_id, name, None, None, "openai",
                    "chat", model, model, "demo/demo", "mock", status,
                    None if status == 200 else "rate_limit_exceeded",
                    None if status == 200 else "limits", tokens_in, tokens_out, 0, 0,
                    "provider", cost if status == 200 else 0, rng.uniform(200, 900), 80.0,
                    rng.uniform(150, 850), 1.2, 1, False, None, 0,
                ))  # fmt: skip
    store = Store(f"sqlite:///{db}")
    UsageStore(store.engine).write(rows)
    store.close()


def shoot(base: str, dev: str) -> None:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        for key, area, pages in (
            (ADMIN, "console", (("/console/usage?days=14", "console-usage", True),
                                ("/console/subscriptions", "console-subscriptions", False))),
            (dev, "portal", (("/portal/apps", None, False),)),
        ):  # fmt: skip
            context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=base)
            page = context.new_page()
            page.goto(f"/{area}")
            page.get_by_label("Key").fill(key)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_load_state()
            for path, name, full in pages:
                page.goto(path)
                if name is None:  # the portal: open the developer's app
                    page.get_by_role("link", name="help-desk").click()
                    name, full = "portal-app", True
                page.screenshot(path=str(DOCS / f"{name}.png"), full_page=full)
            context.close()
        browser.close()


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="lockgate-docs-"))
    db = tmp / "gw.db"
    cfg = tmp / "gw.yaml"
    cfg.write_text(CONFIG.format(admin=ADMIN, db=db))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "lockgate", "serve", "--config", str(cfg), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(base + "/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        apps, dev = seed(base)
        history(db, apps)
        shoot(base, dev)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
