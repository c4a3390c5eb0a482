"""``GET /apis/{name}/{version}/openapi.json``: one API version as an OpenAPI 3.1 document,
generated from its schemas, so it can be imported into an OpenAPI tool or an agent framework
as a single operation."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lockgate.store.product_records import ApiProduct

    from .catalog import CompiledVersion

ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "code": {"type": ["string", "null"]},
                "param": {"type": ["string", "null"]},
            },
        }
    },
}
USAGE = {
    "type": ["object", "null"],
    "properties": {
        "input_tokens": {"type": "integer"},
        "output_tokens": {"type": "integer"},
        "total_tokens": {"type": "integer"},
    },
}
ERRORS = {
    "400": "The input does not match the input schema (the message names the field).",
    "401": "Missing or unknown API key.",
    "403": "The app has no active subscription to this API (the message names its state).",
    "404": "No such API or version.",
    "410": "This version is retired; the message and the Link header name its successor.",
    "429": "A limit of the app, its tenant or its subscription refused the call.",
    "502": "The model failed, or its answer did not match the output schema.",
}


def _operation_id(name: str, version: int) -> str:
    clean = "".join(c if c.isalnum() else "_" for c in name)
    return f"{clean}_v{version}"


def version_document(api: ApiProduct, v: CompiledVersion) -> dict[str, Any]:
    summary = api.description or f"API {api.name}, version {v.version}"
    operation = _operation(api.name, v, summary)
    if v.status == "deprecated":
        operation["deprecated"] = True
    return {
        "openapi": "3.1.0",
        "info": {"title": api.name, "version": f"v{v.version}", "description": summary},
        "servers": [{"url": "/"}],
        "paths": {f"/apis/{api.name}/v{v.version}": {"post": operation}},
        "components": {
            "schemas": {"Error": ERROR},
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
        },
    }


def _operation(name: str, v: CompiledVersion, summary: str) -> dict[str, Any]:
    inputs = copy.deepcopy(v.input.document)
    properties = inputs.setdefault("properties", {})
    if isinstance(properties, dict) and "stream" not in properties:
        properties["stream"] = {
            "type": "boolean",
            "default": False,
            "description": "Stream the answer as server-sent events (delta, done).",
        }
    output: dict[str, Any] = (
        copy.deepcopy(v.output.document) if v.output is not None else {"type": "string"}
    )
    answer = {
        "type": "object",
        "required": ["output", "model", "usage"],
        "properties": {"output": output, "model": {"type": "string"}, "usage": USAGE},
    }
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    return {
        "operationId": _operation_id(name, v.version),
        "summary": summary[:120],
        "description": summary,
        "requestBody": {"required": True, "content": {"application/json": {"schema": inputs}}},
        "responses": {
            "200": {
                "description": "The model's answer.",
                "content": {
                    "application/json": {"schema": answer},
                    "text/event-stream": {"schema": {"type": "string"}},
                },
            },
            **{s: {"description": text, "content": error} for s, text in ERRORS.items()},
        },
        "security": [{"apiKey": []}],
    }
