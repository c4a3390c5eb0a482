"""/metrics with `--workers 2`: every worker's counts, whichever worker answers the scrape."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from harness import ADMIN_KEY, UPSTREAM_KEY, Proc, free_port, make_key

CALLS = 120


def total(text: str, name: str, **labels: str) -> float:
    out = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            out += float(line.rsplit(" ", 1)[1])
    return out


def test_two_workers_report_every_workers_counts(tmp_path: Path, redis_url: str) -> None:
    metrics_dir = tmp_path / "prom"
    cfg = tmp_path / "workers.yaml"
    cfg.write_text(
        "version: 1\n"
        'server: {admin_keys: ["${env:LOCKGATE_ADMIN_KEY}"]}\n'
        f"storage: sqlite:///{tmp_path / 'w.db'}\n"
        f"state: {redis_url}\n"
        "providers: {demo: {type: mock}}\n"
        "models: {m: {deployments: [{provider: demo, model: x}], price: {input: 1, output: 1}}}\n"
        "observability: {usage: {flush_interval: 50ms}, request_log: off}\n"
    )
    port = free_port()
    env = {
        "LOCKGATE_ADMIN_KEY": ADMIN_KEY,
        "UPSTREAM_KEY": UPSTREAM_KEY,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
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
        time.sleep(1.0)  # the other worker's identity poll (0.5 s) learns the new key
        body = {"model": "m", "messages": [{"role": "user", "content": "count me"}]}

        def call(_: int) -> int:
            with httpx.Client() as fresh:  # a new connection: either worker may take it
                r = fresh.post(
                    p.base + "/v1/chat/completions",
                    headers={"authorization": f"Bearer {key}"},
                    json=body,
                )
                return r.status_code

        def scrape(_: int) -> int:
            with httpx.Client() as fresh:
                return fresh.get(p.base + "/metrics").status_code

        with ThreadPoolExecutor(8) as pool:
            calls = pool.map(call, range(CALLS))
            scrapes = pool.map(scrape, range(20))  # scraped while the load runs
            assert set(calls) == {200} and set(scrapes) == {200}
        pids = {f.name.split("_")[-1] for f in metrics_dir.glob("counter_*.db")}
        assert len(pids) == 2, pids  # both workers counted into the shared directory
        deadline = time.monotonic() + 10
        seen: list[float] = []
        while time.monotonic() < deadline:
            texts = []
            for _ in range(6):
                with httpx.Client() as fresh:  # fresh connections reach both workers
                    texts.append(fresh.get(p.base + "/metrics").text)
            seen = [total(t, "lockgate_requests_total", model="m", status="200") for t in texts]
            if all(v == CALLS for v in seen):
                break
            time.sleep(0.1)
        assert seen and all(v == CALLS for v in seen), seen
        counts = [total(t, "lockgate_request_duration_seconds_count", model="m") for t in texts]
        assert all(v == CALLS for v in counts)
    finally:
        p.stop()
    assert p.output().count("Started server process") >= 2
