"""The admin API's OpenAPI document, made exact.

- ``servers`` says where the paths live (``/admin/v1``), so a client (or a fuzzer) resolves
  ``/tenants`` to ``/admin/v1/tenants``;
- each operation documents every error status it can answer, with the error envelope
  (``ERRORS`` below, chosen per route in routes.py), and FastAPI's generic 422 is removed:
  invalid input is answered 400 (admin/errors.py).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from .schemas import ErrorOut

ERRORS: dict[int, str] = {
    400: "Invalid request: the message and `param` name the field.",
    401: "Missing or unknown admin key.",
    403: "The admin key's role may not do this.",
    404: "Not found, or outside the admin key's tenant (the same answer, by design).",
    409: "Conflict: the name is taken, or the object still has dependants.",
    413: "The request body is larger than the admin API accepts.",
}
READ = (401, 404)
WRITE = (400, 401, 403, 404, 413)


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route that can answer these error statuses."""
    return {s: {"model": ErrorOut, "description": ERRORS[s]} for s in sorted(set(statuses))}


def install(app: FastAPI, prefix: str) -> None:
    def document() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
                servers=[{"url": prefix}],
            )
            for item in doc.get("paths", {}).values():
                for operation in item.values():
                    operation.get("responses", {}).pop("422", None)
            schemas = doc.get("components", {}).get("schemas", {})
            for unused in ("HTTPValidationError", "ValidationError"):
                schemas.pop(unused, None)
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = document  # type: ignore[method-assign]
