"""Overload: Lockgate at twice its sustainable rate, with and without shedding, then recovery.

Layout as for the main benchmark: nginx (canned completion) and hey on core 0, Lockgate alone
on core 1. For each configuration (``server.limits`` shedding off, then on):

1. sustainable rate R: wrk -c32 for ``--duration`` seconds (closed loop, the throughput figure);
2. overload: hey with ``--workers`` workers at 2R in all for ``--overload`` seconds; Lockgate's
   RSS sampled every 0.5 s. hey workers are closed loops, so a gateway that queues slows its
   own offered load: the offered rate achieved is reported next to the target;
3. recovery: right after, hey at R/2 (10 workers) for ``--duration`` seconds.

Figures: requests answered 200 and their p50/p99, requests shed (503) and their p99, other
errors, RSS before / peak / after, and whether the recovery phase was all 200 at a low p99.
"""

from __future__ import annotations

import argparse
import math
import os
import secrets
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from .common import BENCH, CORE_LOAD, CORE_PROXY, SCRATCH, VENV_BIN, chat_body, log
from .measure import percentile, rss_kb, run_wrk
from .procs import Procs, free_port, run_captured, wait_http
from .targets import Target, render, start_nginx
from .tools import tool

CONFIGS = {
    # server.limits of each configuration, pasted into lockgate.overload.yaml.tmpl
    "shedding off": "{max_in_flight: 0, max_loop_lag: 0, max_connections_per_ip: 0}",
    "shedding on": "{max_in_flight: 64, max_connections_per_ip: 0}",
}


@dataclass
class Phase:
    seconds: float
    ok_ms: list[float] = field(default_factory=list)
    shed_ms: list[float] = field(default_factory=list)
    other: int = 0

    def row(self) -> dict[str, Any]:
        total = len(self.ok_ms) + len(self.shed_ms) + self.other
        return {
            "offered_rps": round(total / self.seconds),
            "ok_rps": round(len(self.ok_ms) / self.seconds),
            "ok_p50_ms": round(percentile(self.ok_ms, 0.5), 2),
            "ok_p99_ms": round(percentile(self.ok_ms, 0.99), 2),
            "shed": len(self.shed_ms),
            "shed_p99_ms": round(percentile(self.shed_ms, 0.99), 2) if self.shed_ms else None,
            "other_errors": self.other,
        }


def hey_phase(procs: Procs, t: Target, seconds: int, workers: int, qps: int) -> Phase:
    args = ["taskset", "-c", CORE_LOAD, tool("hey"), "-z", f"{seconds}s"]
    args += ["-c", str(workers), "-q", str(qps), "-m", "POST", "-T", "application/json"]
    args += ["-o", "csv", "-t", "30"]
    for k, v in t.headers.items():
        args += ["-H", f"{k}: {v}"]
    args += ["-d", chat_body(t.model), t.url]
    _, out, _ = run_captured(procs, args, seconds + 90)
    phase = Phase(float(seconds))
    for line in out.splitlines()[1:]:
        cols = line.split(",")
        if len(cols) < 7:
            continue
        try:
            latency, status = float(cols[0]) * 1000.0, int(cols[6])
        except ValueError:
            phase.other += 1
            continue
        if status == 200:
            phase.ok_ms.append(latency)
        elif status == 503:
            phase.shed_ms.append(latency)
        else:
            phase.other += 1
    return phase


class RssSampler(threading.Thread):
    def __init__(self, pid: int, every: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.samples: list[int] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.every):
            self.samples.append(rss_kb(self.pid))


def start_lockgate(procs: Procs, tmp: Path, upstream: int, limits: str) -> Target:
    admin_key = "lga-bench-" + secrets.token_hex(20)
    conf = tmp / "lockgate.overload.yaml"
    conf.write_text(
        render(
            "lockgate.overload.yaml.tmpl",
            db_path=tmp / "lockgate.db",
            upstream_port=upstream,
            limits=limits,
        )
    )
    port = free_port()
    args = ["taskset", "-c", CORE_PROXY, str(VENV_BIN / "lockgate"), "serve", "--config", str(conf)]
    env = {"LOCKGATE_ADMIN_KEY": admin_key, "PYTHONUNBUFFERED": "1"}
    proc = procs.start("lockgate", [*args, "--port", str(port)], env=env, cwd=tmp)
    wait_http(f"http://127.0.0.1:{port}/healthz", proc, 60)
    auth = {"authorization": f"Bearer {admin_key}"}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}/admin/v1", headers=auth) as admin:
        admin.post("/tenants", json={"name": "bench"}).raise_for_status()
        r = admin.post("/tenants/bench/apps", json={"name": "bench", "plan": "bench"})
        r.raise_for_status()
        r = admin.post(f"/apps/{r.json()['id']}/keys", json={})
        r.raise_for_status()
        key = str(r.json()["key"])
    return Target("lockgate", port, "bench-chat", {"Authorization": f"Bearer {key}"}, proc=proc)


def measure(
    procs: Procs, tmp: Path, upstream: int, name: str, args: argparse.Namespace
) -> dict[str, Any]:
    workdir = tmp / name.replace(" ", "-")
    workdir.mkdir()
    lg = start_lockgate(procs, workdir, upstream, CONFIGS[name])
    assert lg.proc is not None
    try:
        lg.verify()
        if lg.error:
            raise RuntimeError(f"{name}: {lg.error}")
        run, _ = run_wrk(procs, lg, args.duration, 0)
        rate = run.value
        log(f"{name}: sustainable {rate:,.0f} req/s (wrk -c32)")
        before = rss_kb(lg.proc.pid)
        sampler = RssSampler(lg.proc.pid)
        sampler.start()
        qps = max(1, math.ceil(2 * rate / args.workers))
        over = hey_phase(procs, lg, args.overload, args.workers, qps)
        sampler.stopped.set()
        sampler.join()
        log(f"{name}: overload {over.row()}")
        calm_qps = max(1, round(rate / 2 / 10))
        calm = hey_phase(procs, lg, int(args.duration), 10, calm_qps)
        log(f"{name}: recovery {calm.row()}")
        after = rss_kb(lg.proc.pid)
        return {
            "config": CONFIGS[name],
            "sustainable_rps": round(rate),
            "target_rps": qps * args.workers,
            "overload": over.row(),
            "recovery": calm.row(),
            "recovery_target_rps": calm_qps * 10,
            "rss_mib": {
                "before": round(before / 1024, 1),
                "peak": round(max(sampler.samples or [before]) / 1024, 1),
                "after": round(after / 1024, 1),
            },
        }
    finally:
        procs.stop(lg.proc)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--duration", type=float, default=8, help="wrk and recovery seconds")
    p.add_argument("--overload", type=int, default=15, help="seconds at twice the rate")
    p.add_argument("--workers", type=int, default=256, help="hey workers in the overload")
    p.add_argument("--results", type=Path, default=BENCH / "RESULTS.md")
    args = p.parse_args(argv)
    SCRATCH.mkdir(parents=True, exist_ok=True)
    procs = Procs(SCRATCH)
    started = time.time()
    load_before = os.getloadavg()[0]
    try:
        with tempfile.TemporaryDirectory(prefix="lg-overload-") as raw:
            tmp = Path(raw)
            nginx = start_nginx(procs, tmp, "nginx-direct", CORE_LOAD, None)
            figures = {name: measure(procs, tmp, nginx.port, name, args) for name in CONFIGS}
    finally:
        procs.stop_all()
    loads = (load_before, os.getloadavg()[0])
    section = report(figures, args, time.time() - started, loads)
    print(section)
    if args.results.exists():
        args.results.write_text(replace_section(args.results.read_text(), section))
    return 0


def report(
    figures: dict[str, dict[str, Any]],
    args: argparse.Namespace,
    wall: float,
    loads: tuple[float, float],
) -> str:
    cmd = (
        f"`.venv/bin/python bench/overload.py --duration {args.duration:g} "
        f"--overload {args.overload} --workers {args.workers}`"
    )
    lines = [
        "## Overload (twice the sustainable rate, then recovery)",
        "",
        f"Command: {cmd} ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"wall time {wall / 60:.1f} min). Layout as above: nginx and hey on core 0, Lockgate "
        "alone on core 1. Sustainable rate R = wrk -c32; overload = hey with "
        f"{args.workers} workers whose rates add up to 2R for {args.overload} s; recovery = "
        f"hey, 10 workers at R/2 in all, for {args.duration:g} s right after. hey workers are "
        "closed loops: a gateway that queues slows the load it is offered, so the offered rate "
        "achieved is shown beside the target. 1-minute load average of the machine (2 cores) "
        f"before / after: {loads[0]:.1f} / {loads[1]:.1f}; other work on the machine lowers R "
        "and raises every latency here, so compare the rows of one run, not runs.",
        "",
        "| server.limits | R req/s | target | offered | 200/s | 200 p50 ms | 200 p99 ms "
        "| 503 | 503 p99 ms | other errors | RSS before / peak / after MiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, f in figures.items():
        o, rss = f["overload"], f["rss_mib"]
        lines.append(
            f"| {name}: `{f['config']}` | {f['sustainable_rps']:,} | {f['target_rps']:,} "
            f"| {o['offered_rps']:,} | {o['ok_rps']:,} | {o['ok_p50_ms']} | {o['ok_p99_ms']} "
            f"| {o['shed']:,} | {o['shed_p99_ms']} | {o['other_errors']} "
            f"| {rss['before']} / {rss['peak']} / {rss['after']} |"
        )
    lines += [
        "",
        "Recovery (right after the overload, at R/2):",
        "",
        "| server.limits | target | offered | 200/s | 200 p50 ms | 200 p99 ms | 503 | other |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, f in figures.items():
        r = f["recovery"]
        lines.append(
            f"| {name} | {f['recovery_target_rps']:,} | {r['offered_rps']:,} | {r['ok_rps']:,} "
            f"| {r['ok_p50_ms']} | {r['ok_p99_ms']} | {r['shed']} | {r['other_errors']} |"
        )
    return "\n".join(lines) + "\n"


def replace_section(text: str, section: str) -> str:
    """``text`` with its Overload section (up to the next ``## `` heading) replaced, or with
    ``section`` appended when it has none; the notes written under it by hand go with it."""
    marker = "\n## Overload"
    if marker not in text:
        return text.rstrip("\n") + "\n\n" + section
    start = text.index(marker) + 1
    end = text.find("\n## ", start)
    rest = text[end + 1 :] if end >= 0 else ""
    return text[:start] + section + ("\n" + rest if rest else "")
