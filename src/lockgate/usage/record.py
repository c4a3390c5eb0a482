"""The usage record: captured on the hot path as one flat tuple, expanded off it.

``capture`` runs in the completion finalizer for every request, so it only copies references
(no formatting, no lookups, no allocation but the tuple). ``expand`` turns the tuple into the
row the store keeps and the sinks (metrics, alerts, logs, traces, audit) read, in the writer
task.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from lockgate.errors import UpstreamError
from lockgate.store.usage_repo import PayloadRow, UsageRow
from lockgate.store.usage_tables import PICO

if TYPE_CHECKING:
    from lockgate.pipeline.context import RequestContext

Captured = tuple[Any, ...]


def capture(ctx: RequestContext) -> Captured:
    return (
        ctx.request_id,
        ctx.received_at,
        ctx.started,
        ctx.first_token_at,
        ctx.finished_at,
        ctx.upstream_started,
        ctx.upstream_ended,
        ctx.route,
        ctx.ingress,
        ctx.model,
        ctx.served_model,
        ctx.principal,
        ctx.target,
        ctx.attempts,
        ctx.status,
        ctx.error,
        ctx.decided_by,
        ctx.usage,
        ctx.usage_estimated,
        ctx.cost,
        ctx.cache,
        ctx.cache_saved_tokens,
        ctx.client_ip,
        ctx.payload,
        ctx.trace,
        ctx.guard_decisions,
        ctx.api,
        ctx.api_version,
        ctx.dropped_params,
        ctx.routing,
    )


class Expanded(NamedTuple):
    """A captured record, expanded: the stored row plus what only the sinks need."""

    row: UsageRow
    payload: PayloadRow | None
    upstream_failed: bool  # the call failed because a provider did (alerts' error rate)
    client_ip: str
    error_message: str | None
    trace: Any  # lockgate.observability.tracing.RequestTrace | None
    started: float  # monotonic, for span timestamps
    first_token_at: float | None
    upstream_ended: float | None
    finished_at: float
    guards: tuple[Any, ...] = ()  # lockgate.guards.decisions.GuardDecision: no text, counts


def expand(rec: Captured) -> Expanded:
    (
        request_id,
        received_at,
        started,
        first_token_at,
        finished_at,
        upstream_started,
        upstream_ended,
        route,
        ingress,
        model,
        served_model,
        principal,
        target,
        attempts,
        status,
        error,
        decided_by,
        usage,
        usage_estimated,
        cost,
        cache,
        cache_saved_tokens,
        client_ip,
        payload,
        trace,
        guards,
        api,
        api_version,
        dropped,
        routing,
    ) = rec
    finished = finished_at if finished_at is not None else started
    latency = (finished - started) * 1000.0
    upstream = None
    if upstream_started is not None:
        upstream = ((upstream_ended or finished) - upstream_started) * 1000.0
    ts = datetime.fromtimestamp(received_at, UTC)
    if principal is not None:
        tenant, app_id, app_name = principal.tenant_name, principal.app_id, principal.app_name
        key_id, user = principal.key_id, principal.user
    else:
        tenant = app_id = app_name = key_id = user = None
    if usage is not None:
        inp, out, cached = usage.input_tokens, usage.output_tokens, usage.cached_input_tokens
        written = usage.cache_creation_input_tokens
        reasoning = int(getattr(usage, "reasoning_tokens", 0) or 0)
        source = "counted" if usage_estimated else "provider"
    else:
        inp = out = cached = reasoning = written = 0
        source = None
    row = UsageRow(  # positional: the column order
        request_id,
        ts,
        tenant,
        app_id,
        app_name,
        key_id,
        user,
        ingress,
        route,
        model,
        served_model,
        target.key if target is not None else None,
        target.provider.kind if target is not None else None,
        status,
        _error_type(error),
        decided_by,
        inp,
        out,
        cached,
        reasoning,
        source,
        round(cost * PICO) if cost else 0,
        latency,
        None if first_token_at is None else (first_token_at - started) * 1000.0,
        upstream,
        max(0.0, latency - (upstream or 0.0)),
        attempts,
        served_model is not None and served_model != model,
        cache,
        cache_saved_tokens,
        api,
        api_version,
        ",".join(dropped)[:512] if dropped else None,
        written,
        routing.summary()[:1024] if routing is not None and routing.steps else None,
    )
    stored = None
    if payload is not None and tenant is not None:
        stored = PayloadRow(request_id, ts, tenant, payload[0], payload[1])
    return Expanded(
        row,
        stored,
        isinstance(error, UpstreamError),
        client_ip,
        error.message if error is not None else None,
        trace,
        started,
        first_token_at,
        upstream_ended,
        finished,
        guards,
    )


def _error_type(error: Any) -> str | None:
    if error is None:
        return None
    code = error.code
    return str(code)[:64] if code else type(error).__name__
