"""Anthropic Messages API: ``x-api-key`` and ``anthropic-version`` headers.

Anthropic serves no embeddings; a model of kind ``embedding`` on this provider is rejected by
config validation, and a direct call raises a clear error.
"""

from __future__ import annotations

from typing import ClassVar

from lockgate.config.models import ProviderConfig
from lockgate.errors import InvalidRequest
from lockgate.providers.base import HttpProvider, json_body
from lockgate.providers.stream import StreamDecoder
from lockgate.upstream import UpstreamClient, UpstreamRequest
from lockgate.wire import anthropic as wire
from lockgate.wire.anthropic_passthrough import ANTHROPIC_PASSTHROUGH
from lockgate.wire.passthrough import PassthroughFormat
from lockgate.wire.types import ChatRequest, ChatResponse, EmbeddingRequest

OFFICIAL_BASE_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"


class AnthropicProvider(HttpProvider):
    kind: ClassVar[str] = "anthropic"
    passthrough: ClassVar[PassthroughFormat | None] = ANTHROPIC_PASSTHROUGH

    def __init__(self, name: str, cfg: ProviderConfig, client: UpstreamClient) -> None:
        super().__init__(name, cfg, client)
        base = (cfg.base_url or OFFICIAL_BASE_URL).rstrip("/")
        self.base_url = base[:-3] if base.endswith("/v1") else base
        self._headers = self.headers(
            ("x-api-key", self.api_key), ("anthropic-version", cfg.api_version or API_VERSION)
        )

    def chat_request(self, req: ChatRequest, model: str) -> UpstreamRequest:
        body = wire.encode_chat_request(req, model=model)
        return UpstreamRequest("POST", self.chat_url(model), self._headers, json_body(body))

    def chat_url(self, model: str) -> str:
        return self.base_url + "/v1/messages"

    def dropped_params(self, req: ChatRequest) -> list[str]:
        return wire.dropped_params(req)

    def parse_chat(self, body: object, model: str) -> ChatResponse:
        return wire.decode_chat_response(body)

    def stream_decoder(self, model: str) -> StreamDecoder:
        return wire.ChatStreamDecoder()

    def embed_request(self, req: EmbeddingRequest, model: str) -> UpstreamRequest:
        raise InvalidRequest(f"provider '{self.name}' does not serve embeddings", param="model")

    def count_request(self, req: ChatRequest, model: str) -> UpstreamRequest | None:
        body = wire.encode_count_tokens_request(req, model=model)
        return UpstreamRequest(
            "POST", self.base_url + "/v1/messages/count_tokens", self._headers, json_body(body)
        )

    def parse_count(self, body: object) -> int:
        return wire.decode_count_tokens_response(body)

    def decode_error(self, status: int, body: bytes) -> tuple[str, str | None, str | None]:
        return wire.decode_error(status, body)
