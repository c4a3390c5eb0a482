"""An asyncio loop whose clock is virtual: when nothing is ready, time jumps to the next timer.

Timeout tests on it do not depend on the machine's speed. A 10 s header timeout fires after
the client's last byte in (virtual) 10 s, never early because the machine is loaded and never
late; a test can assert exactly when it fired. Real I/O still flows: the loop first asks the
selector what is ready (waiting a moment for loopback bytes in flight) and only when nothing
is does it move the clock to the next scheduled callback. With nothing scheduled it waits for
real I/O as any loop does.

Tests opt in with ``@pytest.mark.virtual_time`` (see the ``pytest_asyncio_loop_factories``
hooks in the conftest files). Such tests must not wait on threads or other processes, nor on
anything else that takes real time: the clock would jump past it. A raw client socket needs
TCP_NODELAY (asyncio's transports set it), or Nagle holds small writes for a delayed ACK.
"""

from __future__ import annotations

import asyncio
import selectors
from typing import Any

# Real seconds the selector may wait for loopback I/O before the clock jumps. Loopback delivery
# is immediate in practice; this only absorbs scheduling hiccups and costs nothing when busy.
REAL_GRACE = 0.001
START = 1000.0  # not 0: code may use 0.0 to mean "no deadline"


class _JumpingSelector(selectors.BaseSelector):
    def __init__(self, loop: VirtualTimeLoop) -> None:
        self._real = selectors.DefaultSelector()
        self._loop = loop
        self._jumped = False  # the last select found nothing: no I/O can still be in flight

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._real.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.modify(fileobj, events, data)

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is not None and timeout <= 0:
            return self._real.select(0)
        events = self._real.select(0 if self._jumped else REAL_GRACE)
        if events:
            self._jumped = False
            return events
        if timeout is None:
            self._jumped = False
            return self._real.select(None)  # nothing scheduled: only real I/O can come
        self._jumped = True
        self._loop.advance(timeout)
        return []

    def close(self) -> None:
        self._real.close()

    def get_map(self) -> Any:
        return self._real.get_map()


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self._virtual_now = START
        super().__init__(_JumpingSelector(self))

    def time(self) -> float:
        return self._virtual_now

    def advance(self, seconds: float) -> None:
        self._virtual_now += seconds


def new_loop() -> asyncio.AbstractEventLoop:
    return VirtualTimeLoop()
