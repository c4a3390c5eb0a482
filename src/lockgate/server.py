"""``lockgate serve``: load the config, prepare the embedded default, run the HTTP server.

The server is Lockgate's own lean HTTP/1.1 server (``lockgate.serving``) unless
``--server uvicorn`` is given; both run the same ASGI app.

One worker runs in-process; ``--workers N`` runs N worker processes that each build the
gateway from the same config (which then needs shared state: ``state: redis://...``).
SIGTERM drains: the listener closes, in-flight requests (streams included) finish up to
``server.shutdown_grace`` seconds, then the process exits.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import uvicorn

from lockgate.app import Gateway
from lockgate.bootstrap import FirstKey, ensure_admin_key, ensure_first_key
from lockgate.config.default import default_config
from lockgate.config.loader import ConfigError, load_config_file
from lockgate.config.models import Config, ServerConfig
from lockgate.observability.multiproc import SharedMetrics
from lockgate.serving import ServerLimits
from lockgate.serving import run as run_lean
from lockgate.serving.workers import bind
from lockgate.store.repo import Store

ENV_CONFIG = "LOCKGATE_CONFIG_PATH"
FACTORY = "lockgate.server:app_from_env"
ENV_EXTRA_ADMIN = "LOCKGATE_BOOTSTRAP_ADMIN_KEY"
STATE_DIR = Path(".lockgate")


@dataclass(frozen=True, slots=True)
class Prepared:
    config: Config
    config_path: Path | None
    extra_admin_keys: tuple[str, ...]
    first_key: FirstKey | None
    admin_key_file: Path | None


def prepare(config_path: str | None, env: Mapping[str, str]) -> Prepared:
    """Load the config (or the embedded default and its first-start keys)."""
    if config_path is not None:
        # LOCKGATE_ADMIN_KEY is a platform-admin key with any config (SPEC section 3).
        boot = (env["LOCKGATE_ADMIN_KEY"],) if env.get("LOCKGATE_ADMIN_KEY") else ()
        cfg = load_config_file(config_path, env=env)
        return Prepared(cfg, Path(config_path), boot, None, None)
    cfg = default_config(env, STATE_DIR)
    extra: tuple[str, ...] = ()
    admin_file = None
    if not env.get("LOCKGATE_ADMIN_KEY"):
        extra = (ensure_admin_key(STATE_DIR),)
        admin_file = STATE_DIR / "admin-key"
    store = Store(cfg.storage)
    try:
        store.migrate()
        first = ensure_first_key(store, STATE_DIR)
    finally:
        store.close()
    return Prepared(cfg, None, extra, first, admin_file)


def banner(p: Prepared, host: str, port: int) -> str:
    scheme = "https" if p.config.server.tls is not None else "http"
    base = f"{scheme}://{host}:{port}"
    lines = [f"Lockgate on {base}  (OpenAI base URL: {base}/v1)"]
    if p.config_path is None:
        models = ", ".join(sorted(p.config.models))
        lines.append(f"embedded default config; models: {models}")
    if p.first_key is not None:
        if p.first_key.secret:
            lines.append(f"API key: {p.first_key.secret}   ({p.first_key.note})")
        else:
            lines.append(f"API key: {p.first_key.prefix or '-'}...   ({p.first_key.note})")
    if p.admin_key_file is not None:
        lines.append(f"admin key: in {p.admin_key_file}")
    if p.config.server.web_ui:
        lines.append(f"web console: {base}/console   developer portal: {base}/portal")
    return "\n".join(lines)


def server_limits(server: ServerConfig) -> ServerLimits:
    """``server.limits`` as the lean server's limits (the field names are the same)."""
    return ServerLimits(**server.limits.model_dump())


def listen(host: str, port: int) -> socket.socket:
    """Bind before anything is printed: a port in use is one line and exit code 1."""
    try:
        return bind(host, port)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise click.ClickException(f"cannot listen on {host}:{port}: {reason}") from None


def app_from_env() -> Gateway:
    """Factory for uvicorn worker processes (``--workers N``)."""
    path = os.environ.get(ENV_CONFIG)
    p = prepare(path, os.environ)
    extra = tuple(
        dict.fromkeys(k for k in (*p.extra_admin_keys, os.environ.get(ENV_EXTRA_ADMIN)) if k)
    )
    return Gateway(
        p.config, config_path=p.config_path, env=os.environ, extra_admin_keys=extra, tune_gc=True
    )


def serve(
    config_path: str | None,
    host: str | None,
    port: int | None,
    workers: int,
    server: str = "lean",
) -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    env = os.environ
    try:
        p = prepare(config_path, env)
    except ConfigError as err:
        raise click.ClickException(f"invalid config {config_path}:\n{err}") from None
    host = host or p.config.server.host
    port = port if port is not None else p.config.server.port
    if server == "uvicorn" and p.config.server.tls is not None:
        raise click.ClickException("server.tls is terminated by the lean server: drop --server")
    if workers > 1 and p.config.state == "memory":
        raise click.ClickException(
            "--workers > 1 needs shared state: set 'state: redis://host:6379/0' in the config"
        )
    sock = listen(host, port)
    port = sock.getsockname()[1]  # the one the system chose for --port 0
    click.echo(banner(p, host, port), err=True)
    grace = max(1.0, p.config.server.shutdown_grace)
    limits = server_limits(p.config.server)
    options = _uvicorn_options(host, port, grace, p.config.server)
    if workers > 1:
        # Worker processes rebuild the gateway from the same config (app_from_env).
        if config_path is not None:
            os.environ[ENV_CONFIG] = str(Path(config_path).resolve())
        if p.extra_admin_keys:
            os.environ[ENV_EXTRA_ADMIN] = p.extra_admin_keys[0]
        if server == "uvicorn":
            sock.close()  # uvicorn's supervisor binds its own; the check above still held
            metrics = SharedMetrics.prepare()  # the lean supervisor does this itself
            try:
                uvicorn.run(FACTORY, factory=True, workers=workers, **options)
            finally:
                metrics.close()
        else:
            run_lean(
                FACTORY,
                host=host,
                port=port,
                workers=workers,
                graceful_timeout=grace,
                limits=limits,
                sock=sock,
            )
        return
    gateway = Gateway(
        p.config,
        config_path=p.config_path,
        env=env,
        extra_admin_keys=p.extra_admin_keys,
        tune_gc=True,
    )
    if server == "uvicorn":
        sock.close()  # uvicorn binds its own (and says where); the check above still held
        uvicorn.Server(uvicorn.Config(gateway, **options)).run()
    else:
        run_lean(
            app=gateway, host=host, port=port, graceful_timeout=grace, limits=limits, sock=sock
        )


def _uvicorn_options(host: str, port: int, grace: float, server: ServerConfig) -> dict[str, Any]:
    """uvicorn honours the keep-alive timeout and the connection cap of ``server.limits``;
    the other limits are the lean server's."""
    limits = server.limits
    return dict(
        host=host,
        port=port,
        timeout_keep_alive=int(max(1, limits.keepalive_timeout)),
        limit_concurrency=limits.max_connections or None,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        timeout_graceful_shutdown=int(grace),
        log_level="info",
        ws="none",
        # Client addresses come from the socket; forwarded headers are honoured only from
        # server.trusted_proxies, by Lockgate itself, not by uvicorn's blanket default.
        proxy_headers=False,
    )
