"""``create_app(config)`` builds the gateway: one ASGI app whose lifespan owns every resource.

Routing is a dict lookup: the data-plane routes are served by raw ASGI handlers, the admin API
(a FastAPI app) is mounted under ``/admin/v1``, plus ``/healthz`` and ``/readyz``.

Config reload (SIGHUP or file change) builds a new ``Runtime`` and swaps the reference; a
request holds the runtime it started with until it ends. ``storage`` and ``server`` changes
need a restart and are reported as such.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import orjson

from lockgate.admin.app import create_admin_app
from lockgate.alerts import AlertDispatcher, WebhookTarget
from lockgate.apis.admin import ProductAdmin
from lockgate.apis.catalog import EMPTY, ProductIndex
from lockgate.apis.events import Announcer
from lockgate.config.loader import Problem
from lockgate.config.models import Config
from lockgate.config.reload import ConfigWatcher
from lockgate.errors import NotFound
from lockgate.identity.index import KeyIndex
from lockgate.identity.notify import IdentityNotifier, channel_for
from lockgate.identity.refresher import IdentityRefresher
from lockgate.ingress.dataplane import DataPlane
from lockgate.ingress.http import Receive, Scope, Send, send_bytes
from lockgate.limits.budget import budget_event
from lockgate.limits.counters import AlertHook, Check, Counters
from lockgate.limits.memory import MemoryCounters
from lockgate.limits.redis import RedisCounters
from lockgate.limits.report import ReportSubject, limits_report
from lockgate.observability.service import Observability
from lockgate.pipeline.finalize import Finalizer
from lockgate.routing.router import Router
from lockgate.runtime import Runtime
from lockgate.services import Services
from lockgate.serving.tls import TlsTerminator
from lockgate.state import RedisState, StateBackend, open_state
from lockgate.store.records import IdentitySnapshot
from lockgate.store.repo import Store
from lockgate.upstream import UpstreamClient
from lockgate.usage.tokenizer import encoding

log = logging.getLogger("lockgate")

ADMIN_PREFIX = "/admin/v1"
UI_PREFIXES = ("/console", "/portal", "/ui/static/")
GC_GEN0_THRESHOLD = 20_000


class Gateway:
    def __init__(
        self,
        config: Config,
        *,
        config_path: Path | None = None,
        env: Mapping[str, str] | None = None,
        extra_admin_keys: tuple[str, ...] = (),
        identity_interval: float = 0.5,
        reload_interval: float = 1.0,
        tune_gc: bool = False,
        key_prefix: str = "lg:",
        clock: Callable[[], float] = time.time,
        router: Router | None = None,
    ) -> None:
        self.config = config
        self.config_path = config_path
        self.env = env
        pools = config.server.upstream
        self.upstream = UpstreamClient(
            max_connections_per_origin=pools.pool_size,
            max_idle_per_origin=pools.max_idle,
            idle_ttl=pools.idle_ttl,
            max_stream_bytes=pools.max_stream_bytes,
            max_event_bytes=pools.max_event_bytes,
        )
        self.keys = KeyIndex.empty()
        self.state = open_state(config.state)
        self.alerts = AlertDispatcher(self.upstream)
        self.alerts.configure(webhook_targets(config))
        self.counters = open_counters(self.state, self._budget_alert)
        self.services = Services(
            keys=lambda: self.keys,
            state=self.state,
            alerts=self.alerts,
            counters=self.counters,
            key_prefix=key_prefix,
            clock=clock,
            products=lambda: self.products,
        )
        self.products: ProductIndex = EMPTY  # the store's API products and subscriptions
        # server.tls: the lean server listens with this context (serving/tls.py).
        self.tls = TlsTerminator(config.server.tls) if config.server.tls is not None else None
        self.tls_context = self.tls.context if self.tls is not None else None
        secret = config.auth.api_keys.hash_secret
        self.store = Store(
            config.storage, key_secret=secret.get_secret_value() if secret is not None else None
        )
        self.obs = Observability(
            config, self.store, alerts=self.alerts, state=self.state, gates=self.services.gates
        )
        self.runtime = Runtime(config, self.obs.client(self.upstream), self.services)
        self.router = self.obs.router(router or Router())
        self.finalizer = Finalizer()
        self.finalizer.recorders.extend(self.obs.recorders())
        self.dataplane = DataPlane(
            runtime=lambda: self.runtime,
            router=self.router,
            max_body=lambda: self.runtime.config.server.max_body_bytes,
            finalizer=self.finalizer,
        )
        admin_keys = [k.get_secret_value() for k in config.server.admin_keys]
        admin_keys.extend(extra_admin_keys)
        self.refresher = IdentityRefresher(
            self.store,
            self._set_keys,
            interval=identity_interval,
            bootstrap_admin_keys=[k for k in admin_keys if k],
            on_snapshot=self._set_products,
        )
        self.announcer = Announcer(self.store, self.alerts)  # subscription.* webhooks
        self.admin = create_admin_app(
            store=self.store,
            admin_auth=lambda secret: self.keys.admin_lookup(secret),
            on_identity_change=self._identity_changed,
            plan_names=lambda: self.runtime.config.plans.keys(),
            limits_report=self.limits_report,
            rotation_grace=lambda: self.runtime.config.auth.api_keys.rotation_grace,
            max_body_bytes=config.server.max_admin_body_bytes,
            analytics=self.obs.analytics,
            deployments_report=lambda: self.router.deployments(self.runtime),
            products=self.product_admin(),
        )
        self.admin = self.obs.audited(self.admin, lambda secret: self.keys.admin_lookup(secret))
        self.notifier: IdentityNotifier | None = None  # with Redis state: cross-replica news
        self.watcher: ConfigWatcher | None = None
        if config_path is not None:
            self.watcher = ConfigWatcher(
                config_path,
                on_change=self.apply_config,
                on_error=self._reload_failed,
                interval=reload_interval,
                env=env,
            )
        self.reloads = 0
        self.tune_gc = tune_gc
        self.web_ui = config.server.web_ui
        self._ui: Any = None  # the web UI, built on the first request for it
        self._ui_lock = asyncio.Lock()

    # --- resources ---------------------------------------------------------------------------

    async def limits_report(self, subject: ReportSubject) -> dict[str, Any]:
        """Every limit that applies to ``subject`` with its current use (the admin API)."""
        runtime = self.runtime
        models = runtime.allowed_models(subject.plan, subject.roles)
        rows = await limits_report(
            runtime.limits,
            self.counters,
            models,
            subject,
            self.services.clock(),
            self.services.key_prefix,
        )
        queues = [
            {
                "model": name,
                "max_in_flight": g.capacity,
                "in_flight": g.in_flight,
                "queued": g.queued,
            }
            for name, g in sorted(self.services.gates.items())
            if name in runtime.models
        ]
        return {"rows": rows, "queues": queues}

    def _budget_alert(self, check: Check, threshold: float, settled: float) -> None:
        self.alerts.emit("budget.threshold", budget_event(check, threshold, settled))

    def _set_keys(self, index: KeyIndex) -> None:
        self.keys = index

    def _set_products(self, snapshot: IdentitySnapshot) -> None:
        self.products = ProductIndex.from_snapshot(snapshot.products, self.products)
        if snapshot.products.unannounced:
            self.announcer.wake()

    def product_admin(self) -> ProductAdmin:
        """What the admin API's product routes read from the running gateway."""
        return ProductAdmin(
            config=lambda: self.runtime.apis,
            models=lambda: {n: r.kind for n, r in self.runtime.models.items()},
            clock=self.services.clock,
        )

    async def _identity_changed(self) -> None:
        index = await self.refresher.refresh_now()
        if self.notifier is not None:
            await self.notifier.publish(index.version)

    async def startup(self) -> None:
        await asyncio.to_thread(encoding)  # the tokenizer's vocabulary, once, off the loop
        await self.runtime.pipeline.warm()  # local models, when guards or caches use them
        await asyncio.to_thread(self.store.migrate)
        if self.config.tenants:
            await asyncio.to_thread(self.store.seed_from_config, self.config.tenants)
        await self.refresher.start()
        if isinstance(self.state, RedisState):
            channel = channel_for(await asyncio.to_thread(self.store.store_id))
            self.notifier = IdentityNotifier(
                self.state.client, channel, self.refresher.refresh_if_behind
            )
            await self.notifier.start()
        self.obs.start()
        await self.router.start(self.services, self.runtime)
        if self.watcher is not None:
            await self.watcher.start()
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self.watcher.trigger)
        if self.tune_gc:
            tune_collector()

    async def shutdown(self) -> None:
        if self.watcher is not None:
            await self.watcher.stop()
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
        if self.notifier is not None:
            await self.notifier.stop()
        await self.refresher.stop()
        await self.announcer.stop()
        await self.finalizer.drain()
        await self.counters.aclose()
        await self.obs.stop()
        await self.router.aclose()
        await self.alerts.aclose()
        await self.runtime.aclose()
        await self.upstream.aclose()
        await self.state.aclose()
        self.services.ml.close()
        await asyncio.to_thread(self.store.close)

    async def apply_config(self, config: Config) -> None:
        old = self.config
        for section in ("storage", "server", "state"):
            before, after = getattr(old, section), getattr(config, section)
            if section == "server":  # certificates are swapped below; the rest needs a restart
                before, after = (
                    before.model_copy(update={"tls": None}),
                    after.model_copy(update={"tls": None}),
                )
            if before != after:
                log.warning("config reload: '%s' changed; it takes effect after a restart", section)
        runtime = Runtime(config, self.obs.client(self.upstream), self.services)
        await runtime.pipeline.warm()
        self.runtime = runtime
        self.router.configure(self.runtime)
        self.alerts.configure(webhook_targets(config))
        self.obs.apply_config(config)
        self.config = config
        self.reloads += 1
        if self.tls is not None and config.server.tls is not None:
            await asyncio.to_thread(self.tls.reload, config.server.tls)
        if config.tenants != old.tenants:
            await asyncio.to_thread(self.store.seed_from_config, config.tenants)
            await self.refresher.refresh_now()
        log.info(
            "config reloaded: %d models, %d providers", len(config.models), len(config.providers)
        )

    def _reload_failed(self, problems: list[Problem]) -> None:
        log.error("config reload rejected (%d problems); the previous config stays", len(problems))

    # --- ASGI --------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            path: str = scope["path"]
            if self.dataplane.handles(path):
                await self.dataplane(scope, receive, send)
            elif path.startswith(ADMIN_PREFIX + "/") or path == ADMIN_PREFIX:
                sub = dict(scope)
                sub["root_path"] = scope.get("root_path", "") + ADMIN_PREFIX
                await self.admin(sub, receive, send)
            elif self.web_ui and path.startswith(UI_PREFIXES):
                await (await self._web_ui())(scope, receive, send)
            else:
                rid = [(b"x-request-id", self.dataplane.new_request_id().encode())]
                if path == "/healthz":
                    await send_bytes(send, 200, b'{"status":"ok"}', rid)
                elif path == "/readyz":
                    await self._ready(send, rid)
                elif path == "/metrics":
                    await self.obs.metrics_endpoint(scope, send, self.keys.admin_lookup)
                else:
                    err = NotFound(f"no route {scope['method']} {path}", code="unknown_route")
                    await send_bytes(send, 404, err.openai_body(), rid)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _web_ui(self) -> Any:
        """The console and portal, imported and built on first use (lockgate.ui)."""
        if self._ui is None:
            async with self._ui_lock:
                if self._ui is None:
                    from lockgate.ui.mount import build_ui  # imported only when used

                    self._ui = await build_ui(self)
        return self._ui

    async def _ready(self, send: Send, headers: list[tuple[bytes, bytes]]) -> None:
        checks: dict[str, Any] = {}
        try:
            await asyncio.to_thread(self.store.ping)
            checks["store"] = "ok"
        except Exception as exc:
            checks["store"] = f"unreachable ({type(exc).__name__})"
        try:
            await self.state.ping()
            checks["state"] = "ok"
        except Exception as exc:
            checks["state"] = f"unreachable ({type(exc).__name__})"
        ready = all(v == "ok" for v in checks.values())
        body = orjson.dumps({"status": "ready" if ready else "not ready", "checks": checks})
        await send_bytes(send, 200 if ready else 503, body, headers)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    log.exception("start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return


def open_counters(state: StateBackend, on_alert: AlertHook) -> Counters:
    """Limit counters on the configured state backend: in-process or shared through Redis."""
    if isinstance(state, RedisState):
        return RedisCounters(state.client, on_alert=on_alert)
    return MemoryCounters(on_alert=on_alert)


def webhook_targets(config: Config) -> list[WebhookTarget]:
    return [
        WebhookTarget(
            url=w.url,
            events=tuple(w.events),
            secret=w.secret.get_secret_value() if w.secret is not None else None,
        )
        for w in config.alerts.webhooks
    ]


def tune_collector() -> None:
    """Process-wide GC settings for a serving process (measured in bench/RESULTS.md).

    Everything alive after start-up (config, FastAPI, SQLAlchemy, codecs) moves to the
    permanent generation so collections stop re-scanning it, and young collections run less
    often; request garbage is still collected, so memory stays flat.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_GEN0_THRESHOLD, 50, 100)


def create_app(config: Config, **kwargs: Any) -> Gateway:
    return Gateway(config, **kwargs)
