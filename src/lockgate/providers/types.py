"""Provider type names and the settings each needs: the vocabulary of a config's ``type:``.

Pure data with no imports, so config validation can use it without importing the adapters.
"""

from __future__ import annotations

from typing import Literal

ProviderType = Literal["openai", "azure_openai", "anthropic", "gemini", "mock"]


def required_settings(provider_type: str, *, has_base_url: bool) -> tuple[str, ...]:
    """Settings a provider of this type cannot work without."""
    if provider_type == "azure_openai":
        return ("base_url", "api_version")
    if provider_type in ("anthropic", "gemini"):
        return ("api_key",)
    if provider_type == "openai" and not has_base_url:
        # The official API needs a key; a server at its own base_url may be a keyless local one.
        return ("api_key",)
    return ()


EMBEDDING_TYPES = frozenset({"openai", "azure_openai", "gemini", "mock"})
