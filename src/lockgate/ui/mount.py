"""Build the web UI for a running gateway (called on the first request to a UI path)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp

from lockgate.apis.openapi import version_document
from lockgate.apis.route import find
from lockgate.identity.iprules import networks
from lockgate.state import RedisState
from lockgate.store.audit_repo import AuditRepo, Verdict

from .adminapi import AdminApi
from .app import create_ui
from .portal import Catalog
from .session import Signer, derive_key
from .signouts import MemorySignOuts, RedisSignOuts
from .web import Web

if TYPE_CHECKING:
    from lockgate.app import Gateway

SESSION_LABEL = "lockgate-web-ui-session-signing-key"


async def build_ui(gateway: Gateway) -> ASGIApp:
    # The store's keyed hash (its server secret, shared by every worker and replica) of a
    # fixed label: the session signing key is the same in every process of this gateway.
    hasher = await asyncio.to_thread(gateway.store.key_hasher)
    proxies = gateway.config.server.trusted_proxies  # server settings need a restart anyway
    trusted = networks(proxies) if proxies else None
    signer = Signer(derive_key(hasher.hash(SESSION_LABEL)))
    web = Web(
        admin=AdminApi(lambda: gateway.admin),
        signer=signer,
        admin_by_id=lambda key_id: gateway.keys.admin_by_id(key_id),
        admin_lookup=lambda secret: gateway.keys.admin_lookup(secret) if secret else None,
        clock=gateway.services.clock,
        trusted_proxies=lambda: trusted,
        signouts=(
            RedisSignOuts(gateway.state.client, gateway.services.key_prefix)
            if isinstance(gateway.state, RedisState)
            else MemorySignOuts()
        ),
    )

    async def verify() -> Verdict:
        return await asyncio.to_thread(AuditRepo(gateway.store.engine).verify)

    def document(name: str, version: int) -> dict[str, Any] | None:
        found = find(gateway.runtime, name)
        if found is None:
            return None
        api, index = found
        v = index.version(name, version)
        return None if v is None or v.status == "draft" else version_document(api, v)

    catalog = Catalog(
        document=document,
        models=lambda plan, roles: gateway.runtime.allowed_models(plan, roles),
    )
    return create_ui(web, verify=verify, catalog=catalog)
