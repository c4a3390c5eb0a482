#!/usr/bin/env python3
"""Reproduce the SPEC section 6 measurement: Lockgate beside nginx, LiteLLM and Portkey.

Layout (2 cores): the upstream (one nginx worker, or ``lockgate mock-upstream`` for streaming),
the load generators (wrk, hey, the raw-socket TTFT client = this process) on core 0; the
proxy under test on core 1. Every target is measured in every round, the order rotating per
round, so a disturbance hits one run rather than one target. See bench/README.md.

Stdlib + httpx only. Everything listens on 127.0.0.1 and every process started here is killed
(process group) on exit, including Ctrl-C.

This file is only the entry point; the harness lives in bench/lgbench/ (cli.py: the main
sequence; one module per concept).
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
if not any(Path(p or ".").resolve() == _HERE for p in sys.path):  # e.g. run via runpy
    sys.path.insert(0, str(_HERE))

from lgbench.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
