"""Provider type name -> adapter. The one table that maps config ``type`` values to vendors."""

from __future__ import annotations

from lockgate.config.models import ProviderConfig
from lockgate.providers.anthropic import AnthropicProvider
from lockgate.providers.azure import AzureOpenAIProvider
from lockgate.providers.base import Provider
from lockgate.providers.gemini import GeminiProvider
from lockgate.providers.mock import MockProvider
from lockgate.providers.openai import OpenAIProvider
from lockgate.upstream import UpstreamClient


def build_provider(name: str, cfg: ProviderConfig, client: UpstreamClient) -> Provider:
    if cfg.type == "mock":
        return MockProvider(name, cfg)
    if cfg.type == "openai":
        return OpenAIProvider(name, cfg, client)
    if cfg.type == "azure_openai":
        return AzureOpenAIProvider(name, cfg, client)
    if cfg.type == "anthropic":
        return AnthropicProvider(name, cfg, client)
    if cfg.type == "gemini":
        return GeminiProvider(name, cfg, client)
    raise ValueError(f"unknown provider type {cfg.type!r}")
