"""The data-plane routes of API products, served by ``DataPlane`` after authentication.

- ``POST /apis/{name}/{version}`` (``v1`` or ``1``): ``prepare`` resolves the version —
  404 for an unknown API or version and for drafts, 410 for a retired version (or one past
  its sunset) naming its successor — records the API on the request context, adds the
  lifecycle headers and hands back the version's codec; the data plane then runs the call as
  a chat request through the whole pipeline (subscription check, limits, guards, cache,
  routing, usage).
- ``GET /apis``: the APIs the caller may call or subscribe to, with versions, status and
  the caller's subscription state.
- ``GET /apis/{name}/{version}/openapi.json``: that version as an OpenAPI document.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from lockgate.errors import Gone, NotFound, ServiceUnavailable
from lockgate.ingress.http import Send, send_bytes
from lockgate.store.product_records import ApiProduct, ApiVersion

from .catalog import CompiledVersion, ProductIndex, http_date, successor_link
from .lifecycle import callable_status, parse_version
from .openapi import version_document

if TYPE_CHECKING:
    from lockgate.pipeline.context import RequestContext
    from lockgate.runtime import Runtime

PREFIX = "/apis"
CALL, LIST, OPENAPI = "api", "api_list", "api_openapi"
KINDS = frozenset({CALL, LIST, OPENAPI})


def route_of(path: str) -> tuple[str, str] | None:
    """(method, kind) of an API-product path, or None when it is not one."""
    if path in (PREFIX, PREFIX + "/"):
        return "GET", LIST
    if not path.startswith(PREFIX + "/"):
        return None
    parts = path[len(PREFIX) + 1 :].split("/")
    if len(parts) == 2 and all(parts):
        return "POST", CALL
    if len(parts) == 3 and all(parts[:2]) and parts[2] == "openapi.json":
        return "GET", OPENAPI
    return None


def _path_parts(path: str) -> tuple[str, str]:
    parts = path[len(PREFIX) + 1 :].split("/")
    return parts[0], parts[1]


def find(runtime: Runtime, name: str) -> tuple[ApiProduct, ProductIndex] | None:
    """The API named ``name``: the config's definition, else the store's."""
    index = runtime.apis
    api = index.api(name)
    if api is None:
        index = runtime.services.products()
        api = index.api(name)
    return None if api is None else (api, index)


def public_versions(api: ApiProduct) -> list[ApiVersion]:
    """What apps see: every version but drafts (a draft is its tenant's admins' business)."""
    return [v for v in api.versions if v.status != "draft"]


def _unknown(name: str, version: str | None = None) -> NotFound:
    if version is None:
        return NotFound(f"API '{name}' does not exist", code="api_not_found")
    return NotFound(
        f"API '{name}' has no version '{version}' (GET /apis lists them)", code="api_not_found"
    )


def _resolve(ctx: RequestContext, name: str, text: str) -> CompiledVersion:
    found = find(ctx.runtime, name)
    if found is None or not public_versions(found[0]):
        raise _unknown(name)
    index = found[1]
    number = parse_version(text)
    compiled = index.version(name, number) if number is not None else None
    if compiled is None or compiled.status == "draft":
        raise _unknown(name, text)
    return compiled


def prepare(ctx: RequestContext, path: str) -> CompiledVersion:
    """Resolve a call's version and record it on the context; raises 404 / 410 / 503."""
    name, text = _path_parts(path)
    v = _resolve(ctx, name, text)
    now = ctx.runtime.services.clock()
    if not callable_status(v.status_at(now)):
        raise _retired(v)
    if v.model not in ctx.runtime.models:
        raise ServiceUnavailable(
            f"API {v.label} calls model '{v.model}', which this gateway does not serve now; "
            "ask its publisher",
            code="api_unavailable",
        )
    ctx.api = v.api
    ctx.api_version = v.version
    ctx.route = "chat"
    if v.headers:
        ctx.response_headers.extend(v.headers)
    return v


def _retired(v: CompiledVersion) -> Gone:
    headers = {}
    message = f"API {v.label} is retired"
    if v.sunset is not None and v.status != "retired":
        message += " (its sunset has passed)"
    if v.successor is not None:
        message += f"; use v{v.successor}: POST /apis/{v.api}/v{v.successor}"
        headers["link"] = successor_link(v.api, v.successor)
    return Gone(message, code="api_retired", headers=headers)


# --- discovery -------------------------------------------------------------------------------


async def describe(kind: str, ctx: RequestContext, path: str, send: Send) -> None:
    if kind == LIST:
        body = orjson.dumps({"data": catalog_listing(ctx)})
    else:
        name, text = _path_parts(path)
        v = _resolve(ctx, name, text)
        found = find(ctx.runtime, name)
        assert found is not None
        body = orjson.dumps(version_document(found[0], v))
    await send_bytes(send, 200, body, ctx.response_headers)


def catalog_listing(ctx: RequestContext) -> list[dict[str, Any]]:
    runtime = ctx.runtime
    store = runtime.services.products()
    app_id = ctx.principal.app_id if ctx.principal is not None else ""
    now = runtime.services.clock()
    names = sorted({a.name for a in store.apis()} | {a.name for a in runtime.apis.apis()})
    out = []
    for name in names:
        found = find(runtime, name)
        assert found is not None
        api, index = found
        versions = public_versions(api)
        if not versions:
            continue
        sub = store.subscription(app_id, name)
        out.append(
            {
                "name": name,
                "description": api.description,
                "subscription": api.subscription,
                "subscribed": sub.status if sub is not None else None,
                "versions": [_version_entry(name, v, index, now) for v in versions],
            }
        )
    return out


def _version_entry(name: str, v: ApiVersion, index: ProductIndex, now: float) -> dict[str, Any]:
    compiled = index.version(name, v.version)
    return {
        "version": v.version,
        "status": compiled.status_at(now) if compiled is not None else v.status,
        "path": f"{PREFIX}/{name}/v{v.version}",
        "openapi": f"{PREFIX}/{name}/v{v.version}/openapi.json",
        "model": v.model,
        "sunset": http_date(v.sunset) if v.sunset else None,
        "successor": v.successor,
    }
