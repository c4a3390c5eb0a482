#!/usr/bin/env python3
"""Alternating A/B throughput of two Lockgate source trees on this harness (hot-path checks).

A runs with ``PYTHONPATH=A_SRC`` (e.g. a detached worktree of main: ``git worktree add
--detach /tmp/ab-main main``, then ``--a-src /tmp/ab-main/src``), B with this checkout; each
round starts a fresh gateway per side, in the order A B, B A, A B, ..., and runs wrk -c32 on
it (the throughput figure of bench/run.py). Besides requests/s it reports the gateway's own
CPU time per request (user + system, from /proc), which other load on a shared machine
disturbs far less than throughput. Prints every run and the medians: medians of alternating
runs are what to compare, never one run.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
from pathlib import Path

_HERE = Path(__file__).resolve().parent
if not any(Path(p or ".").resolve() == _HERE for p in sys.path):
    sys.path.insert(0, str(_HERE))

from lgbench.common import CLK_TCK, CORE_LOAD, SCRATCH, log  # noqa: E402
from lgbench.measure import run_wrk  # noqa: E402
from lgbench.procs import Procs  # noqa: E402
from lgbench.targets import start_lockgate, start_nginx  # noqa: E402


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--a-src", type=Path, required=True, help="src/ directory of side A")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--duration", type=float, default=10)
    args = p.parse_args(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)  # so the finally below stops every process
    SCRATCH.mkdir(parents=True, exist_ok=True)
    procs = Procs(SCRATCH)
    runs: dict[str, list[float]] = {"A": [], "B": []}
    cpu_us: dict[str, list[float]] = {"A": [], "B": []}
    try:
        with tempfile.TemporaryDirectory(prefix="lg-ab-") as raw:
            tmp = Path(raw)
            nginx = start_nginx(procs, tmp, "nginx-direct", CORE_LOAD, None)
            for n in range(args.rounds):
                for side in ("A", "B") if n % 2 == 0 else ("B", "A"):
                    if side == "A":
                        os.environ["PYTHONPATH"] = str(args.a_src.resolve())
                    else:
                        os.environ.pop("PYTHONPATH", None)
                    work = tmp / f"{side}{n}"
                    work.mkdir()
                    lg = start_lockgate(procs, work, nginx.port, nginx.port)
                    assert lg.proc is not None
                    try:
                        before = cpu_seconds(lg.proc.pid)
                        run, count = run_wrk(procs, lg, args.duration, 10)
                        per_request = (cpu_seconds(lg.proc.pid) - before) / max(count, 1) * 1e6
                    finally:
                        procs.stop(lg.proc)
                    runs[side].append(run.value)
                    cpu_us[side].append(per_request)
                    mark = "" if run.valid else " (invalid)"
                    log(
                        f"round {n + 1} {side}: {run.value:,.0f} req/s{mark}, "
                        f"{per_request:.1f} CPU us/request, foreign CPU {run.foreign_cpu:.0f}%"
                    )
    finally:
        os.environ.pop("PYTHONPATH", None)
        procs.stop_all()
    for side in ("A", "B"):
        print(
            f"{side}: median {statistics.median(runs[side]):,.0f} req/s "
            f"{[round(x) for x in runs[side]]}; median "
            f"{statistics.median(cpu_us[side]):.1f} CPU us/request "
            f"{[round(x, 1) for x in cpu_us[side]]}"
        )
    a, b = statistics.median(cpu_us["A"]), statistics.median(cpu_us["B"])
    print(f"CPU per request B/A {b / a:.3f}")
    return 0


def _on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(143)


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
