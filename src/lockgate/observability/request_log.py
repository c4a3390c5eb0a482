"""One structured JSON line per request on the ``lockgate.requests`` logger.

Lines are built in the usage writer's pump, never on the request path, and carry ids, not
secrets (the key's id, never the key) and no payloads. ``observability.request_log`` sets the
level (``off`` silences it). When the process has configured logging (``lockgate serve``) and
nobody configured this logger, ``install`` gives it a handler that writes the bare JSON lines
to stderr from a background thread, in chunks, so a slow terminal or pipe never stalls the
event loop.
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
from collections.abc import Sequence
from typing import Any, TextIO

import orjson

from lockgate.store.usage_repo import UsageRow
from lockgate.store.usage_tables import PICO
from lockgate.usage.record import Expanded

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}


# Columns of the stored row that the line leaves out (the app's display name, raw pico-USD).
_SKIP = frozenset({"app_name", "cost_picousd"})
_FIELDS = tuple((i, name) for i, name in enumerate(UsageRow._fields) if name not in _SKIP)


def line(e: Expanded) -> str:
    """The JSON line of one call: the stored row's columns that are set, cost in USD."""
    r = e.row
    doc: dict[str, Any] = {"event": "request"}
    for i, name in _FIELDS:
        value = r[i]
        if value is not None:
            doc[name] = value
    doc["cost"] = r.cost_picousd / PICO
    if e.guards:
        doc["guards"] = [d.as_dict() for d in e.guards]
    return orjson.dumps(doc, option=orjson.OPT_UTC_Z).decode()


class RequestLog:
    def __init__(self, level: str, logger: logging.Logger | None = None) -> None:
        self.logger = logger or logging.getLogger("lockgate.requests")
        self.level: int | None = None
        self.configure(level)
        self._handler: JsonLines | None = None

    def configure(self, level: str) -> None:
        self.level = LEVELS.get(level)  # None: off

    def consume(self, batch: Sequence[Expanded]) -> None:
        level = self.level
        if level is None or not self.logger.isEnabledFor(level):
            return
        log = self.logger.log
        for e in batch:
            log(level, line(e))

    def install(self) -> None:
        if self.logger.handlers or not logging.getLogger().handlers:
            return
        self._handler = JsonLines(sys.stderr)
        self.logger.addHandler(self._handler)
        self.logger.propagate = False

    def uninstall(self) -> None:
        if self._handler is not None:
            self.logger.removeHandler(self._handler)
            self.logger.propagate = True
            self._handler.close()
            self._handler = None


class JsonLines(logging.Handler):
    """Writes each record's message as one line, from a thread, in chunks: the event loop only
    hands the line over."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self.stream = stream
        self._lines: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._thread = threading.Thread(
            target=self._write, name="lockgate-request-log", daemon=True
        )
        self._thread.start()

    def emit(self, record: logging.LogRecord) -> None:
        self._lines.put(record.getMessage())

    def _write(self) -> None:
        lines = self._lines
        while True:
            chunk = [lines.get()]
            while not lines.empty() and len(chunk) < 1000:
                chunk.append(lines.get())
            done = chunk[-1] is None
            text = "".join(x + "\n" for x in chunk if x is not None)
            try:
                self.stream.write(text)
                self.stream.flush()
            except (OSError, ValueError):
                pass  # a closed stderr must not kill the thread
            if done:
                return

    def close(self) -> None:
        self._lines.put(None)
        self._thread.join(5)
        super().close()
