"""Prometheus metrics, fed from the usage writer's batches rather than from each request.

The hot path does nothing for metrics: every call's record already reaches the writer's pump,
which aggregates a batch per label set and updates each series once (a histogram batch adds
its bucket counts and sum directly). Label children are bound once and kept. Label values are
bounded: the model label is the configured model that served (``-`` when none did), never the
name a client sent.

With ``--workers N`` the supervisor sets ``PROMETHEUS_MULTIPROC_DIR`` before the workers start
(``lockgate.observability.multiproc``); each worker's values then live in shared files and a
scrape of any worker sums them all.
"""

from __future__ import annotations

import os
from bisect import bisect_left
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

from lockgate.store.usage_tables import PICO
from lockgate.usage.record import Expanded

LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
OVERHEAD = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
NONE = "-"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class _Children:
    """Label children of one metric, bound on first use."""

    def __init__(self, metric: Any) -> None:
        self.metric = metric
        self.bound: dict[tuple[str, ...], Any] = {}

    def get(self, labels: tuple[str, ...]) -> Any:
        child = self.bound.get(labels)
        if child is None:
            child = self.bound[labels] = self.metric.labels(*labels)
        return child


def observe_many(child: Any, values: Sequence[float]) -> None:
    """``observe`` for a batch: one increment per bucket touched and one for the sum.

    Relies on prometheus-client's histogram child layout (pinned version, covered by a test
    that compares it with ``observe``).
    """
    bounds = child._upper_bounds
    counts: dict[int, int] = {}
    for v in values:
        i = bisect_left(bounds, v)
        counts[i] = counts.get(i, 0) + 1
    for i, n in counts.items():
        child._buckets[i].inc(n)
    child._sum.inc(sum(values))


class Metrics:
    def __init__(self, *, multiprocess_dir: str | None = None) -> None:
        self.multiprocess_dir = multiprocess_dir or os.environ.get(MULTIPROC_ENV)
        self.registry: CollectorRegistry | None = None
        reg = None
        if not self.multiprocess_dir:
            reg = self.registry = CollectorRegistry(auto_describe=True)

        def counter(name: str, doc: str, labels: tuple[str, ...] = ()) -> Any:
            return Counter(name, doc, labels, registry=reg)

        def histogram(name: str, doc: str, labels: tuple[str, ...], buckets: Any) -> Any:
            return Histogram(name, doc, labels, registry=reg, buckets=buckets)

        def gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> Any:
            return Gauge(name, doc, labels, registry=reg, multiprocess_mode="livesum")

        self.requests = _Children(
            counter("lockgate_requests", "Data-plane calls.", ("route", "model", "status"))
        )
        self.latency = _Children(
            histogram(
                "lockgate_request_duration_seconds",
                "Time from request to the last byte of the response.",
                ("route", "model"),
                LATENCY,
            )
        )
        self.ttft = _Children(
            histogram(
                "lockgate_time_to_first_token_seconds",
                "Time to the first token of a chat response.",
                ("model",),
                LATENCY,
            )
        )
        self.upstream = _Children(
            histogram(
                "lockgate_upstream_duration_seconds",
                "Time spent on the provider (attempts, backoffs, streaming).",
                ("model", "deployment"),
                LATENCY,
            )
        )
        self.overhead = _Children(
            histogram(
                "lockgate_gateway_overhead_seconds",
                "Time the gateway added: total latency minus upstream time.",
                ("route",),
                OVERHEAD,
            )
        )
        self.tokens = _Children(
            counter("lockgate_tokens", "Tokens, by model and type.", ("model", "type"))
        )
        self.cost = _Children(counter("lockgate_cost_usd", "Cost in USD, by model.", ("model",)))
        self.denials = _Children(
            counter(
                "lockgate_policy_denials",
                "Calls a policy rejected, by policy and status.",
                ("policy", "status"),
            )
        )
        self.limit_rejections = _Children(
            counter(
                "lockgate_limit_rejections",
                "Calls rejected with 429 by a limit, quota or budget.",
                ("policy", "code"),
            )
        )
        self.usage_written = counter("lockgate_usage_records_written", "Usage records stored.")
        self.usage_dropped = counter(
            "lockgate_usage_records_dropped", "Usage records dropped: queue or backlog full."
        )
        self.queue_depth = gauge("lockgate_usage_queue_depth", "Records waiting for the pump.")
        self.backlog = gauge("lockgate_usage_backlog", "Records waiting for the store.")
        self.in_flight = _Children(
            gauge(
                "lockgate_model_in_flight", "Upstream calls in flight (max_in_flight).", ("model",)
            )
        )
        self.queued = _Children(
            gauge(
                "lockgate_model_queue_depth",
                "Requests waiting for a max_in_flight slot.",
                ("model",),
            )
        )
        self._last = {"written": 0, "dropped": 0}

    # --- feeding -----------------------------------------------------------------------------

    def consume(self, batch: Sequence[Expanded]) -> None:
        counts: dict[tuple[str, ...], int] = {}
        latency: dict[tuple[str, ...], list[float]] = {}
        ttft: dict[tuple[str, ...], list[float]] = {}
        upstream: dict[tuple[str, ...], list[float]] = {}
        overhead: dict[tuple[str, ...], list[float]] = {}
        tokens: dict[tuple[str, ...], int] = {}
        cost: dict[tuple[str, ...], int] = {}
        denials: dict[tuple[str, ...], int] = {}
        limits: dict[tuple[str, ...], int] = {}
        for e in batch:
            r = e.row
            model = r.served_model or NONE
            key = (r.route, model, str(r.status))
            counts[key] = counts.get(key, 0) + 1
            latency.setdefault((r.route, model), []).append(r.latency_ms / 1000.0)
            overhead.setdefault((r.route,), []).append(r.overhead_ms / 1000.0)
            if r.ttft_ms is not None and r.route == "chat":
                ttft.setdefault((model,), []).append(r.ttft_ms / 1000.0)
            if r.upstream_ms is not None:
                upstream.setdefault((model, r.deployment or NONE), []).append(
                    r.upstream_ms / 1000.0
                )
            for kind, n in (
                ("input", r.input_tokens),
                ("output", r.output_tokens),
                ("cached", r.cached_tokens),
                ("reasoning", r.reasoning_tokens),
            ):
                if n:
                    tokens[(model, kind)] = tokens.get((model, kind), 0) + n
            if r.cost_picousd:
                cost[(model,)] = cost.get((model,), 0) + r.cost_picousd
            if r.decided_by is not None and 400 <= r.status < 500:
                dkey = (r.decided_by, str(r.status))
                denials[dkey] = denials.get(dkey, 0) + 1
                if r.status == 429:
                    lkey = (r.decided_by, r.error_type or NONE)
                    limits[lkey] = limits.get(lkey, 0) + 1
        self._apply(counts, latency, ttft, upstream, overhead, tokens, cost, denials, limits)

    def _apply(self, counts: Any, latency: Any, ttft: Any, upstream: Any, overhead: Any,
               tokens: Any, cost: Any, denials: Any, limits: Any) -> None:  # fmt: skip
        for children, sums in (
            (self.requests, counts),
            (self.tokens, tokens),
            (self.denials, denials),
            (self.limit_rejections, limits),
        ):
            for labels, n in sums.items():
                children.get(labels).inc(n)
        for labels, pico in cost.items():
            self.cost.get(labels).inc(pico / PICO)
        for children, series in (
            (self.latency, latency),
            (self.ttft, ttft),
            (self.upstream, upstream),
            (self.overhead, overhead),
        ):
            for labels, values in series.items():
                observe_many(children.get(labels), values)

    def writer_state(self, queued: int, backlog: int, written: int, dropped: int) -> None:
        """The usage writer's depth and totals (counters advance by the difference)."""
        self.queue_depth.set(queued)
        self.backlog.set(backlog)
        for name, total, metric in (
            ("written", written, self.usage_written),
            ("dropped", dropped, self.usage_dropped),
        ):
            delta = total - self._last[name]
            if delta > 0:
                metric.inc(delta)
                self._last[name] = total

    def gates_state(self, gates: Mapping[str, Any]) -> None:
        """In flight and queued per model with ``max_in_flight`` (the concurrency gates)."""
        for model, gate in gates.items():
            self.in_flight.get((model,)).set(gate.in_flight)
            self.queued.get((model,)).set(gate.queued)

    # --- exposition --------------------------------------------------------------------------

    def render(self, refresh: Callable[[], None] | None = None) -> tuple[bytes, str]:
        if refresh is not None:
            refresh()
        if self.registry is not None:
            return generate_latest(self.registry), CONTENT_TYPE_LATEST
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
