"""Prompt templates and JSON Schemas of an API version, compiled once, applied per call.

Templates are Jinja2 in a ``SandboxedEnvironment``: a template may read its inputs and call
safe methods on them, never reach Python internals (``__class__``, globals, files). Inputs are
passed as *data*: a value that contains ``{{ ... }}`` is inserted as those characters, never
evaluated, so a caller cannot inject template code. Undefined names are errors
(``StrictUndefined``), reported as the input that is missing.

Input is validated against the version's ``input_schema`` (JSON Schema 2020-12) with the
schema's ``default`` values filled in first; the first problem is a 400 naming the field. An
``output_schema`` asks the model for JSON and checks what it answered (``check_output``).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import SchemaError, ValidationError, best_match

from lockgate.errors import InvalidOutput, InvalidRequest

INPUT = "invalid_input"  # the error code of every problem with a call's inputs

MAX_RENDERED = 1024 * 1024  # characters of a rendered prompt
MAX_MESSAGE = 300  # characters of a validation problem quoted back


class DefinitionError(ValueError):
    """A template or schema of a definition is malformed (``field`` names it)."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def _set_defaults(validator: Any, properties: Any, instance: Any, schema: Any) -> Iterator[Any]:
    if isinstance(instance, dict) and isinstance(properties, Mapping):
        for name, sub in properties.items():
            if isinstance(sub, Mapping) and "default" in sub and name not in instance:
                instance[name] = copy.deepcopy(sub["default"])
    yield from Draft202012Validator.VALIDATORS["properties"](
        validator, properties, instance, schema
    )


_DefaultingValidator: Any = validators.extend(  # type: ignore[no-untyped-call]
    Draft202012Validator, {"properties": _set_defaults}
)


def environment() -> SandboxedEnvironment:
    return SandboxedEnvironment(
        undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True
    )


@dataclass(frozen=True, slots=True)
class Template:
    """A compiled prompt template."""

    source: str
    compiled: Any  # jinja2.Template

    def render(self, inputs: Mapping[str, Any], field: str = "template") -> str:
        try:
            text: str = self.compiled.render(inputs)
        except UndefinedError as err:
            name = _undefined_name(str(err))
            raise InvalidRequest(
                f"input: {name}: required by the template but not given",
                param=name or "body",
                code=INPUT,
            ) from None
        except Exception as err:  # the template did something these inputs do not support
            raise InvalidRequest(
                f"input: the {field} could not be rendered with these inputs "
                f"({type(err).__name__}: {_short(str(err))})",
                param="body",
                code=INPUT,
            ) from None
        if len(text) > MAX_RENDERED:
            raise InvalidRequest(
                f"input: the rendered prompt exceeds {MAX_RENDERED} characters",
                param="body",
                code=INPUT,
            )
        return text


def compile_template(source: str, env: SandboxedEnvironment, field: str = "template") -> Template:
    try:
        return Template(source, env.from_string(source))
    except TemplateSyntaxError as err:
        raise DefinitionError(f"{field}: line {err.lineno}: {err.message}", field) from None
    except TemplateError as err:
        raise DefinitionError(f"{field}: {err}", field) from None


@dataclass(frozen=True, slots=True)
class Schema:
    """A checked JSON Schema and its validator (the input one fills in defaults)."""

    document: dict[str, Any]
    validator: Any

    def problem(self, instance: object) -> tuple[str, str] | None:
        """(field path, message) of the most relevant problem, or None if valid."""
        if self.validator.is_valid(instance):  # the common case, without collecting errors
            return None
        error = best_match(self.validator.iter_errors(instance))
        if error is None:
            return None
        return _field(error), _short(error.message)


def _remote_ref(node: object, depth: int = 0) -> str | None:
    """The first ``$ref`` that is not local to the document (schemas are never fetched)."""
    if depth > 64:
        return "(nested too deeply)"
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key in ("$ref", "$dynamicRef") and not (isinstance(value, str) and value[:1] == "#"):
                return str(value)[:80]
            found = _remote_ref(value, depth + 1)
            if found is not None:
                return found
    elif isinstance(node, list):
        for value in node:
            found = _remote_ref(value, depth + 1)
            if found is not None:
                return found
    return None


def compile_schema(document: object, field: str, *, defaults: bool = False) -> Schema:
    if not isinstance(document, Mapping):
        raise DefinitionError(f"{field}: a JSON Schema must be an object", field)
    doc = dict(document)
    remote = _remote_ref(doc)
    if remote is not None:
        raise DefinitionError(f"{field}: only local references ('#/...') are allowed", field)
    cls = _DefaultingValidator if defaults else Draft202012Validator
    try:
        cls.check_schema(doc)
    except SchemaError as err:
        where = "/".join(str(p) for p in err.absolute_path)
        at = f" at {where}" if where else ""
        message = f"{field}: not a valid JSON Schema{at}: {_short(err.message)}"
        raise DefinitionError(message, field) from None
    except (RecursionError, ValueError, TypeError) as err:
        message = f"{field}: not a valid JSON Schema ({type(err).__name__})"
        raise DefinitionError(message, field) from None
    return Schema(doc, cls(doc))


def check_input(schema: Schema, body: dict[str, Any]) -> dict[str, Any]:
    """The inputs with defaults filled in; 400 naming the first invalid field."""
    inputs = body  # the caller's freshly parsed body: filling defaults in place is safe
    try:
        problem = schema.problem(inputs)
    except RecursionError:
        raise InvalidRequest("input: nested too deeply", param="body", code=INPUT) from None
    except Exception:  # a schema the checks let through (e.g. a reference that resolves nowhere)
        raise InvalidRequest(
            "input: could not be checked against the API's input_schema; ask its publisher",
            param="body",
            code=INPUT,
        ) from None
    if problem is not None:
        field, message = problem
        raise InvalidRequest(f"input: {field}: {message}", param=field, code=INPUT)
    return inputs


def check_output(schema: Schema, text: str, api: str) -> object:
    """The model's answer parsed as JSON and valid against ``schema``; else 502."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise InvalidOutput(
            f"API {api}: the model's answer is not JSON, as its output_schema requires"
        ) from None
    try:
        problem = schema.problem(value)
    except Exception:  # RecursionError included
        raise InvalidOutput(
            f"API {api}: the model's answer could not be checked against its output_schema"
        ) from None
    if problem is not None:
        field, message = problem
        raise InvalidOutput(
            f"API {api}: the model's answer does not match output_schema at {field}: {message}"
        )
    return value


def _field(error: ValidationError) -> str:
    path = [str(p) for p in error.absolute_path]
    if error.validator == "required" and isinstance(error.instance, Mapping):
        wanted = error.validator_value if isinstance(error.validator_value, list) else []
        missing = [str(n) for n in wanted if n not in error.instance]
        if missing:
            path.append(missing[0])
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        known = error.schema.get("properties", {}) if isinstance(error.schema, Mapping) else {}
        extra = [str(n) for n in error.instance if n not in known]
        if extra:
            path.append(extra[0])
    return ".".join(path) or "body"


def _undefined_name(message: str) -> str:
    # jinja2: "'sentences' is undefined" / "'dict object' has no attribute 'x'"
    if message.startswith("'") and message.endswith("' is undefined"):
        return message[1 : -len("' is undefined")]
    marker = "has no attribute '"
    if marker in message:
        return message.split(marker, 1)[1].rstrip("'")
    return ""


def _short(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."
