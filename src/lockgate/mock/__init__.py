"""The mock provider: a deterministic stand-in for OpenAI, Azure OpenAI, Anthropic and Gemini.

``engine`` holds the vendor-neutral behaviour (shared with the gateway's in-process ``mock``
provider); ``server`` serves it over the vendors' own wire formats for tests and benchmarks.
"""

from lockgate.mock.engine import (
    ChatCall,
    Directives,
    FailCounter,
    MockBehaviour,
    MockReply,
    MockToolCall,
    count_tokens,
    embed,
    parse_directives,
    reply_for,
)
from lockgate.mock.server import MockApp, create_mock_app, run_mock_upstream
from lockgate.mock.stats import MockStats

__all__ = [
    "ChatCall",
    "Directives",
    "FailCounter",
    "MockApp",
    "MockBehaviour",
    "MockReply",
    "MockStats",
    "MockToolCall",
    "count_tokens",
    "create_mock_app",
    "embed",
    "parse_directives",
    "reply_for",
    "run_mock_upstream",
]
