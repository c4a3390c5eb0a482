"""Shutdown after a burst of requests that never yielded to the loop.

The usage pump waited with ``asyncio.wait_for(event.wait(), interval)``; on Python 3.11 that
can swallow the cancellation that shutdown sends when it coincides with the wait ending, and the
gateway then never finished shutting down. The admission microbenchmark drives the pipeline in
exactly this way (thousands of requests whose awaits all complete at once) and hung at its
first shutdown, so it is the regression test: it must finish, and print its table.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "admission.py"


def test_the_admission_benchmark_runs_and_its_gateways_shut_down() -> None:
    try:
        done = subprocess.run(
            [sys.executable, str(BENCH), "--n", "2000", "--repeats", "1"],
            capture_output=True,
            text=True,
            timeout=90,
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError("a gateway did not finish shutting down") from exc
    assert done.returncode == 0, done.stderr
    assert "| full set, memory state |" in done.stdout
