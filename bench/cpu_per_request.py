#!/usr/bin/env python3
"""CPU time Lockgate spends per request: a throughput proxy that survives a shared machine.

Starts ``lockgate mock-upstream`` and ``lockgate serve`` (the SPEC section 6 policy set: key
auth, plan model access, requests + tokens + cost limits; usage records into SQLite; the
request log at its default level into a file), sends ``--n`` small chat completions with
``hey`` after a warm-up, waits for the usage writer to catch up, and divides the server
process's CPU time (every thread: user + system, from /proc) by the requests. Waiting for a
core does not count, so the figure holds while other processes load the machine; wrk's
req/s does not.

    .venv/bin/python bench/cpu_per_request.py [--n 20000] [--runs 3]

Run it with ``PYTHONPATH=<other checkout>/src`` to measure another version of the code the
same way (A/B).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

VENV = Path(sys.executable).parent
ADMIN = "lga-cpu-bench-admin-key-0123456789abcdefghij"
CONFIG = """
version: 1
server: {{admin_keys: ["{admin}"]}}
storage: "sqlite:///{db}"
providers:
  up: {{type: openai, base_url: "http://127.0.0.1:{mock}/v1", api_key: x}}
models:
  bench-chat: {{deployments: [{{provider: up, model: m}}], retry: {{attempts: 0}},
               price: {{input: 0.15, output: 0.60}}, default_max_tokens: 256}}
plans:
  bench:
    models: [bench-chat]
    limits:
      - {{requests: 100M, per: minute}}
      - {{tokens: 100000M, per: minute}}
      - {{cost: 1000000000, per: month}}
"""
BODY = '{"model":"bench-chat","messages":[{"role":"user","content":"hello"}]}'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_ready(url: str) -> None:
    for _ in range(300):
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready")


def hey(port: int, key: str, n: int) -> None:
    subprocess.run(
        ["hey", "-n", str(n), "-c", "32", "-m", "POST", "-T", "application/json",
         "-H", f"Authorization: Bearer {key}", "-d", BODY,
         f"http://127.0.0.1:{port}/v1/chat/completions"],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip


def one_run(tmp: Path, n: int) -> float:
    mock_port, port = free_port(), free_port()
    cfg = tmp / "cpu.yaml"
    cfg.write_text(CONFIG.format(admin=ADMIN, db=tmp / f"cpu-{port}.db", mock=mock_port))
    log = open(tmp / f"serve-{port}.log", "wb")  # noqa: SIM115 - closed below
    mock = subprocess.Popen(
        [str(VENV / "lockgate"), "mock-upstream", "--port", str(mock_port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    serve = subprocess.Popen(
        [str(VENV / "lockgate"), "serve", "--config", str(cfg), "--port", str(port)],
        stdout=log, stderr=log, cwd=tmp,
    )  # fmt: skip
    try:
        wait_ready(f"http://127.0.0.1:{mock_port}/_mock/stats")
        wait_ready(f"http://127.0.0.1:{port}/healthz")
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}/admin/v1",
            headers={"authorization": f"Bearer {ADMIN}"},
        ) as c:
            c.post("/tenants", json={"name": "t", "plan": "bench"}).raise_for_status()
            app = c.post("/tenants/t/apps", json={"name": "a"}).json()["id"]
            key = c.post(f"/apps/{app}/keys", json={}).json()["key"]
        time.sleep(1.0)
        hey(port, key, 2000)  # warm-up
        time.sleep(1.5)
        before = cpu_seconds(serve.pid)
        hey(port, key, n)
        time.sleep(2.5)  # the usage writer's flush of the last batch counts too
        return (cpu_seconds(serve.pid) - before) / n
    finally:
        for proc in (serve, mock):
            proc.terminate()
            proc.wait(30)
        log.close()


def main(argv: list[str]) -> int:
    args = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    args.add_argument("--n", type=int, default=20_000)
    args.add_argument("--runs", type=int, default=3)
    opts = args.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="lockgate-cpu-") as tmpdir:
        runs = [one_run(Path(tmpdir), opts.n) for _ in range(opts.runs)]
    us = [round(r * 1e6, 1) for r in runs]
    print(f"server CPU per request: median {statistics.median(us)} us, runs {us}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
