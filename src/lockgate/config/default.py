"""The embedded default: what ``lockgate serve`` runs without ``--config``.

SQLite under ``./.lockgate/``, in-memory state, the in-process ``mock`` provider serving
``demo-chat`` and ``demo-embed``, and — for each provider whose API key is in the environment —
that provider's common models. Two plans, so the README's admin walkthrough works as written:
``standard`` (every model) and ``free`` (the demo models). Keys are passed as ``${env:...}``
references so they are resolved and masked like any config secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lockgate.config.models import Config
from lockgate.providers.catalog import CATALOG, MOCK_MODELS, CatalogModel


def _model(provider: str, m: CatalogModel) -> dict[str, Any]:
    doc: dict[str, Any] = {"kind": m.kind, "deployments": [{"provider": provider, "model": m.name}]}
    return doc


def default_document(env: Mapping[str, str], state_dir: Path) -> dict[str, Any]:
    providers: dict[str, Any] = {"demo": {"type": "mock"}}
    models: dict[str, Any] = {m.name: _model("demo", m) for m in MOCK_MODELS}
    for entry in CATALOG:
        if env.get(entry.env_key):
            providers[entry.name] = {"type": entry.type, "api_key": env[entry.env_key]}
            for m in entry.models:
                models.setdefault(m.name, _model(entry.name, m))
    admin = env.get("LOCKGATE_ADMIN_KEY")
    return {
        "version": 1,
        "server": {"admin_keys": [admin] if admin else []},
        "storage": f"sqlite:///{(state_dir / 'lockgate.db').as_posix()}",
        "state": "memory",
        "providers": providers,
        "models": models,
        "plans": {
            "standard": {"models": ["*"]},
            "free": {"models": [m.name for m in MOCK_MODELS]},
        },
    }


def default_config(env: Mapping[str, str], state_dir: Path) -> Config:
    return Config.model_validate(default_document(env, state_dir))
