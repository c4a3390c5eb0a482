"""Microbenchmark: what API products cost per request.

    .venv/bin/python bench/apis_bench.py [--n 200000] [--rounds 5]

Reports the median over rounds of the CPU time (``process_time``) per operation:

- ``empty policy``: driving a policy that does nothing, the baseline of the next rows;
- ``subscription check, chat request``: the AUTHZ policy every data-plane request passes
  through; a request that is not an API call returns at once (this is what API products cost
  the calls that do not use them);
- ``subscription check, API call``: the in-memory lookup of the app's subscription;
- ``inputs + render``: an API call's body checked against its input schema (defaults filled
  in) and its template rendered in the sandbox, into a chat request;
- ``answer``: the ``{"output", "model", "usage"}`` body of a complete answer.

The policy coroutines complete without suspending, so they are driven by ``send(None)``.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import statistics
import time
from collections.abc import Callable
from typing import Any

from lockgate.apis.catalog import ProductIndex
from lockgate.apis.policy import SubscriptionCheck
from lockgate.config.models import Config
from lockgate.identity.principal import Principal
from lockgate.pipeline.context import RequestContext
from lockgate.runtime import Runtime
from lockgate.store.product_records import ApiProduct, ApiVersion, SubscriptionState
from lockgate.upstream import UpstreamClient
from lockgate.wire.types import ChatResponse, TextPart, Usage

SCHEMA = {
    "type": "object",
    "required": ["text"],
    "properties": {"text": {"type": "string"}, "sentences": {"type": "integer", "default": 3}},
}
VERSION = ApiVersion(
    1, "published", "m", "Summarize in {{ sentences }} sentences:\n\n{{ text }}",
    input_schema=SCHEMA,
)  # fmt: skip
TEXT = "Lockgate is an AI gateway that enforces resource policies on every model call. " * 8


def per_op(fn: Callable[[], Any], n: int, rounds: int) -> float:
    """Median CPU nanoseconds per call."""
    out = []
    for _ in range(rounds):
        gc.collect()
        start = time.process_time()
        for _ in range(n):
            fn()
        out.append((time.process_time() - start) / n * 1e9)
    return statistics.median(out)


class Empty:
    """A policy that does nothing: what driving any policy costs (the baseline)."""

    async def on_request(self, ctx: RequestContext) -> None:
        return None


def drive(policy: SubscriptionCheck | Empty, ctx: RequestContext) -> Callable[[], None]:
    def once() -> None:
        with contextlib.suppress(StopIteration):
            policy.on_request(ctx).send(None)

    return once


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--n", type=int, default=200_000)
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    cfg = Config.model_validate(
        {"version": 1, "providers": {"d": {"type": "mock"}},
         "models": {"m": {"deployments": [{"provider": "d", "model": "x"}]}}}
    )  # fmt: skip
    runtime = Runtime(cfg, UpstreamClient())
    api = ApiProduct("summarize", "acme", "manual", (VERSION,))
    index = ProductIndex([api], [SubscriptionState("app_1", "summarize", "active", None)])
    policy = SubscriptionCheck(lambda: index)
    principal = Principal(None, None, "app_1", "bot", "acme", None, (), {}, ())
    ctx = RequestContext("r", "chat", "openai", [], "127.0.0.1", runtime, 0.0, principal=principal)
    api_ctx = RequestContext("r", "chat", "api", [], "127.0.0.1", runtime, 0.0, principal=principal)
    api_ctx.api = "summarize"
    compiled = index.version("summarize", 1)
    assert compiled is not None
    resp = ChatResponse("c1", "m", [TextPart("A short summary. " * 10)], usage=Usage(120, 40))
    n, rounds = args.n, args.rounds
    rows = [
        ("empty policy (baseline)", per_op(drive(Empty(), ctx), n, rounds)),
        ("subscription check, chat request", per_op(drive(policy, ctx), n, rounds)),
        ("subscription check, API call", per_op(drive(policy, api_ctx), n, rounds)),
        (
            "inputs + render (660-char text)",
            per_op(lambda: compiled.request({"text": TEXT}), n // 20, rounds),
        ),
        ("answer", per_op(lambda: compiled.format.encode_chat(resp, "m"), n // 10, rounds)),
    ]
    for name, ns in rows:
        print(f"{name:36} {ns / 1000:8.2f} us")


if __name__ == "__main__":
    main()
