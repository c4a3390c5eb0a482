"""Microbenchmark: what the policy pipeline costs per request, without HTTP.

Runs the SPEC section 6 policy set (key authentication, plan model access, requests + tokens
+ cost limits) on a started in-process gateway, calling the pipeline the way the data plane
does, and reports the median CPU time per request over several repeats:

- ``authn+access``: authentication and model access alone;
- ``admit (full set)``: authentication, access and the limits' admission, prompt tokens
  counted with the tokenizer;
- ``settle``: the completion step (pricing and settlement);
- with ``--redis URL``: the same on Redis counters, with round trips per request counted.

Usage: .venv/bin/python bench/admission.py [--n 20000] [--repeats 5] [--redis redis://...]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from lockgate.app import Gateway, tune_collector
from lockgate.config.models import Config
from lockgate.pipeline.context import RequestContext
from lockgate.wire import openai
from lockgate.wire.types import Usage

BODY = {"model": "bench-chat", "messages": [{"role": "user", "content": "Say hi."}]}


def config(tmp: Path, state: str, limits: bool) -> Config:
    plan: dict[str, Any] = {"models": ["bench-chat"]}
    if limits:
        plan["limits"] = [
            {"requests": "100M", "per": "minute"},
            {"tokens": "100000M", "per": "minute"},
            {"cost": 1_000_000_000, "per": "month"},
        ]
    return Config.model_validate(
        {
            "version": 1,
            "storage": f"sqlite:///{tmp / 'a.db'}",
            "state": state,
            "providers": {"demo": {"type": "mock"}},
            "models": {
                "bench-chat": {
                    "deployments": [{"provider": "demo", "model": "m"}],
                    "price": {"input": 0.15, "output": 0.6},
                    "default_max_tokens": 256,
                }
            },
            "plans": {"bench": plan},
            "default_plan": "bench",
        }
    )


def context(gw: Gateway, key: str, i: int) -> RequestContext:
    ctx = RequestContext(
        f"req{i}",
        "chat",
        "openai",
        [(b"authorization", b"Bearer " + key.encode())],
        "127.0.0.1",
        gw.runtime,
        time.monotonic(),
        time.time(),
    )
    return ctx


async def measure(gw: Gateway, key: str, n: int) -> tuple[float, float]:
    """(µs per admission, µs per completion) over n requests, one request at a time."""
    pipeline = gw.runtime.pipeline
    req = openai.decode_chat_request(BODY)
    target = gw.runtime.models["bench-chat"].targets[0]
    # CPU time of this thread: the usage writer's store thread (it runs while the loop yields,
    # below) is not the admission's cost, and must not be billed to it on a pinned core.
    clock = time.thread_time
    admit = finish = 0.0
    for i in range(n):
        ctx = context(gw, key, i)
        t0 = clock()
        await pipeline.authenticate(ctx)
        ctx.model = req.model
        ctx.chat = req
        await pipeline.admit(ctx)
        t1 = clock()
        ctx.target = target
        ctx.usage = Usage(input_tokens=9, output_tokens=2)
        t2 = clock()
        gw.finalizer.finish(ctx)
        t3 = clock()
        admit += t1 - t0
        finish += t3 - t2
        if i % 64 == 63:  # untimed: let the usage writer and timers run, as a serving loop does
            await asyncio.sleep(0)
    return admit / n * 1e6, finish / n * 1e6


async def run(state: str, limits: bool, n: int, repeats: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        gw = Gateway(config(Path(tmp), state, limits), key_prefix=f"lgbench{time.time_ns()}:")
        await gw.startup()
        try:
            gw.store.create_tenant("bench")
            app = gw.store.create_app("bench", "bench")
            key = gw.store.create_key(app.id).secret
            await gw.refresher.refresh_now()
            await measure(gw, key, min(n, 2000))  # warm up
            tune_collector()  # as lockgate serve does
            calls0 = getattr(gw.counters, "calls", 0)
            admits, settles = [], []
            for _ in range(repeats):
                a, s = await measure(gw, key, n)
                admits.append(a)
                settles.append(s)
            flush = getattr(gw.counters, "flush", None)
            if flush is not None:
                await flush()
            trips = (getattr(gw.counters, "calls", 0) - calls0) / (n * repeats)
        finally:
            await gw.shutdown()
    return {
        "admit_us": statistics.median(admits),
        "settle_us": statistics.median(settles),
        "admission_round_trips_per_request": trips,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--n", type=int, default=20_000)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--redis", default=None, help="also measure Redis counters at this URL")
    a = p.parse_args()
    rows = [("authn+access (no limits)", asyncio.run(run("memory", False, a.n, a.repeats)))]
    rows.append(("full set, memory state", asyncio.run(run("memory", True, a.n, a.repeats))))
    if a.redis:
        rows.append(("full set, Redis state", asyncio.run(run(a.redis, True, a.n // 4, a.repeats))))
    print("| policies | admission µs/request | completion µs/request | Redis round trips/request |")
    print("|---|---:|---:|---:|")
    for name, r in rows:
        print(
            f"| {name} | {r['admit_us']:.1f} | {r['settle_us']:.1f} | "
            f"{r['admission_round_trips_per_request']:.2f} |"
        )


if __name__ == "__main__":
    main()
