"""Prometheus across worker processes: one directory of value files shared by the workers.

The supervisor calls ``SharedMetrics.prepare()`` before it starts workers: it picks the
directory (``PROMETHEUS_MULTIPROC_DIR`` if set, else a fresh temporary one), empties it and
exports it, so each spawned worker's prometheus-client writes its values there from its first
import. ``worker_exited`` drops a dead worker's live gauges (its counters stay: they were
counted); ``close`` removes a directory this process created.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"


@dataclass(frozen=True, slots=True)
class SharedMetrics:
    path: str
    created: bool

    @classmethod
    def prepare(cls) -> SharedMetrics:
        given = os.environ.get(ENV)
        if given:
            Path(given).mkdir(parents=True, exist_ok=True)
            for stale in Path(given).glob("*.db"):
                stale.unlink()
            return cls(given, False)
        path = tempfile.mkdtemp(prefix="lockgate-metrics-")
        os.environ[ENV] = path
        return cls(path, True)

    def worker_exited(self, pid: int) -> None:
        from prometheus_client.multiprocess import mark_process_dead

        mark_process_dead(pid, self.path)  # type: ignore[no-untyped-call]

    def close(self) -> None:
        if self.created:
            shutil.rmtree(self.path, ignore_errors=True)
            if os.environ.get(ENV) == self.path:
                del os.environ[ENV]
