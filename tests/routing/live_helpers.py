"""Real ``lockgate mock-upstream`` processes for routing tests, with the e2e harness."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))

from harness import Proc, free_port


class MockUpstreams:
    """Starts mock upstreams (several at once, so their start-ups overlap); stops them all."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.started: list[Proc] = []

    def __call__(self, *flags: str, port: int | None = None) -> Proc:
        [proc] = self.many(flags, ports=[port])
        return proc

    def many(self, *specs: Sequence[str], ports: Sequence[int | None] = ()) -> list[Proc]:
        procs = []
        for i, flags in enumerate(specs):
            port = (ports[i] if i < len(ports) else None) or free_port()
            log = self.tmp / f"mock-{port}-{len(self.started)}.log"
            proc = Proc(["mock-upstream", "--port", str(port), *flags], port, log=log)
            self.started.append(proc)
            procs.append(proc)
        for proc in procs:
            proc.wait_ready("/_mock/stats")
        return procs

    def stop_all(self) -> None:
        for proc in self.started:
            proc.stop()


__all__ = ["MockUpstreams", "Proc", "free_port"]
