"""Helpers shared by the mock upstream tests (auth headers, a small SSE parser)."""

from __future__ import annotations

from typing import Any

import orjson

OPENAI_AUTH = {"authorization": "Bearer test-key"}
ANTHROPIC_AUTH = {"x-api-key": "test-key", "anthropic-version": "2023-06-01"}
GEMINI_AUTH = {"x-goog-api-key": "test-key"}


def sse_events(body: str) -> list[tuple[str | None, str]]:
    """(event name, data) pairs of an SSE body; a small parser of the tests' own."""
    events: list[tuple[str | None, str]] = []
    for block in body.replace("\r\n", "\n").split("\n\n"):
        name: str | None = None
        data: list[str] = []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip())
        if data:
            events.append((name, "\n".join(data)))
    return events


def sse_json(body: str) -> list[Any]:
    return [orjson.loads(d) for _, d in sse_events(body) if d != "[DONE]"]
