"""``lockgate mock-upstream``: the click command the main CLI mounts."""

from __future__ import annotations

import click

from lockgate.mock.engine import MockBehaviour


def mock_upstream_command() -> click.Command:
    """Build the ``mock-upstream`` command (a fresh object each call, no module state)."""

    @click.command(
        "mock-upstream",
        help=(
            "Run a standalone mock provider speaking the OpenAI, Azure OpenAI, Anthropic and "
            "Gemini wire formats, for tests, demos and benchmarks. Replies are deterministic. "
            "Put [[mock:status=503]], [[mock:slow=500]], [[mock:hang]], [[mock:malformed]], "
            "[[mock:nousage]], [[mock:overflow]] (a context-length error), [[mock:cut=N]] (a "
            "stream that breaks after N tokens), [[mock:stall=N]] (a stream that stops after N "
            "tokens until the client leaves) or [[mock:cached=N]] (N prompt tokens reported "
            "as read from the cache) in the last user message to trigger those "
            "cases per request. "
            "Counters: GET /_mock/stats, POST /_mock/reset."
        ),
    )
    @click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
    @click.option(
        "--port", default=9000, show_default=True, type=click.IntRange(0, 65535), help="Port."
    )
    @click.option(
        "--latency",
        default=0.0,
        show_default=True,
        type=click.FloatRange(min=0),
        help="Milliseconds before each response (before the first event of a stream).",
    )
    @click.option(
        "--ttft",
        default=0.0,
        show_default=True,
        type=click.FloatRange(min=0),
        help="Extra milliseconds before the first token of a stream.",
    )
    @click.option(
        "--tokens-per-s",
        default=0.0,
        show_default=True,
        type=click.FloatRange(min=0),
        help="Pace stream chunks at this rate; 0 sends them as fast as possible.",
    )
    @click.option(
        "--fail-rate",
        default=0.0,
        show_default=True,
        type=click.FloatRange(0, 1),
        help="Fraction of requests answered with --fail-status (deterministic: with 0.25, "
        "every 4th request fails).",
    )
    @click.option(
        "--fail-status",
        default=500,
        show_default=True,
        type=click.IntRange(400, 599),
        help="HTTP status of injected failures.",
    )
    @click.option(
        "--context-window",
        default=0,
        show_default=True,
        type=click.IntRange(min=0),
        help="Answer prompts longer than this many tokens with the format's context-length "
        "error (400); 0: no limit.",
    )
    @click.option(
        "--no-record",
        is_flag=True,
        help="Do not keep the last request for /_mock/stats (for benchmarks).",
    )
    def mock_upstream(
        host: str,
        port: int,
        latency: float,
        ttft: float,
        tokens_per_s: float,
        fail_rate: float,
        fail_status: int,
        context_window: int,
        no_record: bool,
    ) -> None:
        from lockgate.mock.server import run_mock_upstream

        behaviour = MockBehaviour(
            latency_ms=latency,
            ttft_ms=ttft,
            tokens_per_s=tokens_per_s,
            fail_rate=fail_rate,
            fail_status=fail_status,
            context_window=context_window,
        )
        click.echo(f"lockgate mock upstream on http://{host}:{port}", err=True)
        run_mock_upstream(host, port, behaviour, record=not no_record)

    return mock_upstream
