"""The memory soak: Lockgate RSS while sending N requests in chunks (100k, or N/20 if larger)."""

from __future__ import annotations

import math
import statistics

from .common import log
from .measure import rss_kb, run_wrk
from .procs import Procs
from .results import Results
from .targets import Target


def measure_soak(procs: Procs, res: Results, lg: Target) -> None:
    total_goal = res.args.soak
    runs = res.throughput.get("lockgate", [])
    rate = statistics.median([r.value for r in runs]) if runs else 1000.0
    assert lg.proc is not None
    res.soak.append((0, rss_kb(lg.proc.pid)))
    sent = 0
    step = max(100_000, total_goal // 20)
    for _ in range(total_goal // step * 3 + 5):
        if sent >= total_goal:
            break
        chunk = min(step, total_goal - sent)
        seconds = max(2.0, math.ceil(chunk / max(rate, 1.0)))
        run, n = run_wrk(procs, lg, seconds, 0.0)
        if not run.valid:
            res.soak_note = f"stopped: invalid run after {sent} requests ({run.note})"
            break
        sent += n
        rate = max(run.value, 1.0)
        res.soak.append((sent, rss_kb(lg.proc.pid)))
        log(f"soak       {sent:9d} requests  RSS {res.soak[-1][1] / 1024:.1f} MiB")
