"""``LeanServer``: lifespan, listening socket, graceful shutdown; ``run`` for the CLI."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import signal
import socket
from collections.abc import Callable
from typing import Any, Final

from lockgate.serving.context import ASGIApp, ServerContext, ServerLimits
from lockgate.serving.lifespan import Lifespan
from lockgate.serving.protocol import HttpProtocol

log = logging.getLogger("lockgate.serving")

BACKLOG = 2048
TLS_CONTEXT: Final = "tls_context"  # attribute of the app: an ssl.SSLContext, or None
# After graceful_timeout, how long cancelled app tasks get to unwind (close upstreams, log).
CANCEL_GRACE = 5.0
SIGNALS: Final = (signal.SIGTERM, signal.SIGINT)  # handled by `run` in a single process


class LeanServer:
    def __init__(
        self,
        app: ASGIApp,
        *,
        host: str,
        port: int,
        limits: ServerLimits = ServerLimits(),  # noqa: B008 - frozen, safe to share
        graceful_timeout: float = 30.0,
        sock: socket.socket | None = None,
    ) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.limits = limits
        self.graceful_timeout = graceful_timeout
        self.sock = sock
        self.should_exit = False
        self.force_exit = False
        self._bound_port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._exit: asyncio.Event | None = None
        self._force: asyncio.Event | None = None

    @property
    def bound_port(self) -> int:
        return self._bound_port

    def request_shutdown(self) -> None:
        """Begin a graceful shutdown; a second request skips the wait for in-flight requests."""
        if self.should_exit:
            self.force_exit = True
        self.should_exit = True
        loop, done, force = self._loop, self._exit, self._force
        if loop is not None and done is not None and force is not None and not loop.is_closed():
            loop.call_soon_threadsafe(done.set)
            if self.force_exit:
                loop.call_soon_threadsafe(force.set)

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._exit = asyncio.Event()
        self._force = asyncio.Event()
        if self.should_exit:
            self._exit.set()
        ctx = ServerContext(self.app, loop, self.limits)
        lifespan = Lifespan(self.app, ctx.state, ctx.asgi)
        await lifespan.startup()
        ctx.start_clock()
        ctx.overload.start()
        try:
            listener = await self._listen(loop, ctx)
            host, port = listener.sockets[0].getsockname()[:2]
            self._bound_port = port
            log.info("Listening on %s://%s:%d", "https" if ctx.tls else "http", host, port)
            await self._exit.wait()
            listener.close()
            await self._drain(ctx)
        finally:
            ctx.stop_clock()
            await lifespan.shutdown()

    async def _listen(self, loop: asyncio.AbstractEventLoop, ctx: ServerContext) -> asyncio.Server:
        def factory() -> HttpProtocol:
            return HttpProtocol(ctx)

        # The app may terminate TLS (server.tls): it owns the context and swaps certificates.
        ssl_context = getattr(self.app, TLS_CONTEXT, None)
        ctx.tls = ssl_context is not None
        if self.sock is not None:
            return await loop.create_server(
                factory, sock=self.sock, backlog=BACKLOG, ssl=ssl_context
            )
        return await loop.create_server(
            factory,
            host=self.host,
            port=self.port,
            backlog=BACKLOG,
            reuse_address=True,
            ssl=ssl_context,
        )

    async def _drain(self, ctx: ServerContext) -> None:
        """Close idle connections now; let busy ones finish up to graceful_timeout."""
        ctx.shutting_down = True
        for conn in list(ctx.connections):
            conn.shutdown()
        assert self._force is not None
        force = asyncio.ensure_future(self._force.wait())
        deadline = ctx.loop.time() + self.graceful_timeout
        try:
            while ctx.connections and not force.done():
                remaining = deadline - ctx.loop.time()
                if remaining <= 0:
                    break
                # Connections leave the set from connection_lost; polling keeps that path free
                # of per-connection futures and the wait short.
                await asyncio.wait({force}, timeout=min(0.05, remaining))
        finally:
            force.cancel()
        tasks = []
        for conn in list(ctx.connections):
            if conn.task is not None and not conn.task.done():
                conn.task.cancel()
                tasks.append(conn.task)
            conn.abort()
        if tasks:
            await asyncio.wait(tasks, timeout=CANCEL_GRACE)
        ctx.connections.clear()


def run(
    app_factory: str | None = None,
    *,
    app: ASGIApp | None = None,
    host: str,
    port: int,
    workers: int = 1,
    graceful_timeout: float,
    limits: ServerLimits = ServerLimits(),  # noqa: B008 - frozen, safe to share
    sock: socket.socket | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT (SIGHUP is left to the app), on uvloop.

    ``sock``, if given, is a listening socket already bound (see ``workers.bind``): the CLI
    binds before it prints anything, so a port in use is one clear error, not a traceback.

    Give ``app`` or ``app_factory`` ("module:callable", called with no arguments inside the
    event loop, like uvicorn's factory mode). ``workers=1`` serves in this process; more need
    ``app_factory``: each worker process builds its own app (see workers.py). SIGTERM drains
    gracefully; so does SIGINT, and a second one stops waiting for in-flight requests.
    Raises SystemExit(1) when every worker process exited without being asked to.
    """
    if (app is None) == (app_factory is None):
        raise ValueError("give exactly one of app_factory and app")
    if workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    if workers > 1:
        if app_factory is None:
            raise ValueError("workers > 1 needs app_factory: each worker builds its own app")
        from lockgate.serving.workers import supervise

        supervise(
            app_factory,
            host=host,
            port=port,
            workers=workers,
            graceful_timeout=graceful_timeout,
            limits=limits,
            sock=sock,
        )
        return
    if app is not None:
        load = given(app)
    else:
        assert app_factory is not None
        load = factory_loader(app_factory)
    serve_process(
        load,
        host=host,
        port=port,
        sock=sock,
        graceful_timeout=graceful_timeout,
        limits=limits,
        signals=SIGNALS,
    )


def given(app: ASGIApp) -> Callable[[], ASGIApp]:
    return lambda: app


def factory_loader(spec: str) -> Callable[[], ASGIApp]:
    """A callable that imports ``module:callable`` and calls it to build the app."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"app factory must look like 'module:callable', not {spec!r}")

    def load() -> ASGIApp:
        target: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            target = getattr(target, part)
        app: ASGIApp = target()
        return app

    return load


def serve_process(
    load: Callable[[], ASGIApp],
    *,
    host: str,
    port: int,
    sock: socket.socket | None,
    graceful_timeout: float,
    limits: ServerLimits,
    signals: tuple[int, ...],
) -> None:
    """Build the app with ``load`` inside a uvloop loop and serve it until one of ``signals``."""
    import uvloop

    pid = os.getpid()
    log.info("Started server process [%d]", pid)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        received: list[int] = []
        server: LeanServer | None = None

        def on_signal(sig: int) -> None:
            received.append(sig)
            if server is not None:
                stop(server, sig)

        # Installed before the app is built so an early SIGTERM is a clean stop, not a kill.
        for sig in signals:
            loop.add_signal_handler(sig, on_signal, sig)
        try:
            server = LeanServer(
                load(),
                host=host,
                port=port,
                limits=limits,
                graceful_timeout=graceful_timeout,
                sock=sock,
            )
            for early in received:
                stop(server, early)
            await server.serve()
        finally:
            for sig in signals:
                with contextlib.suppress(ValueError, RuntimeError):
                    loop.remove_signal_handler(sig)

    uvloop.run(main())
    log.info("Finished server process [%d]", pid)


def stop(server: LeanServer, sig: int) -> None:
    """SIGTERM: graceful, however often it comes (systemd and our parent may both send one).

    SIGINT: graceful, and a second one stops waiting for in-flight requests (as uvicorn).
    SIGQUIT: no waiting at all; a worker's parent sends it on its second stop signal.
    """
    if sig == signal.SIGQUIT:
        if not server.should_exit:
            server.request_shutdown()
        server.request_shutdown()  # a second request cuts the drain short
    elif not server.should_exit or sig == signal.SIGINT:
        server.request_shutdown()
