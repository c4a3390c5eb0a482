"""Checking the fields of an API version definition, the same way for the config file, the
admin API and the CLI: the model is named, the template and system prompt compile in the
sandbox, the schemas are valid JSON Schemas, sampling values are in range."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .template import DefinitionError, compile_schema, compile_template, environment

DEFAULT_INPUT_SCHEMA: dict[str, Any] = {"type": "object"}
MAX_TEMPLATE = 100_000  # characters
MAX_OUTPUT_TOKENS = 1_000_000


def check_version(fields: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
    """The given fields, checked and normalised. ``partial``: only those given (an edit);
    otherwise ``model`` and ``template`` are required and the rest get their defaults."""
    out: dict[str, Any] = {}
    unknown = set(fields) - set(_CHECKS)
    if unknown:
        name = sorted(unknown)[0]
        raise DefinitionError(f"{name}: not a field of an API version", name)
    for name, check in _CHECKS.items():
        if name in fields:
            out[name] = check(fields[name])
        elif not partial:
            if name in ("model", "template"):
                raise DefinitionError(f"{name}: required", name)
            out[name] = DEFAULT_INPUT_SCHEMA if name == "input_schema" else None
    return out


def _model(value: object) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= 128:
        raise DefinitionError("model: must be the name of a configured model", "model")
    return value


def _text_template(field: str, optional: bool) -> Any:
    def check(value: object) -> str | None:
        if value is None and optional:
            return None
        if not isinstance(value, str) or not value or len(value) > MAX_TEMPLATE:
            raise DefinitionError(
                f"{field}: must be a template of 1 to {MAX_TEMPLATE} characters", field
            )
        compile_template(value, environment(), field)
        return value

    return check


def _schema(field: str, optional: bool) -> Any:
    def check(value: object) -> dict[str, Any] | None:
        if value is None and optional:
            return None
        if value is None:
            return dict(DEFAULT_INPUT_SCHEMA)
        compiled = compile_schema(value, field, defaults=field == "input_schema")
        if field == "input_schema" and compiled.document.get("type", "object") != "object":
            raise DefinitionError(f"{field}: must describe an object (type: object)", field)
        return compiled.document

    return check


def _max_tokens(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_OUTPUT_TOKENS:
        raise DefinitionError(
            f"max_tokens: must be an integer from 1 to {MAX_OUTPUT_TOKENS}", "max_tokens"
        )
    return value


def _temperature(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 2:
        raise DefinitionError("temperature: must be a number from 0 to 2", "temperature")
    return float(value)


_CHECKS: dict[str, Any] = {
    "model": _model,
    "template": _text_template("template", optional=False),
    "system": _text_template("system", optional=True),
    "input_schema": _schema("input_schema", optional=False),
    "output_schema": _schema("output_schema", optional=True),
    "max_tokens": _max_tokens,
    "temperature": _temperature,
}
