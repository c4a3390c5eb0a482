#!/usr/bin/env python3
"""What recording a call costs the hot path, and what the writer does with it off the path.

The hot-path part is the usage queue's recorder, called by ``Finalizer.finish`` once per
request: one tuple of references appended to a bounded deque. Measured three ways, each the
median of ``--repeat`` runs of ``--n`` calls on a realistic finished request (principal,
target, usage, cost): the recorder alone; ``Finalizer.finish`` with the accounting recorders
against ``finish`` with none (the difference is what a request pays); and, for the record, the
off-path work per call (expanding the tuple, metrics, request log line, rollups) in the pump.

    .venv/bin/python bench/recording.py [--n 200000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from lockgate.app import tune_collector
from lockgate.config.models import Config, Price
from lockgate.identity.principal import Principal
from lockgate.observability.metrics import Metrics
from lockgate.observability.request_log import line
from lockgate.pipeline.context import RequestContext
from lockgate.pipeline.finalize import Finalizer
from lockgate.runtime import Runtime
from lockgate.store.usage_repo import rollups
from lockgate.upstream import UpstreamClient
from lockgate.usage.record import expand
from lockgate.usage.writer import UsageQueue
from lockgate.wire.types import Usage


def finished_request(runtime: Runtime, n: int) -> RequestContext:
    ctx = RequestContext(
        request_id=f"req_0123456789{n:x}",
        route="chat",
        ingress="openai",
        headers=[(b"authorization", b"Bearer lg-x")],
        client_ip="127.0.0.1",
        runtime=runtime,
        started=1000.0,
        received_at=1_790_000_000.0,
    )
    ctx.principal = Principal(
        key_id="key_1", key_prefix="lg-abc", app_id="app_1", app_name="bot",
        tenant_name="acme", plan="standard", roles=(), attributes={}, residency=(),
    )  # fmt: skip
    route = runtime.models["bench-chat"]
    ctx.model = ctx.served_model = "bench-chat"
    ctx.model_route = route
    ctx.target = route.targets[0]
    ctx.attempts = 1
    ctx.usage = Usage(input_tokens=21, output_tokens=9)
    ctx.upstream_started, ctx.upstream_ended = 1000.0001, 1000.0009
    ctx.first_token_at = ctx.finished_at = 1000.001
    return ctx


def per_call(fn: Any, contexts: list[RequestContext], repeat: int) -> float:
    """Median CPU seconds per call of ``fn(ctx)`` over ``repeat`` passes (CPU time, not wall
    time: on a shared machine, waiting for a core is not a cost of the code)."""
    runs = []
    for _ in range(repeat):
        began = time.thread_time()
        for ctx in contexts:
            fn(ctx)
        runs.append((time.thread_time() - began) / len(contexts))
    return statistics.median(runs)


async def main(argv: list[str]) -> int:
    args = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    args.add_argument("--n", type=int, default=200_000)
    args.add_argument("--repeat", type=int, default=7)
    opts = args.parse_args(argv)
    config = Config.model_validate(
        {
            "version": 1,
            "providers": {"demo": {"type": "mock"}},
            "models": {
                "bench-chat": {
                    "deployments": [{"provider": "demo", "model": "x"}],
                    "price": Price(input=0.15, output=0.6).model_dump(),
                }
            },
        }
    )
    runtime = Runtime(config, UpstreamClient())
    contexts = [finished_request(runtime, i) for i in range(opts.n)]
    tune_collector()  # the GC settings of a serving process (lockgate.app)

    queue = UsageQueue(capacity=opts.n * opts.repeat + 1, batch_size=500)
    recorder = per_call(queue, contexts, opts.repeat)
    captured = queue.take()

    bare, accounted = Finalizer(), Finalizer()
    accounted.recorders.append(UsageQueue(capacity=opts.n * opts.repeat + 1, batch_size=500))
    without = per_call(bare.finish, contexts, opts.repeat)
    with_rec = per_call(accounted.finish, contexts, opts.repeat)

    sample = captured[: min(len(captured), 50_000)]
    metrics = Metrics(multiprocess_dir=None)
    began = time.thread_time()
    expanded = [expand(r) for r in sample]
    metrics.consume(expanded)
    lines = [line(e) for e in expanded]
    rollups(e.row for e in expanded)
    off_path = (time.thread_time() - began) / len(sample)
    del lines

    print(
        f"calls per run: {opts.n}, runs: {opts.repeat} (median CPU time), "
        f"python {sys.version.split()[0]}"
    )
    print(f"recorder alone (hot path):            {recorder * 1e6:6.2f} us per request")
    print(f"Finalizer.finish without recorders:   {without * 1e6:6.2f} us per request")
    print(f"Finalizer.finish with usage recorder: {with_rec * 1e6:6.2f} us per request")
    added = (with_rec - without) * 1e6
    print(f"  added by recording:                 {added:6.2f} us per request")
    print(
        "off the hot path (expand, metrics, log line, rollups): "
        f"{off_path * 1e6:6.2f} us per record"
    )
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    sys.exit(asyncio.run(main(sys.argv[1:])))
