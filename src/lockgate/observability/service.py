"""``Observability``: usage records, metrics, traces, request log, alerts rules and audit, as
one object the gateway builds once and wires in at a handful of points.

- ``recorders()`` go on the completion finalizer (the usage queue; the tracer's id recorder);
- ``router()`` / ``client()`` wrap the router and the providers' HTTP client when tracing is on
  (and return them unchanged when it is off);
- ``audited()`` wraps the admin API so every mutation is audited;
- ``start()`` / ``stop()`` run and drain the writer; ``apply_config()`` takes reloadable
  settings (request log level, payload tenants are policies, alert rules);
- ``metrics_endpoint()`` answers ``GET /metrics``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from lockgate.alerts import AlertDispatcher
from lockgate.alerts.rules import ModelAlerts, always, redis_claim
from lockgate.config.models import Config
from lockgate.identity.principal import AdminPrincipal
from lockgate.ingress.http import Scope, Send, send_bytes
from lockgate.pipeline.finalize import Recorder
from lockgate.routing.router import Router
from lockgate.state import StateBackend
from lockgate.store.audit_repo import AuditRepo
from lockgate.store.repo import Store
from lockgate.store.usage_query import UsageReader
from lockgate.store.usage_repo import UsageStore
from lockgate.upstream import UpstreamClient
from lockgate.usage.writer import Sink, UsageQueue, UsageWriter

from .admin_audit import AdminAudit
from .audit import AuditLog
from .metrics import Metrics
from .request_log import RequestLog
from .tracing import PropagatingClient, Tracer, TracingRouter

log = logging.getLogger("lockgate.observability")


@dataclass(frozen=True, slots=True)
class Analytics:
    """What the admin analytics routes read."""

    usage: UsageReader
    audit: AuditRepo
    flush: Callable[[], Any]  # awaitable: write what is recorded so far (tests, CLI)


class Observability:
    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        alerts: AlertDispatcher | None = None,
        state: StateBackend | None = None,
        clock: Callable[[], float] = time.time,
        span_exporter: Any = None,
        gates: Mapping[str, Any] | None = None,
    ) -> None:
        obs = config.observability
        self.config = config
        self.store = store
        self.gates: Mapping[str, Any] = gates if gates is not None else {}
        self.queue = UsageQueue(obs.usage.queue_size, obs.usage.batch_size)
        self.metrics = Metrics() if obs.metrics.enabled else None
        self.tracer = Tracer(obs.tracing, span_exporter) if obs.tracing is not None else None
        self.audit = AuditLog(AuditRepo(store.engine))
        self.request_log = RequestLog(obs.request_log)
        client = getattr(state, "client", None) if getattr(state, "kind", "") == "redis" else None
        self.alerts = ModelAlerts(
            config.alerts.rules,
            list(config.models),
            alerts.emit if alerts is not None else _no_alerts,
            claim=redis_claim(client) if client is not None else always,
            clock=clock,
        )
        sinks: list[Sink] = [self.request_log, self.alerts, self.audit]
        if self.metrics is not None:
            sinks.insert(0, self.metrics)
        if self.tracer is not None:
            sinks.append(self.tracer)
        if self.metrics is not None:
            sinks.append(_WriterState(self))
        self.writer = UsageWriter(
            self.queue,
            _writer(UsageStore(store.engine)),
            sinks=sinks,
            flush_interval=obs.usage.flush_interval,
            max_pending=obs.usage.queue_size,
        )
        self.analytics = Analytics(UsageReader(store.engine), AuditRepo(store.engine), self.flush)

    # --- wiring --------------------------------------------------------------------------------

    def recorders(self) -> list[Recorder]:
        out: list[Recorder] = []
        if self.tracer is not None:
            out.append(self.tracer.record)
        out.append(self.queue)
        return out

    def router(self, router: Router) -> Router:
        return TracingRouter(router, self.tracer) if self.tracer is not None else router

    def client(self, upstream: UpstreamClient) -> UpstreamClient:
        if self.tracer is None:
            return upstream
        return PropagatingClient(upstream, self.tracer.current)

    def audited(self, admin: Any, admin_auth: Callable[[str], AdminPrincipal | None]) -> Any:
        return AdminAudit(admin, self.audit, admin_auth, self.store)

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        self.request_log.install()
        self.writer.start()

    async def stop(self, grace: float = 10.0) -> None:
        await self.writer.stop(grace)
        await self.audit.flush(grace)
        await self.alerts.drain()
        if self.tracer is not None:
            self.tracer.shutdown()
        self.request_log.uninstall()

    async def flush(self) -> None:
        """Write everything recorded so far: usage, audited denials, spans."""
        await self.writer.flush()
        await self.audit.flush()
        if self.tracer is not None:
            self.tracer.force_flush()

    def apply_config(self, config: Config) -> None:
        old = self.config.observability
        new = config.observability
        if (old.usage, old.metrics, old.tracing) != (new.usage, new.metrics, new.tracing):
            log.warning(
                "config reload: observability usage/metrics/tracing changed; "
                "they take effect after a restart"
            )
        self.request_log.configure(new.request_log)
        self.alerts.configure(config.alerts.rules, list(config.models))
        self.config = config

    # --- GET /metrics ------------------------------------------------------------------------

    async def metrics_endpoint(
        self, scope: Scope, send: Send, admin_auth: Callable[[str], AdminPrincipal | None]
    ) -> None:
        if self.metrics is None:
            body = orjson.dumps({"error": {"message": "metrics are disabled", "type": "not_found"}})
            await send_bytes(send, 404, body, [])
            return
        if self.config.observability.metrics.require_admin_key and not _admin(scope, admin_auth):
            body = orjson.dumps(
                {"error": {"message": "metrics need an admin key", "type": "authentication_error"}}
            )
            await send_bytes(send, 401, body, [(b"www-authenticate", b"Bearer")])
            return
        data, content_type = self.metrics.render(self._refresh)
        await send_bytes(send, 200, data, [], (b"content-type", content_type.encode()))

    def _refresh(self) -> None:
        if self.metrics is not None:
            w = self.writer
            self.metrics.writer_state(len(self.queue), w.backlog, w.written, w.total_dropped)
            self.metrics.gates_state(self.gates)


class _WriterState:
    """A sink that publishes the writer's depth and totals after each pump (every worker)."""

    def __init__(self, obs: Observability) -> None:
        self.obs = obs

    def consume(self, batch: object) -> None:
        self.obs._refresh()


def _admin(scope: Scope, admin_auth: Callable[[str], AdminPrincipal | None]) -> bool:
    for key, value in scope["headers"]:
        if key == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return scheme.lower() == "bearer" and admin_auth(token.strip()) is not None
    return False


def _writer(store: UsageStore) -> Callable[[Any, Any, bool], int]:
    def write(rows: Any, payloads: Any, retry: bool) -> int:
        return store.write(rows, payloads, retry=retry)

    return write


def _no_alerts(event: str, data: dict[str, Any]) -> None:
    log.warning("alert %s %s (no dispatcher)", event, data)
