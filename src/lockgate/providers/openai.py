"""OpenAI and every OpenAI-compatible server (vLLM, Ollama, Groq, Mistral, Together, ...).

The official API takes ``max_completion_tokens`` (newer models reject ``max_tokens``); most
compatible servers only know ``max_tokens``, so the field depends on whether ``base_url`` is set.
OpenAI has no token-counting endpoint: ``count_tokens`` returns None and the gateway estimates.
"""

from __future__ import annotations

from typing import Any, ClassVar

from lockgate.config.models import ProviderConfig
from lockgate.providers.base import HttpProvider, json_body
from lockgate.providers.stream import StreamDecoder
from lockgate.upstream import UpstreamClient, UpstreamRequest
from lockgate.wire import openai as wire
from lockgate.wire.openai_passthrough import OPENAI_PASSTHROUGH
from lockgate.wire.passthrough import PassthroughFormat
from lockgate.wire.types import ChatRequest, ChatResponse, EmbeddingRequest, EmbeddingResponse

OFFICIAL_BASE_URL = "https://api.openai.com/v1"


class OpenAIProvider(HttpProvider):
    kind: ClassVar[str] = "openai"
    passthrough: ClassVar[PassthroughFormat | None] = OPENAI_PASSTHROUGH

    def __init__(self, name: str, cfg: ProviderConfig, client: UpstreamClient) -> None:
        super().__init__(name, cfg, client)
        self.base_url = (cfg.base_url or OFFICIAL_BASE_URL).rstrip("/")
        self.max_tokens_field = "max_tokens" if cfg.base_url else "max_completion_tokens"
        auth = [("authorization", f"Bearer {self.api_key}")] if self.api_key else []
        self._headers = self.headers(*auth)

    def chat_request(self, req: ChatRequest, model: str) -> UpstreamRequest:
        body = wire.encode_chat_request(req, model=model, max_tokens_field=self.max_tokens_field)
        return UpstreamRequest("POST", self.chat_url(model), self._headers, json_body(body))

    def adapt_passthrough(self, body: dict[str, Any]) -> dict[str, Any]:
        # A compatible server (or Azure) takes max_tokens, as the translated path sends it.
        if self.max_tokens_field == "max_tokens" and "max_tokens" not in body:
            limit = body.pop("max_completion_tokens", None)
            if limit is not None:
                body["max_tokens"] = limit
        return body

    def chat_url(self, model: str) -> str:
        return self.base_url + "/chat/completions"

    def dropped_params(self, req: ChatRequest) -> list[str]:
        return wire.dropped_params(req)

    def parse_chat(self, body: object, model: str) -> ChatResponse:
        return wire.decode_chat_response(body)

    def stream_decoder(self, model: str) -> StreamDecoder:
        return wire.ChatStreamDecoder()

    def embed_request(self, req: EmbeddingRequest, model: str) -> UpstreamRequest:
        body = wire.encode_embedding_request(req, model=model)
        return UpstreamRequest(
            "POST", self.base_url + "/embeddings", self._headers, json_body(body)
        )

    def parse_embed(self, body: object, model: str) -> EmbeddingResponse:
        return wire.decode_embedding_response(body)

    def decode_error(self, status: int, body: bytes) -> tuple[str, str | None, str | None]:
        return wire.decode_error(status, body)
