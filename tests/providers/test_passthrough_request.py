"""The upstream request of a same-format passthrough: body, URL and headers per provider."""

from __future__ import annotations

from typing import Any

import orjson

from lockgate.config.models import ProviderConfig
from lockgate.providers.anthropic import AnthropicProvider
from lockgate.providers.azure import AzureOpenAIProvider
from lockgate.providers.base import HttpProvider, passthrough_to
from lockgate.providers.gemini import GeminiProvider
from lockgate.providers.openai import OpenAIProvider

BODY: dict[str, Any] = {
    "model": "alias",
    "messages": [{"role": "user", "content": "hi"}],
    "max_completion_tokens": 50,
    "verbosity": "low",
}


def cfg(**fields: Any) -> ProviderConfig:
    return ProviderConfig.model_validate(fields)


def sent(provider: HttpProvider, stream: bool = False) -> tuple[str, dict[str, str], Any]:
    _, req = provider._passthrough_request(BODY, "up-model", stream, [("anthropic-beta", "b1")])
    return req.url, dict(req.headers), orjson.loads(req.body)


def test_official_openai_gets_the_body_as_sent() -> None:
    p = OpenAIProvider("oai", cfg(type="openai", api_key="sk"), None)  # type: ignore[arg-type]
    url, headers, body = sent(p, stream=True)
    assert url == "https://api.openai.com/v1/chat/completions"
    assert headers["authorization"] == "Bearer sk"
    assert body == {**BODY, "model": "up-model", "stream_options": {"include_usage": True}}


def test_compatible_servers_and_azure_get_max_tokens_as_translated_calls_do() -> None:
    local = OpenAIProvider("local", cfg(type="openai", base_url="http://h/v1"), None)  # type: ignore[arg-type]
    _, _, body = sent(local)
    assert body["max_tokens"] == 50 and "max_completion_tokens" not in body
    assert body["verbosity"] == "low"
    azure_cfg = cfg(type="azure_openai", base_url="https://a", api_version="v", api_key="k")
    url, headers, body = sent(AzureOpenAIProvider("az", azure_cfg, None))  # type: ignore[arg-type]
    assert url == "https://a/openai/deployments/up-model/chat/completions?api-version=v"
    assert headers["api-key"] == "k" and body["max_tokens"] == 50
    assert BODY["max_completion_tokens"] == 50  # the client's body is never changed


def test_anthropic_and_who_takes_which_format() -> None:
    p = AnthropicProvider("claude", cfg(type="anthropic", api_key="k"), None)  # type: ignore[arg-type]
    url, headers, body = sent(p)
    assert url == "https://api.anthropic.com/v1/messages"
    assert headers["x-api-key"] == "k" and headers["anthropic-beta"] == "b1"
    assert body["model"] == "up-model" and body["max_completion_tokens"] == 50
    assert passthrough_to(p, "anthropic") is p and passthrough_to(p, "openai") is None
    gem = GeminiProvider("g", cfg(type="gemini", api_key="k"), None)  # type: ignore[arg-type]
    assert passthrough_to(gem, "openai") is None and passthrough_to(gem, "anthropic") is None
