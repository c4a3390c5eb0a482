"""wrk / hey runs and their parsing; CPU accounting to flag disturbed runs; process RSS."""

from __future__ import annotations

import contextlib
import math
import os
import re
import resource
import time
from dataclasses import dataclass

from .common import BENCH, CLK_TCK, CORE_LOAD, FOREIGN_CPU_FLAG, chat_body
from .procs import Procs, run_captured
from .targets import Target
from .tools import tool

# --- CPU accounting (noise detection) -------------------------------------------------------


def _busy_jiffies() -> int:
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:]
    values = [int(v) for v in fields]
    return sum(values) - values[3] - values[4]  # minus idle and iowait


def _session_jiffies(sessions: set[int]) -> int:
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                raw = f.read()
        except OSError:
            continue
        rest = raw[raw.rfind(")") + 2 :].split()
        if int(rest[3]) in sessions:  # field 6: session id
            total += int(rest[11]) + int(rest[12])
    return total


def _self_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


class CpuWatch:
    """CPU used during a run by processes this harness did not start, in % of one core."""

    def __init__(self, procs: Procs) -> None:
        self.procs = procs

    def __enter__(self) -> CpuWatch:
        self.t0 = time.monotonic()
        self.busy0 = _busy_jiffies()
        self.ours0 = _session_jiffies(self.procs.sessions)
        self.self0 = _self_cpu()
        self.child_cpu = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        elapsed = max(time.monotonic() - self.t0, 1e-3)
        busy = (_busy_jiffies() - self.busy0) / CLK_TCK
        ours = (_session_jiffies(self.procs.sessions) - self.ours0) / CLK_TCK
        ours += self.child_cpu + (_self_cpu() - self.self0)
        self.foreign_pct = max(0.0, (busy - ours) / elapsed * 100.0)


def wait_quiet(procs: Procs, limit_s: float) -> float:
    """Wait (at most limit_s) for a second in which other processes use < FOREIGN_CPU_FLAG %."""
    pct = 0.0
    for _ in range(max(1, int(limit_s))):
        with CpuWatch(procs) as watch:
            time.sleep(1.0)
        pct = watch.foreign_pct
        if pct < FOREIGN_CPU_FLAG:
            break
    return pct


# --- runs -----------------------------------------------------------------------------------


@dataclass
class Run:
    value: float
    valid: bool
    foreign_cpu: float
    note: str = ""

    @property
    def disturbed(self) -> bool:
        return self.foreign_cpu >= FOREIGN_CPU_FLAG


def rss_kb(pid: int) -> int:
    """VmRSS of a process and all its descendants, in kB."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat") as f:
                    raw = f.read()
            except OSError:
                continue
            ppid = int(raw[raw.rfind(")") + 2 :].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    total, todo = 0, [pid]
    for _ in range(10_000):
        if not todo:
            break
        p = todo.pop()
        todo.extend(children.get(p, []))
        with contextlib.suppress(OSError), open(f"/proc/{p}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def wrk_env(t: Target) -> dict[str, str]:
    return {
        "BENCH_BODY": chat_body(t.model),
        "BENCH_HEADERS": "\n".join(f"{k}: {v}" for k, v in t.headers.items()),
    }


def run_wrk(procs: Procs, t: Target, duration: float, quiet: float) -> tuple[Run, int]:
    os.environ.update(wrk_env(t))  # inherited by wrk: post.lua reads them
    args = ["taskset", "-c", CORE_LOAD, tool("wrk"), "-t1", "-c32", f"-d{duration:.0f}s"]
    args += ["-s", str(BENCH / "post.lua"), t.url]
    if quiet > 0:
        wait_quiet(procs, quiet)
    with CpuWatch(procs) as watch:
        code, out, cpu = run_captured(procs, args, duration + 60)
        watch.child_cpu = cpu
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    n = re.search(r"(\d+) requests in", out)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    notes = []
    valid = code == 0 and m is not None and n is not None and int(n.group(1)) > 0
    if bad:
        valid = False
        notes.append(f"{bad.group(1)} non-2xx")
    if sock:
        errs = [int(x) for x in sock.groups()]
        if any(errs[:3]):
            valid = False
        notes.append("socket errors " + "/".join(sock.groups()) + " (connect/read/write/timeout)")
    if not valid and not notes:
        notes.append(out.strip()[-300:])
    rps = float(m.group(1)) if m else 0.0
    run = Run(rps, valid, watch.foreign_pct, "; ".join(notes))
    return run, int(n.group(1)) if n else 0


@dataclass
class HeyResult:
    p50_ms: float
    p99_ms: float
    rate: float
    errors: int
    foreign_cpu: float

    @property
    def disturbed(self) -> bool:
        return self.foreign_cpu >= FOREIGN_CPU_FLAG


def percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    s = sorted(values)
    pos = (len(s) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def run_hey(
    procs: Procs, t: Target, seconds: int, quiet: float, *, workers: int = 10, qps: int = 50
) -> HeyResult:
    """``workers`` hey workers, each sending ``qps`` requests/s (one at a time) for ``seconds``.

    hey starts every worker's ticker together, so with several workers the requests arrive
    in bursts of ``workers`` at once; one worker at 500/s gives evenly spaced single requests.
    """
    args = ["taskset", "-c", CORE_LOAD, tool("hey"), "-z", f"{seconds}s"]
    args += ["-c", str(workers), "-q", str(qps)]
    args += ["-m", "POST", "-T", "application/json", "-o", "csv"]
    for k, v in t.headers.items():
        args += ["-H", f"{k}: {v}"]
    args += ["-d", chat_body(t.model), t.url]
    if quiet > 0:
        wait_quiet(procs, quiet)
    with CpuWatch(procs) as watch:
        _, out, cpu = run_captured(procs, args, seconds + 60)
        watch.child_cpu = cpu
    times: list[float] = []
    errors = 0
    for line in out.splitlines()[1:]:
        cols = line.split(",")
        if len(cols) < 7:
            continue
        try:
            latency, status = float(cols[0]), int(cols[6])
        except ValueError:
            continue
        if status == 200:
            times.append(latency * 1000.0)
        else:
            errors += 1
    if not times:
        errors += 1
    return HeyResult(
        percentile(times, 0.5),
        percentile(times, 0.99),
        len(times) / seconds,
        errors,
        watch.foreign_pct,
    )
