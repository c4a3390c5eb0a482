"""Google AI Studio (Gemini API v1beta): generateContent, streamGenerateContent, embeddings."""

from __future__ import annotations

from typing import ClassVar
from urllib.parse import quote

from lockgate.config.models import ProviderConfig
from lockgate.providers.base import HttpProvider, json_body
from lockgate.providers.stream import StreamDecoder
from lockgate.upstream import UpstreamClient, UpstreamRequest
from lockgate.wire import gemini as wire
from lockgate.wire.types import ChatRequest, ChatResponse, EmbeddingRequest, EmbeddingResponse

OFFICIAL_BASE_URL = "https://generativelanguage.googleapis.com"


class GeminiProvider(HttpProvider):
    kind: ClassVar[str] = "gemini"

    def __init__(self, name: str, cfg: ProviderConfig, client: UpstreamClient) -> None:
        super().__init__(name, cfg, client)
        base = (cfg.base_url or OFFICIAL_BASE_URL).rstrip("/")
        self.base_url = base if base.endswith(("/v1beta", "/v1")) else base + "/v1beta"
        self._headers = self.headers(("x-goog-api-key", self.api_key))

    def _url(self, model: str, method: str) -> str:
        name = model if model.startswith("models/") else "models/" + model
        return f"{self.base_url}/{quote(name, safe='/')}:{method}"

    def chat_request(self, req: ChatRequest, model: str) -> UpstreamRequest:
        method = "streamGenerateContent?alt=sse" if req.stream else "generateContent"
        body = json_body(wire.encode_chat_request(req))
        return UpstreamRequest("POST", self._url(model, method), self._headers, body)

    def dropped_params(self, req: ChatRequest) -> list[str]:
        return wire.dropped_params(req)

    def parse_chat(self, body: object, model: str) -> ChatResponse:
        return wire.decode_chat_response(body, model=model)

    def stream_decoder(self, model: str) -> StreamDecoder:
        return wire.ChatStreamDecoder(model=model)

    def embed_request(self, req: EmbeddingRequest, model: str) -> UpstreamRequest:
        body = json_body(wire.encode_embedding_request(req, model=model))
        return UpstreamRequest("POST", self._url(model, "batchEmbedContents"), self._headers, body)

    def parse_embed(self, body: object, model: str) -> EmbeddingResponse:
        return wire.decode_embedding_response(body, model=model)

    def count_request(self, req: ChatRequest, model: str) -> UpstreamRequest | None:
        body = json_body(wire.encode_count_tokens_request(req, model=model))
        return UpstreamRequest("POST", self._url(model, "countTokens"), self._headers, body)

    def parse_count(self, body: object) -> int:
        return wire.decode_count_tokens_response(body)

    def decode_error(self, status: int, body: bytes) -> tuple[str, str | None, str | None]:
        return wire.decode_error(status, body)
