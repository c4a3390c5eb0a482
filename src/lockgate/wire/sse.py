"""Server-sent events: an incremental parser for upstream streams and an encoder for clients.

The parser follows the WHATWG event-stream rules that matter for model APIs: lines end in LF,
CR or CRLF (a CRLF split across two feeds is handled); ``data`` lines of one event are joined
with LF; a blank line dispatches; lines starting with ``:`` are comments; ``id`` and ``retry``
are ignored. An event with no data line is not dispatched. One event (its data lines together,
or a line still waiting for its end) may hold at most ``max_event_bytes``: past that the parser
raises ``EventTooLarge`` rather than buffer without bound.
"""

from __future__ import annotations

from dataclasses import dataclass


class EventTooLarge(ValueError):
    """A server-sent event (or one line of it) is larger than the parser's bound."""


@dataclass(slots=True, frozen=True)
class SSEEvent:
    data: str
    event: str | None = None


class SSEParser:
    """Feed raw bytes as they arrive; get back the events they complete."""

    __slots__ = ("_buf", "_data", "_event", "_pending_cr", "_size", "max_event_bytes")

    def __init__(self, max_event_bytes: int = 16 * 1024 * 1024) -> None:
        self._buf = b""
        self._data: list[str] = []
        self._size = 0  # bytes of the data lines of the event being read
        self._event: str | None = None
        self._pending_cr = False
        self.max_event_bytes = max_event_bytes

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        if self._pending_cr and chunk.startswith(b"\n"):
            chunk = chunk[1:]
        self._pending_cr = False
        buf = self._buf + chunk
        events: list[SSEEvent] = []
        start = 0
        n = len(buf)
        while start < n:
            lf = buf.find(b"\n", start)
            cr = buf.find(b"\r", start, lf if lf >= 0 else n)
            if cr >= 0:
                end, nxt = cr, cr + 1
                if nxt < n and buf[nxt] == 0x0A:
                    nxt += 1
                elif nxt == n:
                    self._pending_cr = True
            elif lf >= 0:
                end, nxt = lf, lf + 1
            else:
                break
            self._line(buf[start:end], events)
            start = nxt
        self._buf = buf[start:]
        if len(self._buf) > self.max_event_bytes:
            raise EventTooLarge(f"a server-sent event line exceeds {self.max_event_bytes} bytes")
        return events

    def close(self) -> list[SSEEvent]:
        """End of stream: a final event without its blank line is still delivered."""
        events: list[SSEEvent] = []
        if self._buf:
            self._line(self._buf, events)
            self._buf = b""
        self._line(b"", events)
        return events

    def _line(self, raw: bytes, events: list[SSEEvent]) -> None:
        if not raw:
            if self._data:
                events.append(SSEEvent("\n".join(self._data), self._event))
            self._data = []
            self._event = None
            self._size = 0
            return
        if raw[0] == 0x3A:  # ':' comment
            return
        line = raw.decode("utf-8", "replace")
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._size += len(raw)
            if self._size > self.max_event_bytes:
                raise EventTooLarge(f"a server-sent event exceeds {self.max_event_bytes} bytes")
            self._data.append(value)
        elif name == "event":
            self._event = value


def encode_event(data: bytes, event: str | None = None) -> bytes:
    """One event for a client. ``data`` must not contain newlines (compact JSON never does)."""
    if event is None:
        return b"data: " + data + b"\n\n"
    return b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"
