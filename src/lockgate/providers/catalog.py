"""Common models of each provider type, with list prices (USD per 1M tokens).

Used by the embedded default config when a provider's API key is in the environment. Prices
ship with the package (nothing is fetched at run time); a config file overrides them per model.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CatalogModel:
    name: str
    kind: str  # chat | embedding
    input: float
    output: float
    cached_input: float | None = None
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
            CatalogModel("gpt-4o-mini", "chat", 0.15, 0.60, 0.075, 128_000),
            CatalogModel("gpt-4o", "chat", 2.50, 10.00, 1.25, 128_000),
            CatalogModel("gpt-4.1-mini", "chat", 0.40, 1.60, 0.10, 1_047_576),
            CatalogModel("gpt-4.1", "chat", 2.00, 8.00, 0.50, 1_047_576),
            CatalogModel("text-embedding-3-small", "embedding", 0.02, 0.0),
            CatalogModel("text-embedding-3-large", "embedding", 0.13, 0.0),
        ),
    ),
    CatalogProvider(
        "anthropic",
        "anthropic",
        "ANTHROPIC_API_KEY",
        (
            CatalogModel("claude-haiku-4-5", "chat", 1.00, 5.00, 0.10, 200_000),
            CatalogModel("claude-sonnet-4-5", "chat", 3.00, 15.00, 0.30, 200_000),
            CatalogModel("claude-3-5-haiku-latest", "chat", 0.80, 4.00, 0.08, 200_000),
        ),
    ),
    CatalogProvider(
        "gemini",
        "gemini",
        "GEMINI_API_KEY",
        (
            CatalogModel("gemini-2.5-flash", "chat", 0.30, 2.50, 0.075, 1_048_576),
            CatalogModel("gemini-2.5-flash-lite", "chat", 0.10, 0.40, 0.025, 1_048_576),
            CatalogModel("gemini-2.5-pro", "chat", 1.25, 10.00, 0.31, 1_048_576),
            CatalogModel("gemini-embedding-001", "embedding", 0.15, 0.0),
        ),
    ),
)

MOCK_MODELS: tuple[CatalogModel, ...] = (
    CatalogModel("demo-chat", "chat", 1.00, 2.00, None, 32_768),
    CatalogModel("demo-embed", "embedding", 0.10, 0.0),
)
