"""OpenTelemetry traces: a server span per request and a client span per upstream attempt.

Nothing of OpenTelemetry runs on the request path. While a request runs, the tracer only picks
ids: the trace (the client's, from ``traceparent``, or a new one), the request span and one span
per attempt, and puts ``traceparent`` on each upstream request so the provider's spans join the
trace. The spans themselves are built afterwards from the usage record, with the recorded
timings, in the usage writer's pump, and handed to a batch span processor whose exporter
(OTLP over HTTP) sends from its own thread. OpenTelemetry is imported only when ``tracing`` is
configured.

Span attributes follow the GenAI semantic conventions (``gen_ai.operation.name``,
``gen_ai.provider.name``, ``gen_ai.request.model``, ``gen_ai.response.model``,
``gen_ai.usage.input_tokens`` / ``output_tokens`` ...), plus ``lockgate.*`` for the tenant, app,
key id, deployment, cost and the policy that decided.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from lockgate.config.models import TracingConfig
from lockgate.routing.router import Attempt, Router
from lockgate.store.usage_tables import PICO
from lockgate.upstream import Timeouts, UpstreamClient, UpstreamRequest, UpstreamResponse
from lockgate.usage.record import Expanded

if TYPE_CHECKING:
    from lockgate.pipeline.context import RequestContext
    from lockgate.routing.report import DeploymentRow
    from lockgate.runtime import ModelRoute, Runtime, Target
    from lockgate.services import Services

T = TypeVar("T")
OPERATIONS = {"chat": "chat", "embeddings": "embeddings", "count_tokens": "count_tokens"}


@dataclass(slots=True)
class AttemptSpan:
    span_id: int
    target: Target
    started: float  # monotonic
    ended: float | None = None
    error: str | None = None


@dataclass(slots=True)
class RequestTrace:
    trace_id: int
    span_id: int
    parent_span_id: int | None  # the client's span, when it sent traceparent
    sampled: bool
    attempts: list[AttemptSpan] = field(default_factory=list)


def parse_traceparent(value: bytes | None) -> tuple[int, int, bool] | None:
    """(trace id, parent span id, sampled) of a W3C ``traceparent``; None if absent or bad."""
    if value is None or len(value) != 55:
        return None
    try:
        text = value.decode("ascii")
        version, trace, span, flags = text.split("-")
        if version == "ff" or len(trace) != 32 or len(span) != 16 or len(flags) != 2:
            return None
        trace_id, span_id = int(trace, 16), int(span, 16)
        sampled = bool(int(flags, 16) & 1)
    except ValueError:
        return None
    if not trace_id or not span_id:
        return None
    return trace_id, span_id, sampled


def traceparent(trace_id: int, span_id: int, sampled: bool) -> str:
    return f"00-{trace_id:032x}-{span_id:016x}-{'01' if sampled else '00'}"


class Tracer:
    def __init__(
        self, cfg: TracingConfig, exporter: Any = None, *, seed: int | None = None
    ) -> None:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        if exporter is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            headers = {k: v.get_secret_value() for k, v in cfg.headers.items()}
            exporter = OTLPSpanExporter(endpoint=cfg.endpoint, headers=headers)
        self.ratio = cfg.sample_ratio
        self.resource = Resource.create({"service.name": cfg.service_name})
        self.processor = BatchSpanProcessor(exporter)
        self.current: ContextVar[str | None] = ContextVar("lockgate_traceparent", default=None)
        self._rng = random.Random(seed)

    # --- while the request runs ----------------------------------------------------------------

    def begin(self, ctx: RequestContext) -> RequestTrace:
        trace = ctx.trace
        if trace is not None:
            return trace
        parent = parse_traceparent(ctx.header(b"traceparent"))
        bits = self._rng.getrandbits
        if parent is not None:
            trace = RequestTrace(parent[0], bits(64) or 1, parent[1], parent[2])
        else:
            sampled = self.ratio >= 1.0 or self._rng.random() < self.ratio
            trace = RequestTrace(bits(128) or 1, bits(64) or 1, None, sampled)
        ctx.trace = trace
        return trace

    def record(self, ctx: RequestContext) -> None:
        """A finalizer recorder: requests that never reached a provider get ids too."""
        if ctx.trace is None:
            self.begin(ctx)

    def traced(self, ctx: RequestContext, attempt: Attempt[T]) -> Attempt[T]:
        def run(target: Target, route: ModelRoute) -> Awaitable[T]:
            trace = self.begin(ctx)
            span = AttemptSpan(self._rng.getrandbits(64) or 1, target, time.monotonic())
            trace.attempts.append(span)
            self.current.set(traceparent(trace.trace_id, span.span_id, trace.sampled))
            return _timed(span, attempt(target, route))

        return run

    # --- afterwards: spans from records ------------------------------------------------------

    def consume(self, batch: Sequence[Expanded]) -> None:
        for e in batch:
            trace = e.trace
            if trace is not None and trace.sampled:
                for span in self.spans(e, trace):
                    self.processor.on_end(span)

    def spans(self, e: Expanded, trace: RequestTrace) -> list[Any]:
        from opentelemetry.sdk.trace import ReadableSpan
        from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

        r = e.row
        epoch0 = r.ts.timestamp() - e.started  # monotonic -> epoch offset of this request
        flags = TraceFlags(TraceFlags.SAMPLED)

        def ns(mono: float) -> int:
            return int((epoch0 + mono) * 1e9)

        def context(span_id: int) -> Any:
            return SpanContext(trace.trace_id, span_id, is_remote=False, trace_flags=flags)

        parent = None
        if trace.parent_span_id is not None:
            parent = SpanContext(trace.trace_id, trace.parent_span_id, True, flags)
        operation = OPERATIONS.get(r.route, r.route)
        attrs = _request_attributes(e, operation)
        error = r.status >= 500
        out = [
            ReadableSpan(
                name=f"{operation} {r.model}" if r.model else operation,
                context=context(trace.span_id),
                parent=parent,
                resource=self.resource,
                attributes=attrs,
                kind=SpanKind.SERVER,
                status=Status(StatusCode.ERROR) if error else Status(StatusCode.UNSET),
                start_time=ns(e.started),
                end_time=ns(e.finished_at),
                instrumentation_scope=_scope(),
            )
        ]
        own = context(trace.span_id)
        for i, a in enumerate(trace.attempts):
            last = i == len(trace.attempts) - 1
            end = a.ended if a.ended is not None else e.finished_at
            if last and a.error is None and e.upstream_ended is not None:
                end = max(end, e.upstream_ended)  # a stream: to its last chunk
            span_attrs: dict[str, Any] = {
                "gen_ai.operation.name": operation,
                "gen_ai.provider.name": a.target.provider.kind,
                "gen_ai.request.model": a.target.model,
                "lockgate.deployment": a.target.key,
                "lockgate.attempt": i + 1,
            }
            if a.error is not None:
                span_attrs["error.type"] = a.error
            elif last:
                span_attrs.update(_usage_attributes(e))
                span_attrs["gen_ai.response.model"] = a.target.model
            out.append(
                ReadableSpan(
                    name=f"{operation} {a.target.model}",
                    context=context(a.span_id),
                    parent=own,
                    resource=self.resource,
                    attributes=span_attrs,
                    kind=SpanKind.CLIENT,
                    status=Status(StatusCode.ERROR) if a.error else Status(StatusCode.UNSET),
                    start_time=ns(a.started),
                    end_time=ns(end),
                    instrumentation_scope=_scope(),
                )
            )
        return out

    def shutdown(self) -> None:
        self.processor.shutdown()  # type: ignore[no-untyped-call]

    def force_flush(self) -> None:
        self.processor.force_flush()


async def _timed(span: AttemptSpan, awaitable: Awaitable[T]) -> T:
    try:
        return await awaitable
    except BaseException as exc:
        span.error = type(exc).__name__
        raise
    finally:
        span.ended = time.monotonic()


def _scope() -> Any:
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

    return InstrumentationScope("lockgate")


def _usage_attributes(e: Expanded) -> dict[str, Any]:
    r = e.row
    attrs: dict[str, Any] = {}
    if r.usage_source is not None:
        attrs["gen_ai.usage.input_tokens"] = r.input_tokens
        attrs["gen_ai.usage.output_tokens"] = r.output_tokens
        if r.cached_tokens:
            attrs["gen_ai.usage.cache_read.input_tokens"] = r.cached_tokens
        if r.reasoning_tokens:
            attrs["gen_ai.usage.reasoning.output_tokens"] = r.reasoning_tokens
    return attrs


def _request_attributes(e: Expanded, operation: str) -> dict[str, Any]:
    r = e.row
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": operation,
        "http.response.status_code": r.status,
        "lockgate.request_id": r.request_id,
        "lockgate.ingress": r.ingress,
        "lockgate.attempts": r.attempts,
        "lockgate.fallback": r.fallback,
        "lockgate.cost_usd": r.cost_picousd / PICO,
    }
    optional = {
        "gen_ai.request.model": r.model,
        "gen_ai.response.model": r.served_model,
        "gen_ai.provider.name": r.provider,
        "error.type": r.error_type,
        "lockgate.tenant": r.tenant,
        "lockgate.app": r.app_id,
        "lockgate.key": r.key_id,
        "lockgate.deployment": r.deployment,
        "lockgate.decided_by": r.decided_by,
        "lockgate.cache": r.cache,
        "lockgate.usage_source": r.usage_source,
    }
    attrs.update({k: v for k, v in optional.items() if v is not None})
    if e.first_token_at is not None:
        attrs["gen_ai.response.time_to_first_chunk"] = e.first_token_at - e.started
    attrs.update(_usage_attributes(e))
    return attrs


class PropagatingClient(UpstreamClient):
    """The client providers send through when tracing is on: adds the attempt's
    ``traceparent`` to each upstream request, then delegates to the real client."""

    def __init__(self, inner: UpstreamClient, current: ContextVar[str | None]) -> None:
        # No pools of its own: everything but ``send`` belongs to the inner client.
        self._inner = inner
        self._current = current

    async def send(self, req: UpstreamRequest, timeouts: Timeouts) -> UpstreamResponse:
        value = self._current.get()
        if value is not None:
            headers = [h for h in req.headers if h[0].lower() != "traceparent"]
            headers.append(("traceparent", value))
            req = UpstreamRequest(req.method, req.url, headers, req.body)
        return await self._inner.send(req, timeouts)

    async def aclose(self) -> None:
        return None  # the gateway closes the inner client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class TracingRouter(Router):
    """Wraps each attempt of the inner router's requests in an attempt span."""

    def __init__(self, inner: Router, tracer: Tracer) -> None:
        # Delegates: balancing state, clock and sleep stay the inner router's.
        self._inner = inner
        self._tracer = tracer
        self.balancer = inner.balancer

    async def run(self, ctx: RequestContext, first: ModelRoute, attempt: Attempt[T]) -> T:
        return await self._inner.run(ctx, first, self._tracer.traced(ctx, attempt))

    # Router's own methods would run on this wrapper and keep state (breaker sync, health)
    # here instead of on the router that serves: every one of them is forwarded.

    async def start(self, services: Services, runtime: Runtime) -> None:
        await self._inner.start(services, runtime)

    def configure(self, runtime: Runtime) -> None:
        self._inner.configure(runtime)

    async def aclose(self) -> None:
        await self._inner.aclose()

    def stream_ended(self, ctx: RequestContext) -> None:
        self._inner.stream_ended(ctx)

    def deployments(self, runtime: Runtime) -> list[DeploymentRow]:
        return self._inner.deployments(runtime)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)  # attributes are the inner router's
