"""The admin API's error envelope: every error is ``{"error": {message, type, code, param}}``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from lockgate.errors import GatewayError, InternalError, InvalidRequest, NotFound
from lockgate.store.errors import ConflictError, NotFoundError, StoreError, ValidationError


class Conflict(GatewayError):
    status = 409
    openai_type = "invalid_request_error"
    default_code = "conflict"


def from_store(exc: StoreError) -> GatewayError:
    if isinstance(exc, NotFoundError):
        return NotFound(exc.message, param=exc.field)
    if isinstance(exc, ConflictError):
        return Conflict(exc.message, param=exc.field or "name")
    if isinstance(exc, ValidationError):
        return InvalidRequest(exc.message, code="invalid_request", param=exc.field)
    return InternalError("the identity store failed")


def validation_error(errors: Sequence[Any]) -> InvalidRequest:
    """The first problem, as ``"<field path>: <problem>"`` with the path in ``param``."""
    first = errors[0] if errors else {}
    loc = [str(p) for p in first.get("loc", ())]
    if loc and loc[0] in ("body", "query", "path", "header"):
        loc = loc[1:]
    if first.get("type") == "json_invalid" or not loc:
        loc = ["body"]
    path = ".".join(loc)
    problem = str(first.get("msg", "invalid value"))
    return InvalidRequest(f"{path}: {problem}", code="invalid_request", param=path)


def _send(exc: GatewayError) -> Response:
    return Response(
        exc.openai_body(), exc.http_status, headers=exc.headers, media_type="application/json"
    )


def install_error_handlers(app: FastAPI) -> None:
    async def gateway(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, GatewayError)
        return _send(exc)

    async def store(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, StoreError)
        return _send(from_store(exc))

    async def invalid(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return _send(validation_error(exc.errors()))

    async def http(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        err = GatewayError(str(exc.detail), code=f"http_{exc.status_code}")
        body = err.openai_body().replace(b'"api_error"', b'"invalid_request_error"')
        return Response(body, exc.status_code, headers=exc.headers, media_type="application/json")

    app.add_exception_handler(GatewayError, gateway)
    app.add_exception_handler(StoreError, store)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(HTTPException, http)
