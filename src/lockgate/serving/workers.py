"""Several worker processes on one listening socket: the parent binds, the workers serve.

The parent binds once, so every worker accepts from the same socket and a restart of the
parent is the only moment the port is unbound. Workers start with the "spawn" method: each
imports the app factory and builds its own app, so nothing the parent built (event loops,
pools, threads) is shared by accident. The socket reaches them through multiprocessing's
pickling, which passes a duplicate of the descriptor to the spawned process.

The parent only supervises: the first SIGTERM/SIGINT is forwarded as SIGTERM (graceful), any
later one as SIGQUIT (stop waiting for in-flight requests). Workers ignore SIGINT: Ctrl-C
reaches the whole process group, and a worker seeing it next to the parent's SIGTERM would
take the pair for a second, forcing, signal. Nothing is restarted: a crashed worker is logged,
and when every worker has exited without being asked the parent exits 1. On Linux a worker
whose parent dies without forwarding anything (SIGKILL, OOM killer) gets SIGTERM from the
kernel and drains, instead of serving on as an orphan nobody supervises.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import socket
import sys
import time
from multiprocessing.connection import wait as wait_ready
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Final

from lockgate.observability.multiproc import SharedMetrics
from lockgate.serving.context import ServerLimits
from lockgate.serving.server import BACKLOG, CANCEL_GRACE, SIGNALS, factory_loader, serve_process

WORKER_SIGNALS: Final = (signal.SIGTERM, signal.SIGQUIT)

log = logging.getLogger("lockgate.serving")

# Workers still alive this long after graceful_timeout (their drain, the cancel grace and the
# app's lifespan shutdown all fit in it) are killed, so a stuck one cannot outlive the parent.
KILL_MARGIN: Final = 30.0

PR_SET_PDEATHSIG: Final = 1  # linux/prctl.h


def bind(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
        # Shared by every worker's event loop, and O_NONBLOCK lives on the shared file.
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def supervise(
    app_factory: str,
    *,
    host: str,
    port: int,
    workers: int,
    graceful_timeout: float,
    limits: ServerLimits,
    sock: socket.socket | None = None,
) -> None:
    factory_loader(app_factory)  # a malformed spec fails here, not once per worker
    if sock is None:
        sock = bind(host, port)
    pid = os.getpid()
    log.info("Started parent process [%d]", pid)
    wake, wake_writer = socket.socketpair()
    wake.setblocking(False)
    wake_writer.setblocking(False)
    requested: list[int] = []

    def on_signal(sig: int, frame: FrameType | None) -> None:
        requested.append(sig)
        with contextlib.suppress(OSError):
            wake_writer.send(b"\0")  # wakes the wait below, which retries after EINTR

    previous = {sig: signal.signal(sig, on_signal) for sig in SIGNALS}
    metrics = SharedMetrics.prepare()  # before the workers start: they count into it
    try:
        args = (app_factory, sock, graceful_timeout, limits, *_log_setup(), pid)
        procs = start_workers(workers, args, requested)
        sock.close()  # the workers hold their own descriptors
        wait_for_workers(procs, requested, wake, graceful_timeout, metrics)
    finally:
        metrics.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()
        wake.close()
        wake_writer.close()
    log.info("Stopping parent process [%d]", pid)
    if not requested:
        log.error("Every worker process exited")
        raise SystemExit(1)


def start_workers(
    workers: int, args: tuple[object, ...], requested: list[int]
) -> dict[int, BaseProcess]:
    ctx = multiprocessing.get_context("spawn")
    procs: dict[int, BaseProcess] = {}
    # Workers inherit the blocked mask across exec, so a Ctrl-C while one boots stays pending
    # until worker_main ignores it, instead of a KeyboardInterrupt mid-import.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        for n in range(workers):
            if requested:
                break  # asked to stop while starting: start no more
            proc = ctx.Process(target=worker_main, args=args, name=f"lockgate-worker-{n + 1}")
            proc.start()
            assert proc.pid is not None
            procs[proc.pid] = proc
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    return procs


def wait_for_workers(
    procs: dict[int, BaseProcess],
    requested: list[int],
    wake: socket.socket,
    graceful_timeout: float,
    metrics: SharedMetrics | None = None,
) -> None:
    forwarded = 0
    kill_at: float | None = None
    killed = False
    while procs:
        pending = len(requested)  # the handler may append while we forward
        for n in range(forwarded, pending):
            _signal_all(procs, signal.SIGTERM if n == 0 else signal.SIGQUIT)
        forwarded = pending
        if requested and kill_at is None:
            kill_at = time.monotonic() + graceful_timeout + CANCEL_GRACE + KILL_MARGIN
        timeout = None
        if kill_at is not None and not killed:
            timeout = max(0.0, kill_at - time.monotonic())
        ready = wait_ready([wake, *(p.sentinel for p in procs.values())], timeout)
        if wake in ready:
            with contextlib.suppress(BlockingIOError):
                wake.recv(4096)
        elif not ready and timeout is not None:
            log.error("Killing worker processes still running after the graceful timeout")
            _signal_all(procs, signal.SIGKILL)
            killed = True
        for proc in [p for p in procs.values() if p.sentinel in ready]:
            proc.join()
            assert proc.pid is not None
            del procs[proc.pid]
            if metrics is not None:
                metrics.worker_exited(proc.pid)
            if requested:
                log.info("Worker process [%d] finished (exit code %s)", proc.pid, proc.exitcode)
            else:
                log.error(
                    "Worker process [%d] died (exit code %s); it is not restarted",
                    proc.pid,
                    proc.exitcode,
                )


def _signal_all(procs: dict[int, BaseProcess], sig: int) -> None:
    for pid in procs:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _log_setup() -> tuple[int, str | None]:
    """The parent's root level and format, for spawned workers that start unconfigured."""
    root = logging.getLogger()
    if not root.handlers:
        return root.level, None  # unconfigured here too: leave the workers' logging alone
    formatter = root.handlers[0].formatter
    return root.level, (formatter._fmt if formatter is not None else None) or "%(message)s"


def worker_main(
    app_factory: str,
    sock: socket.socket,
    graceful_timeout: float,
    limits: ServerLimits,
    log_level: int,
    log_format: str | None,
    parent: int,
) -> None:
    """A worker process: build the app from the factory and serve the inherited socket."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent's to handle, see above
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    if not die_with_parent(parent):
        return  # the parent is already gone: nobody would supervise this worker
    if log_format is not None:
        logging.basicConfig(level=log_level, format=log_format)
    serve_process(
        factory_loader(app_factory),
        host="",
        port=0,
        sock=sock,
        graceful_timeout=graceful_timeout,
        limits=limits,
        signals=WORKER_SIGNALS,
    )


def die_with_parent(parent: int) -> bool:
    """Ask the kernel for SIGTERM when the parent dies; False if it is already gone.

    The request is set first and the parent checked after, so a parent dying in between is
    still seen. Elsewhere than Linux there is no such request and this only checks.
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            log.warning("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
    return os.getppid() == parent
