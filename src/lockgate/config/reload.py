"""Hot reload: watch the config file and hand each valid new version to the application.

Polling ``(mtime_ns, size, inode)`` is portable, needs no extra dependency and sees an atomic
rename-replace (new inode) as well as an in-place write. A version that fails validation is
logged and remembered by its stamp, so it is not retried every interval, only when the file
changes again (e.g. when an editor finishes writing it).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

from lockgate.config.loader import ConfigError, Problem, load_config_file
from lockgate.config.models import Config

__all__ = ["ConfigWatcher"]

logger = logging.getLogger("lockgate.config")

Stamp = tuple[int, int, int] | None  # None: the file is missing or unreadable


class ConfigWatcher:
    """Watches a config file; on change (mtime/size/inode poll every ``interval`` s) or on
    ``trigger()`` (the app wires SIGHUP to it), loads it; a valid config is passed to
    ``on_change(cfg)``, an invalid one is logged (logger "lockgate.config", one line per
    problem) and ``on_error(problems)`` is called, the old one stays.

    ``start()`` takes the file as it is then as already applied: the application loads the
    initial config itself, before serving.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        on_change: Callable[[Config], Awaitable[None] | None],
        on_error: Callable[[list[Problem]], None] | None = None,
        interval: float = 1.0,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.path = Path(path)
        self._on_change = on_change
        self._on_error = on_error
        self._interval = interval
        self._env = env
        self._stamp: Stamp = None
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Begin polling in a task."""
        if self._task is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._stamp = self._stat()
        self._task = asyncio.create_task(self._run(), name="lockgate-config-watcher")

    def trigger(self) -> None:
        """Reload now, whether or not the file changed. Safe from a signal handler installed
        with ``loop.add_signal_handler`` and from other threads."""
        if self._loop is None or self._loop.is_closed():
            self._wake.set()  # picked up once start() runs
        else:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def reload_now(self) -> bool:
        """Load the file and apply it; True if a new config was applied."""
        async with self._lock:
            stamp = self._stat()  # taken before reading: a write during the read is seen next
            try:
                # Off the event loop: parsing must not stall requests in flight.
                cfg = await asyncio.to_thread(load_config_file, self.path, env=self._env)
            except ConfigError as err:
                self._stamp = stamp
                self._reject(err.problems)
                return False
            self._stamp = stamp
            return await self._apply(cfg)

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval):
                    await self._wake.wait()
            triggered = self._wake.is_set()
            self._wake.clear()
            try:
                stamp = self._stat()
                if triggered or stamp != self._stamp:
                    if stamp is None and not triggered:
                        self._stamp = None
                        logger.warning("config %s disappeared; keeping the current one", self.path)
                        continue
                    await self.reload_now()
            except Exception:  # the watcher must outlive any bug in a callback or the loader
                logger.exception("config watcher error; will retry on the next change")

    async def _apply(self, cfg: Config) -> bool:
        try:
            result = self._on_change(cfg)
            if inspect.isawaitable(result):
                await result
        except Exception:
            logger.exception("applying config %s failed", self.path)
            return False
        logger.info("config %s applied", self.path)
        return True

    def _reject(self, problems: list[Problem]) -> None:
        for problem in problems:
            logger.error("config %s rejected, keeping the current one: %s", self.path, problem)
        if self._on_error is not None:
            try:
                self._on_error(problems)
            except Exception:
                logger.exception("config on_error callback failed")

    def _stat(self) -> Stamp:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)
