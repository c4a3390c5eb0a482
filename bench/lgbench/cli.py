"""Reproduce the SPEC section 6 measurement: Lockgate beside nginx, LiteLLM and Portkey.

Layout (2 cores): the upstream (one nginx worker, or ``lockgate mock-upstream`` for streaming),
the load generators (wrk, hey, the raw-socket TTFT client = this process) on core 0; the
proxy under test on core 1. Every target is measured in every round, the order rotating per
round, so a disturbance hits one run rather than one target. See bench/README.md.

Stdlib + httpx only. Everything listens on 127.0.0.1 and every process started here is killed
(process group) on exit, including Ctrl-C.

This module: argument parsing and the main sequence (start targets, measure, report).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from .common import BENCH, CORE_LOAD, CORE_PROXY, SCRATCH, log
from .measure import rss_kb, run_hey, run_wrk
from .procs import Procs
from .report import report
from .results import Results
from .soak import measure_soak
from .targets import Target, start_litellm, start_lockgate, start_mock, start_nginx, start_portkey
from .tools import ensure_tools, machine, versions
from .ttft import measure_ttft


def rotate(items: list[Target], k: int) -> list[Target]:
    k %= max(len(items), 1)
    return items[k:] + items[:k]


def measure_throughput(procs: Procs, res: Results, live: list[Target]) -> None:
    a = res.args
    for t in live:
        if t.proc is not None and t.is_gateway:
            res.rss.setdefault(t.name, []).append(("before throughput", rss_kb(t.proc.pid)))
    for rnd in range(a.rounds):
        for t in rotate(live, rnd):
            run, _ = run_wrk(procs, t, a.duration, a.quiet_wait)
            res.throughput.setdefault(t.name, []).append(run)
            flag = "" if run.valid else f" INVALID ({run.note})"
            log(
                f"throughput r{rnd + 1} {t.name:13s} {run.value:9.1f} req/s"
                f"  foreign cpu {run.foreign_cpu:4.0f}%{flag}"
            )
        for t in live:
            if t.proc is not None and t.is_gateway:
                res.rss[t.name].append((f"after round {rnd + 1}", rss_kb(t.proc.pid)))


def measure_latency(procs: Procs, res: Results, live: list[Target]) -> None:
    """Each round: the SPEC's 10 workers x 50 req/s, then one worker at 500 req/s."""
    modes = (("latency", res.latency, 10, 50), ("serial", res.serial, 1, 500))
    for rnd in range(res.args.rounds):
        for label, store, workers, qps in modes:
            for t in rotate(live, rnd):
                h = run_hey(procs, t, 8, res.args.quiet_wait, workers=workers, qps=qps)
                store.setdefault(t.name, []).append(h)
                log(
                    f"{label:10s} r{rnd + 1} {t.name:13s} p50 {h.p50_ms:7.2f} ms"
                    f"  p99 {h.p99_ms:7.2f} ms  {h.rate:5.0f} req/s  errors {h.errors}"
                    f"  foreign cpu {h.foreign_cpu:4.0f}%"
                )


def run_all(procs: Procs, res: Results, tmp: Path) -> None:
    a = res.args
    wanted = set(a.targets.split(","))
    direct = start_nginx(procs, tmp, "nginx-direct", CORE_LOAD, None)
    direct.is_gateway = False
    targets = [direct]
    if "nginx-proxy" in wanted:
        targets.append(start_nginx(procs, tmp, "nginx-proxy", CORE_PROXY, direct.port))
    mock_port, _ = start_mock(procs)
    lg: Target | None = None
    if "lockgate" in wanted:
        try:
            lg = start_lockgate(procs, tmp, direct.port, mock_port, a.state)
        except (RuntimeError, httpx.HTTPError) as exc:
            err = f"did not start: {exc}\n{procs.log_tail('lockgate')}"
            lg = Target("lockgate", 0, "bench-chat", error=err)
        targets.append(lg)
    if not a.skip_peers:
        starters: list[tuple[str, Callable[[], Target]]] = [
            ("litellm", lambda: start_litellm(procs, tmp, direct.port)),
            ("portkey", lambda: start_portkey(procs, direct.port)),
        ]
        for name, start in starters:
            if name not in wanted:
                continue
            log(f"starting {name}")
            try:
                targets.append(start())
            except (RuntimeError, OSError) as exc:
                err = f"did not start: {exc}\n{procs.log_tail(name)}"
                targets.append(Target(name, 0, "m", error=err))
    res.targets = targets
    for t in targets:
        if t.error is None:
            t.verify()
        log(f"{t.name}: {'ok' if t.error is None else 'NOT MEASURED: ' + t.error}")
    live = [t for t in targets if t.error is None]
    measure_throughput(procs, res, live)
    measure_latency(procs, res, live)
    if lg is not None and lg.error is None:
        measure_ttft(res, mock_port, lg)
        if a.soak:
            measure_soak(procs, res, lg)
    elif lg is not None:
        res.ttft_error = lg.error


# --- main -----------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--rounds", type=int, default=3, help="rounds per measurement (default 3)")
    p.add_argument("--duration", type=float, default=10, help="seconds per wrk run (default 10)")
    p.add_argument("--skip-peers", action="store_true", help="only nginx and Lockgate")
    p.add_argument(
        "--targets",
        default="nginx-proxy,lockgate,litellm,portkey",
        help="comma list among nginx-proxy,lockgate,litellm,portkey (nginx-direct always runs)",
    )
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=20,
        help="before each run wait up to S seconds for other processes to idle (default 20)",
    )
    p.add_argument(
        "--state",
        default="memory",
        help="Lockgate's state backend: memory (default) or a redis:// URL (limits in Redis)",
    )
    p.add_argument("--ttft-n", type=int, default=200, help="streaming requests per side/round")
    p.add_argument("--soak", type=int, default=0, help="also send N requests, RSS every 100k")
    p.add_argument("--results", type=Path, default=BENCH / "RESULTS.md", help="report path")
    p.add_argument("--json", type=Path, default=None, help="also dump raw figures as JSON")
    return p.parse_args(argv)


def _on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with SIGINT ignored
    started = time.monotonic()
    ensure_tools(args.skip_peers)
    os.sched_setaffinity(0, {int(CORE_LOAD)})  # the TTFT client shares the load core
    command = shlex.join([".venv/bin/python", "bench/run.py", *argv])
    res = Results(args, command, machine(), versions(args.skip_peers), [])
    with tempfile.TemporaryDirectory(prefix="lockgate-bench-") as tmpdir:
        tmp = Path(tmpdir)
        procs = Procs(SCRATCH if SCRATCH.exists() else tmp)
        try:
            run_all(procs, res, tmp)
        except KeyboardInterrupt:
            log("interrupted; stopping everything")
            return 130
        finally:
            procs.stop_all()
    res.elapsed_s = time.monotonic() - started
    text = report(res)
    args.results.write_text(text)
    if args.json:
        args.json.write_text(json.dumps(_raw(res), indent=1, default=str))
    print(text)
    log(f"wrote {args.results}")
    return 0


def _raw(res: Results) -> dict[str, Any]:
    return {
        "command": res.command,
        "machine": res.machine,
        "versions": res.versions,
        "throughput": {k: [vars(r) for r in v] for k, v in res.throughput.items()},
        "latency": {k: [vars(h) for h in v] for k, v in res.latency.items()},
        "serial": {k: [vars(h) for h in v] for k, v in res.serial.items()},
        "ttft": res.ttft,
        "rss": res.rss,
        "soak": res.soak,
        "errors": {t.name: t.error for t in res.targets if t.error},
    }
