"""/metrics (Prometheus text) and OpenTelemetry spans with trace context in and out."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry, Histogram

from lockgate.observability.metrics import observe_many
from lockgate.observability.tracing import parse_traceparent, traceparent

ADMIN = "lga-metrics-test-admin-key-0123456789abcdef"
Start = Callable[..., AbstractAsyncContextManager[Any]]


def config(upstream: str | None = None, **observability: Any) -> dict[str, Any]:
    providers: dict[str, Any] = {"demo": {"type": "mock"}}
    models: dict[str, Any] = {
        "m": {
            "deployments": [{"provider": "demo", "model": "x"}],
            "price": {"input": 1, "output": 2},
        }
    }
    if upstream is not None:
        providers["up"] = {"type": "openai", "base_url": upstream + "/v1", "api_key": "sk-x"}
        models["u"] = {
            "deployments": [{"provider": "up", "model": "gpt-x"}],
            "retry": {"attempts": 1, "backoff": "1ms"},
        }
    return {
        "providers": providers,
        "models": models,
        "observability": {"request_log": "off", **observability},
    }


def chat(model: str, text: str = "hi", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": text}], **extra}


def sample(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            got = {}
            if "{" in line:
                inner = line[line.index("{") + 1 : line.index("}")]
                got = dict(p.split("=", 1) for p in inner.split(","))
                got = {k: v.strip('"') for k, v in got.items()}
            if all(got.get(k) == v for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name}{labels} not in metrics")


async def test_metrics_count_calls_tokens_cost_and_denials(inproc: Start) -> None:
    async with inproc(config()) as gw:
        key = await gw.key("acme", "bot")
        auth = {"authorization": f"Bearer {key}"}
        usage = []
        for i in range(3):
            r = await gw.client.post("/v1/chat/completions", headers=auth, json=chat("m", f"q{i}"))
            usage.append(r.json()["usage"])
        await gw.client.post("/v1/chat/completions", headers=auth, json=chat("unknown"))
        await gw.gw.obs.flush()
        text = (await gw.client.get("/metrics")).text
        assert sample(text, "lockgate_requests_total", route="chat", model="m", status="200") == 3
        assert sample(text, "lockgate_requests_total", model="-", status="404") == 1
        inp = sum(u["prompt_tokens"] for u in usage)
        out = sum(u["completion_tokens"] for u in usage)
        assert sample(text, "lockgate_tokens_total", model="m", type="input") == inp
        assert sample(text, "lockgate_tokens_total", model="m", type="output") == out
        cost = sample(text, "lockgate_cost_usd_total", model="m")
        assert abs(cost - (inp * 1 + out * 2) / 1e6) < 1e-12
        assert sample(text, "lockgate_request_duration_seconds_count", model="m") == 3
        assert sample(text, "lockgate_gateway_overhead_seconds_count", route="chat") == 4
        assert sample(text, "lockgate_policy_denials_total", policy="model-access") == 1
        assert sample(text, "lockgate_usage_records_written_total") >= 0
        assert sample(text, "lockgate_usage_backlog") == 0


async def test_metrics_can_require_an_admin_key_or_be_off(inproc: Start) -> None:
    async with inproc(config(metrics={"require_admin_key": True}), extra_admin_keys=(ADMIN,)) as gw:
        assert (await gw.client.get("/metrics")).status_code == 401
        r = await gw.client.get("/metrics", headers={"authorization": f"Bearer {ADMIN}"})
        assert r.status_code == 200 and "lockgate_requests" in r.text
    async with inproc(config(metrics={"enabled": False})) as gw:
        assert (await gw.client.get("/metrics")).status_code == 404


def test_batched_observe_equals_one_by_one() -> None:
    values = [0.001, 0.005, 0.3, 0.3, 7.0, 1000.0, 0.0]
    reg = CollectorRegistry()
    a = Histogram("a", "a", buckets=(0.005, 0.1, 1.0, 10.0), registry=reg)
    b = Histogram("b", "b", buckets=(0.005, 0.1, 1.0, 10.0), registry=reg)
    for v in values:
        a.observe(v)
    observe_many(b, values)
    samples_a = [
        (s.name[1:], s.labels, s.value)
        for s in next(iter(a.collect())).samples
        if not s.name.endswith("_created")
    ]
    samples_b = [
        (s.name[1:], s.labels, s.value)
        for s in next(iter(b.collect())).samples
        if not s.name.endswith("_created")
    ]
    assert samples_a == samples_b


def test_traceparent_parsing() -> None:
    tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    assert parse_traceparent(tp.encode()) == (
        0x0AF7651916CD43DD8448EB211C80319C,
        0xB7AD6B7169203331,
        True,
    )
    assert traceparent(*parse_traceparent(tp.encode()) or (0, 0, False)) == tp
    for bad in (
        b"",
        b"00-" + b"0" * 32 + b"-b7ad6b7169203331-01",
        tp.replace("-01", "-zz").encode(),
    ):
        assert parse_traceparent(bad) is None


async def test_spans_per_request_and_attempt_with_context_in_and_out(
    inproc: Start, upstream: Any
) -> None:
    exporter = InMemorySpanExporter()
    doc = config(upstream.base, tracing={"endpoint": "http://127.0.0.1:9/v1/traces"})
    async with inproc(doc) as gw:
        gw.gw.obs.tracer.processor.shutdown()  # its exporter thread; spans go to memory
        gw.gw.obs.tracer.processor = SimpleSpanProcessor(exporter)
        key = await gw.key("acme", "bot")
        parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        headers = {"authorization": f"Bearer {key}", "traceparent": parent}
        r = await gw.client.post("/v1/chat/completions", headers=headers, json=chat("u", "hello"))
        assert r.status_code == 200
        sent = upstream.app.stats.last_request()
        assert sent is not None
        out = parse_traceparent(sent["headers"]["traceparent"].encode())
        assert out is not None and out[0] == 0x0AF7651916CD43DD8448EB211C80319C and out[2]
        await gw.client.post(
            "/v1/chat/completions",
            headers={"authorization": f"Bearer {key}"},
            json=chat("u", "[[mock:status=503]] fails"),
        )
        await gw.gw.obs.flush()
        spans = exporter.get_finished_spans()
    server = [s for s in spans if s.kind.name == "SERVER"]
    client = [s for s in spans if s.kind.name == "CLIENT"]
    assert len(server) == 2 and len(client) == 3  # 1 attempt, then 2 for the failing call
    first = next(s for s in server if s.parent is not None)
    assert first.parent.span_id == 0xB7AD6B7169203331
    assert first.name == "chat u"
    attrs = dict(first.attributes or {})
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.request.model"] == "u" and attrs["gen_ai.provider.name"] == "openai"
    assert attrs["gen_ai.usage.input_tokens"] > 0 and attrs["lockgate.tenant"] == "acme"
    attempt = next(s for s in client if s.context.trace_id == first.context.trace_id)
    assert attempt.parent.span_id == first.context.span_id
    assert attempt.context.span_id == out[1]  # the upstream saw the attempt span as parent
    assert dict(attempt.attributes or {})["gen_ai.request.model"] == "gpt-x"
    failed = next(s for s in server if s.parent is None)
    assert failed.status.status_code.name == "ERROR"
    retries = [s for s in client if s.context.trace_id == failed.context.trace_id]
    assert len(retries) == 2 and all("error.type" in (s.attributes or {}) for s in retries)


async def test_spans_are_exported_over_otlp_http(inproc: Start) -> None:
    received: list[tuple[str, bytes]] = []

    async def collector(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        length = next(int(x.split(":")[1]) for x in lines if x.lower().startswith("content-length"))
        received.append((lines[0], await reader.readexactly(length)))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(collector, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    tracing = {"endpoint": f"http://127.0.0.1:{port}/v1/traces", "service_name": "gw-test"}
    try:
        async with inproc(config(tracing=tracing)) as gw:
            key = await gw.key("acme", "bot")
            await gw.client.post(
                "/v1/chat/completions", headers={"authorization": f"Bearer {key}"}, json=chat("m")
            )
            gw.gw.obs.writer.pump()
            await asyncio.to_thread(gw.gw.obs.tracer.force_flush)
    finally:
        server.close()
    assert received and received[0][0].startswith("POST /v1/traces")
    export = ExportTraceServiceRequest.FromString(received[0][1])
    resource = export.resource_spans[0]
    service = {a.key: a.value.string_value for a in resource.resource.attributes}["service.name"]
    assert service == "gw-test"
    names = [s.name for ss in resource.scope_spans for s in ss.spans]
    assert names == ["chat m", "chat x"]


async def test_limit_rejections_are_counted_by_policy_and_code(inproc: Start) -> None:
    doc = config()
    doc["plans"] = {"tiny": {"models": ["*"], "limits": [{"requests": 1, "per": "minute"}]}}
    async with inproc(doc) as gw:
        key = await gw.key("acme", "bot", plan="tiny")
        auth = {"authorization": f"Bearer {key}"}
        statuses = [
            (await gw.client.post("/v1/chat/completions", headers=auth, json=chat("m"))).status_code
            for _ in range(3)
        ]
        assert statuses == [200, 429, 429]
        await gw.gw.obs.flush()
        text = (await gw.client.get("/metrics")).text
        rejected = sample(text, "lockgate_limit_rejections_total", policy="limits")
        assert rejected == 2
        assert "rate_limit_exceeded" in text


async def test_concurrency_gates_are_gauged(inproc: Start) -> None:
    doc = config()
    doc["models"]["m"]["max_in_flight"] = 2
    async with inproc(doc) as gw:
        key = await gw.key("acme", "bot")
        auth = {"authorization": f"Bearer {key}"}
        assert (
            await gw.client.post("/v1/chat/completions", headers=auth, json=chat("m"))
        ).is_success
        text = (await gw.client.get("/metrics")).text
        assert sample(text, "lockgate_model_in_flight", model="m") == 0
        assert sample(text, "lockgate_model_queue_depth", model="m") == 0


async def test_with_tracing_the_serving_router_keeps_its_own_state(
    inproc: Start, redis_url: str
) -> None:
    """The tracing wrapper forwards the router's lifecycle: breaker sync and health checks
    belong to the router that serves, not to the wrapper."""
    from lockgate.observability.tracing import TracingRouter

    doc = config(tracing={"endpoint": "http://127.0.0.1:9/v1/traces"})
    doc["state"] = redis_url
    async with inproc(doc) as gw:
        wrapper = gw.gw.router
        assert isinstance(wrapper, TracingRouter)
        assert wrapper._inner.sync is not None  # started on the inner router
        assert "sync" not in vars(wrapper)
