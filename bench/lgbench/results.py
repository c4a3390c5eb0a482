"""The figures one harness run gathers."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any

from .measure import HeyResult, Run
from .targets import Target


@dataclass
class Results:
    args: argparse.Namespace
    command: str
    machine: dict[str, str]
    versions: dict[str, str]
    targets: list[Target]
    throughput: dict[str, list[Run]] = field(default_factory=dict)
    latency: dict[str, list[HeyResult]] = field(default_factory=dict)  # 10 workers x 50/s
    serial: dict[str, list[HeyResult]] = field(default_factory=dict)  # 1 worker x 500/s
    ttft: list[dict[str, Any]] = field(default_factory=list)
    ttft_error: str | None = None
    rss: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    soak: list[tuple[int, int]] = field(default_factory=list)
    soak_note: str = ""
    elapsed_s: float = 0.0
