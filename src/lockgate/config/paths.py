"""YAML paths: how problems name the node they are about."""

from __future__ import annotations

import re

_PLAIN_KEY = re.compile(r"[^.\[\]\s'\"]+\Z")


def join_path(path: str, key: str | int) -> str:
    """Extend a YAML path: ``models`` + ``gpt-4o`` → ``models.gpt-4o``; keys with dots are
    bracketed (``models['gpt-4.1']``) so that a path names exactly one node."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    if not _PLAIN_KEY.match(key):
        return f"{path}[{key!r}]"
    return f"{path}.{key}" if path else key
