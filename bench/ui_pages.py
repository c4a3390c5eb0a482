"""What the web console costs: memory before and after first use, and time per page.

Starts ``lockgate serve`` (mock provider, SQLite), makes tenants, apps and data-plane calls,
then reads the process's resident memory (``/proc/<pid>/status``) before any UI request and
after the first one, and times N sequential requests per page with a signed-in session
(one client, keep-alive). The gateway builds the UI on its first UI request, so the first
figure is the whole cost for a gateway whose UI is never opened.

    .venv/bin/python bench/ui_pages.py [--requests 200]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ADMIN = "lga-bench-ui-admin-key-0123456789abcdefghij"
CONFIG = """
version: 1
server: {{admin_keys: ["{admin}"]}}
storage: sqlite:///{db}
observability: {{usage: {{flush_interval: 100ms}}}}
providers: {{demo: {{type: mock}}}}
models:
  demo-chat: {{deployments: [{{provider: demo, model: demo}}]}}
"""
PAGES = (
    "/console",
    "/console/tenants",
    "/console/usage",
    "/console/requests",
    "/console/audit",
    "/portal",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def wait(base: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/healthz").status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("gateway did not start")


def seed(base: str) -> None:
    a = httpx.Client(base_url=base + "/admin/v1", headers={"authorization": f"Bearer {ADMIN}"})
    keys = []
    for t in range(5):
        a.post("/tenants", json={"name": f"t{t}"}).raise_for_status()
        for n in range(4):
            app = a.post(f"/tenants/t{t}/apps", json={"name": f"app{n}"}).json()
            keys.append(a.post(f"/apps/{app['id']}/keys", json={}).json()["key"])
    with httpx.Client(base_url=base) as c:
        for i in range(400):
            c.post(
                "/v1/chat/completions",
                headers={"authorization": f"Bearer {keys[i % len(keys)]}"},
                json={"model": "demo-chat", "messages": [{"role": "user", "content": "hi"}]},
            ).raise_for_status()
    time.sleep(0.5)  # the usage writer flushes every 100 ms


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="lockgate-ui-bench-"))
    cfg = tmp / "gw.yaml"
    cfg.write_text(CONFIG.format(admin=ADMIN, db=tmp / "gw.db"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "lockgate", "serve", "--config", str(cfg), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        wait(base)
        seed(base)
        before = rss_mb(proc.pid)
        c = httpx.Client(base_url=base)
        started = time.perf_counter()
        form = c.get("/console/sign-in")
        first = (time.perf_counter() - started) * 1000
        after = rss_mb(proc.pid)
        token = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert token is not None
        c.post("/console/sign-in", data={"csrf": token.group(1), "key": ADMIN})
        print(
            f"RSS before any UI request: {before:.1f} MB; after the first: {after:.1f} MB "
            f"(+{after - before:.1f} MB); first request (builds the UI): {first:.0f} ms"
        )
        print("| page | p50 ms | p95 ms | bytes |")
        print("|---|---:|---:|---:|")
        for page in PAGES:
            times = []
            size = 0
            for _ in range(args.requests):
                t0 = time.perf_counter()
                r = c.get(page)
                times.append((time.perf_counter() - t0) * 1000)
                assert r.status_code == 200, (page, r.status_code)
                size = len(r.content)
            times.sort()
            p95 = times[int(len(times) * 0.95) - 1]
            print(f"| `{page}` | {statistics.median(times):.2f} | {p95:.2f} | {size:,} |")
        print(f"RSS after the pages: {rss_mb(proc.pid):.1f} MB")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
