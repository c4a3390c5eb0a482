"""Common models of each provider type, exposed by the embedded default config when the
provider's API key is in the environment. Their prices come from the shipped price table
(``prices.json``); a config file overrides them per model.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CatalogModel:
    name: str
    kind: str  # chat | embedding
    context_window: int | None = None


@dataclass(frozen=True, slots=True)
class CatalogProvider:
    name: str  # the provider's name in the default config
    type: str  # ProviderConfig.type
    env_key: str  # environment variable holding the API key
    models: tuple[CatalogModel, ...]


CATALOG: tuple[CatalogProvider, ...] = (
    CatalogProvider(
        "openai",
        "openai",
        "OPENAI_API_KEY",
        (
            CatalogModel("gpt-4o-mini", "chat", 128_000),
            CatalogModel("gpt-4o", "chat", 128_000),
            CatalogModel("gpt-4.1-mini", "chat", 1_047_576),
            CatalogModel("gpt-4.1", "chat", 1_047_576),
            CatalogModel("text-embedding-3-small", "embedding"),
            CatalogModel("text-embedding-3-large", "embedding"),
        ),
    ),
    CatalogProvider(
        "anthropic",
        "anthropic",
        "ANTHROPIC_API_KEY",
        (
            CatalogModel("claude-haiku-4-5", "chat", 200_000),
            CatalogModel("claude-sonnet-4-5", "chat", 200_000),
            CatalogModel("claude-3-5-haiku-latest", "chat", 200_000),
        ),
    ),
    CatalogProvider(
        "gemini",
        "gemini",
        "GEMINI_API_KEY",
        (
            CatalogModel("gemini-2.5-flash", "chat", 1_048_576),
            CatalogModel("gemini-2.5-flash-lite", "chat", 1_048_576),
            CatalogModel("gemini-2.5-pro", "chat", 1_048_576),
            CatalogModel("gemini-embedding-001", "embedding"),
        ),
    ),
)

MOCK_MODELS: tuple[CatalogModel, ...] = (
    CatalogModel("demo-chat", "chat", 32_768),
    CatalogModel("demo-embed", "embedding"),
)
