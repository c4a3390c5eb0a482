#!/usr/bin/env python3
"""Same-format requests, A/B: the gateway's CPU time per request for an OpenAI client served by
an OpenAI provider and an Anthropic client served by an Anthropic provider, streamed and not.

A runs with ``PYTHONPATH=A_SRC`` (a detached worktree of the tree to compare with, e.g.
``git worktree add --detach /tmp/ab-main main``, then ``--a-src /tmp/ab-main/src``), B with
this checkout. Each round starts one gateway per side (order A B, then B A, ...), pinned to
core 1, and drives every case with wrk (pinned to core 0, with ``lockgate mock-upstream``
there too) for ``--duration`` seconds; the figure is the gateway's own user + system CPU time
(from /proc) divided by the requests completed, which other load on a shared machine disturbs
far less than throughput. Prints each run and the medians per case, and B/A ratios.

The policy set is the one of bench/run.py: key auth, model access, requests + tokens + cost
limits, usage records.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import timeit
from pathlib import Path
from typing import Any

import httpx
import orjson

_HERE = Path(__file__).resolve().parent
if not any(Path(p or ".").resolve() == _HERE for p in sys.path):
    sys.path.insert(0, str(_HERE))

from lgbench.common import BENCH, CLK_TCK, CORE_LOAD, CORE_PROXY, SCRATCH, VENV_BIN, log  # noqa: E402
from lgbench.procs import Procs, free_port, run_captured, wait_http  # noqa: E402
from lgbench.targets import start_mock  # noqa: E402
from lgbench.tools import tool  # noqa: E402

CONFIG = """\
version: 1
server: {{admin_keys: ["${{env:LOCKGATE_ADMIN_KEY}}"]}}
storage: "sqlite:///{db}"
providers:
  oai: {{type: openai, base_url: "http://127.0.0.1:{mock}/v1", api_key: x}}
  claude: {{type: anthropic, base_url: "http://127.0.0.1:{mock}", api_key: x}}
models:
  oai-chat:
    deployments: [{{provider: oai, model: m}}]
    retry: {{attempts: 0}}
    price: {{input: 0.15, output: 0.6}}
  claude-chat:
    deployments: [{{provider: claude, model: c}}]
    retry: {{attempts: 0}}
    price: {{input: 0.8, output: 4.0}}
plans:
  bench:
    models: [oai-chat, claude-chat]
    limits:
      - {{requests: 100M, per: minute}}
      - {{tokens: 100000M, per: minute}}
      - {{cost: 1000000000, per: month}}
"""
PROMPT = "Summarise the benchmark run in one short sentence, please, for the record"
CASES: dict[str, tuple[str, dict[str, object]]] = {
    "openai": ("/v1/chat/completions", {"model": "oai-chat", "max_tokens": 64}),
    "openai-stream": (
        "/v1/chat/completions",
        {"model": "oai-chat", "max_tokens": 64, "stream": True,
         "stream_options": {"include_usage": True}},
    ),
    "anthropic": ("/v1/messages", {"model": "claude-chat", "max_tokens": 64}),
    "anthropic-stream": (
        "/v1/messages", {"model": "claude-chat", "max_tokens": 64, "stream": True}
    ),
}  # fmt: skip


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--a-src", type=Path, help="src/ directory of side A")
    p.add_argument(
        "--codec", action="store_true", help="only the in-process codec figures (no servers)"
    )
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--duration", type=float, default=5)
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--cases", default=",".join(CASES))
    args = p.parse_args(argv)
    if args.codec:
        codec_figures()
        return 0
    if args.a_src is None:
        p.error("--a-src is required (or --codec)")
    cases = [c for c in args.cases.split(",") if c]
    signal.signal(signal.SIGTERM, _on_sigterm)
    SCRATCH.mkdir(parents=True, exist_ok=True)
    procs = Procs(SCRATCH)
    cpu: dict[tuple[str, str], list[float]] = {(s, c): [] for s in "AB" for c in cases}
    try:
        mock, _ = start_mock(procs)
        with tempfile.TemporaryDirectory(prefix="lg-pt-") as raw:
            tmp = Path(raw)
            for n in range(args.rounds):
                for side in ("A", "B") if n % 2 == 0 else ("B", "A"):
                    if side == "A":
                        os.environ["PYTHONPATH"] = str(args.a_src.resolve())
                    else:
                        os.environ.pop("PYTHONPATH", None)
                    work = tmp / f"{side}{n}"
                    work.mkdir()
                    gateway, port, key = _gateway(procs, work, mock)
                    try:
                        for case in cases:
                            us, count = _measure(procs, gateway.pid, port, key, case, args)
                            cpu[(side, case)].append(us)
                            log(f"round {n + 1} {side} {case}: {us:.1f} CPU us/request ({count})")
                    finally:
                        procs.stop(gateway)
    finally:
        os.environ.pop("PYTHONPATH", None)
        procs.stop_all()
    for case in cases:
        a = statistics.median(cpu[("A", case)])
        b = statistics.median(cpu[("B", case)])
        print(
            f"{case}: A median {a:.1f} us {[round(x, 1) for x in cpu[('A', case)]]}; "
            f"B median {b:.1f} us {[round(x, 1) for x in cpu[('B', case)]]}; B/A {b / a:.3f}"
        )
    return 0


def codec_figures(number: int = 20000) -> None:
    """What the wire work of one same-format call costs in this process: decoding and
    re-encoding (the translated path) against passthrough, for the bodies and streams the mock
    upstream sends (best of 5 runs of ``number`` calls, one core)."""
    from lockgate.mock.formats_anthropic import AnthropicFormat
    from lockgate.mock.formats_openai import OpenAIFormat
    from lockgate.wire import anthropic, openai
    from lockgate.wire.anthropic_passthrough import ANTHROPIC_PASSTHROUGH
    from lockgate.wire.openai_passthrough import OPENAI_PASSTHROUGH

    _codec_case("openai", OpenAIFormat(), openai, OPENAI_PASSTHROUGH, number)
    _codec_case("anthropic", AnthropicFormat(), anthropic, ANTHROPIC_PASSTHROUGH, number)


def _codec_case(name: str, mock: Any, codec: Any, passthrough: Any, number: int) -> None:
    from lockgate.mock.base import MockUsage
    from lockgate.mock.engine import reply_for
    from lockgate.wire.sse import SSEParser
    from lockgate.wire.types import Usage

    body = {**CASES[name][1], "messages": [{"role": "user", "content": PROMPT}]}
    call = mock.parse_chat(dict(body, stream=True, stream_options={"include_usage": True}),
                           None, None)  # fmt: skip
    reply = reply_for(PROMPT, tools=[], tool_choice_none=False, last_role="user", max_tokens=64)
    usage = MockUsage(20, reply.output_tokens)
    whole = mock.render(call, reply, usage, "r1", 1)
    plan = mock.render_stream(call, reply, usage, "r1", 1)
    events = [*plan.head, *plan.tokens, *plan.tail]
    req = codec.decode_chat_request(body)

    def translated() -> object:
        orjson.dumps(codec.encode_chat_request(req, model="m"))
        resp = codec.decode_chat_response(orjson.loads(whole))
        return codec.encode_chat_response(resp, model="alias")

    def relayed() -> object:
        orjson.dumps(passthrough.prepare(body, "m", False))
        return passthrough.reply(orjson.loads(whole), whole, "alias")

    def translated_stream() -> object:
        parser, decoder = SSEParser(), codec.ChatStreamDecoder()
        encoder = codec.ChatStreamEncoder(model="alias", include_usage=True)
        return [encoder.encode(c) for e in events for ev in parser.feed(e)
                for c in decoder.feed(ev)]  # fmt: skip

    def relayed_stream() -> object:
        scanner = passthrough.scanner("alias", True, Usage)
        return [scanner.block(e) for e in events]

    for label, fn in (
        (name, translated),
        (name + " passthrough", relayed),
        (name + "-stream", translated_stream),
        (name + "-stream passthrough", relayed_stream),
    ):
        best = min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6
        extra = f" ({len(events)} events)" if "stream" in label else ""
        print(f"{label}: {best:.2f} us per call{extra}")


def _gateway(procs: Procs, work: Path, mock: int) -> tuple[subprocess.Popen[bytes], int, str]:
    admin_key = "lga-bench-" + secrets.token_hex(20)
    conf = work / "gateway.yaml"
    conf.write_text(CONFIG.format(db=work / "lockgate.db", mock=mock))
    port = free_port()
    exe = [str(VENV_BIN / "lockgate"), "serve", "--config", str(conf), "--port", str(port)]
    env = {"LOCKGATE_ADMIN_KEY": admin_key, "PYTHONUNBUFFERED": "1"}
    proc = procs.start("lockgate", ["taskset", "-c", CORE_PROXY, *exe], env=env, cwd=work)
    wait_http(f"http://127.0.0.1:{port}/healthz", proc, 60)
    auth = {"authorization": f"Bearer {admin_key}"}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}/admin/v1", headers=auth) as admin:
        admin.post("/tenants", json={"name": "bench"}).raise_for_status()
        r = admin.post("/tenants/bench/apps", json={"name": "bench", "plan": "bench"})
        r.raise_for_status()
        r = admin.post(f"/apps/{r.json()['id']}/keys", json={})
        r.raise_for_status()
        return proc, port, str(r.json()["key"])


def _measure(
    procs: Procs, pid: int, port: int, key: str, case: str, args: argparse.Namespace
) -> tuple[float, int]:
    path, fields = CASES[case]
    body = orjson.dumps({**fields, "messages": [{"role": "user", "content": PROMPT}]})
    url = f"http://127.0.0.1:{port}{path}"
    headers = {"authorization": f"Bearer {key}", "anthropic-version": "2023-06-01"}
    check = httpx.post(url, content=body, headers=headers, timeout=30)
    if check.status_code != 200:
        raise RuntimeError(f"{case}: {check.status_code} {check.text[:300]}")
    os.environ["BENCH_BODY"] = body.decode()
    os.environ["BENCH_HEADERS"] = "\n".join(f"{k}: {v}" for k, v in headers.items())
    wrk = ["taskset", "-c", CORE_LOAD, tool("wrk"), "-t1", f"-c{args.connections}"]
    wrk += [f"-d{args.duration:.0f}s", "-s", str(BENCH / "post.lua"), url]
    before = _cpu_seconds(pid)
    code, out, _ = run_captured(procs, wrk, args.duration + 60)
    spent = _cpu_seconds(pid) - before
    found = re.search(r"(\d+) requests in", out)
    if code != 0 or found is None or "Non-2xx" in out:
        raise RuntimeError(f"{case}: wrk failed: {out[-400:]}")
    count = int(found.group(1))
    return spent / max(count, 1) * 1e6, count


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(143)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
