"""Azure OpenAI: deployment URLs, ``api-version`` and the ``api-key`` header.

The deployment name is the ``model`` of the Lockgate deployment entry; the body is the OpenAI
format. ``max_tokens`` is sent (accepted by every GA api-version).
"""

from __future__ import annotations

from typing import ClassVar
from urllib.parse import quote

from lockgate.config.models import ProviderConfig
from lockgate.providers.base import json_body
from lockgate.providers.openai import OpenAIProvider
from lockgate.upstream import UpstreamClient, UpstreamRequest
from lockgate.wire import openai as wire
from lockgate.wire.types import ChatRequest, EmbeddingRequest

DEFAULT_API_VERSION = "2024-10-21"


class AzureOpenAIProvider(OpenAIProvider):
    kind: ClassVar[str] = "azure_openai"

    def __init__(self, name: str, cfg: ProviderConfig, client: UpstreamClient) -> None:
        super().__init__(name, cfg, client)
        self.max_tokens_field = "max_tokens"
        self.api_version = cfg.api_version or DEFAULT_API_VERSION
        self._headers = self.headers(("api-key", self.api_key))

    def _url(self, model: str, operation: str) -> str:
        return (
            f"{self.base_url}/openai/deployments/{quote(model, safe='')}/{operation}"
            f"?api-version={quote(self.api_version, safe='')}"
        )

    def chat_request(self, req: ChatRequest, model: str) -> UpstreamRequest:
        body = wire.encode_chat_request(req, model=model, max_tokens_field=self.max_tokens_field)
        return UpstreamRequest("POST", self.chat_url(model), self._headers, json_body(body))

    def chat_url(self, model: str) -> str:
        return self._url(model, "chat/completions")

    def embed_request(self, req: EmbeddingRequest, model: str) -> UpstreamRequest:
        body = wire.encode_embedding_request(req, model=model)
        return UpstreamRequest(
            "POST", self._url(model, "embeddings"), self._headers, json_body(body)
        )
