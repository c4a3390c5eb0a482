"""API products, versions and subscriptions in the store, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import pytest

from lockgate.store import ConflictError, NotFoundError, Store, ValidationError

DEF: dict[str, Any] = {
    "model": "m",
    "template": "Summarize: {{ text }}",
    "input_schema": {"type": "object", "required": ["text"]},
}


def _app(store: Store, tenant: str = "acme") -> str:
    store.create_tenant(tenant)
    return store.create_app(tenant, "bot").id


def test_an_api_goes_through_its_lifecycle(store: Store) -> None:
    store.create_tenant("acme")
    before = store.identity_version()
    api = store.products.create_api("summarize", tenant="acme", description="Short texts")
    assert (api.tenant, api.subscription, api.versions) == ("acme", "manual", ())
    assert store.identity_version() > before  # gateways reload their product index
    v1 = store.products.add_version("summarize", **DEF)
    v2 = store.products.add_version("summarize", **DEF)
    assert (v1.version, v1.status, v2.version) == (1, "draft", 2)
    edited = store.products.update_version("summarize", 1, template="Shorten: {{ text }}")
    assert edited.template == "Shorten: {{ text }}" and edited.model == "m"
    assert store.products.transition("summarize", 1, "publish").published_at is not None
    with pytest.raises(ConflictError, match="immutable"):
        store.products.update_version("summarize", 1, template="changed")
    with pytest.raises(ConflictError):
        store.products.delete_version("summarize", 1)
    with pytest.raises(ConflictError, match="cannot publish"):
        store.products.transition("summarize", 1, "publish")
    sunset = datetime(2027, 6, 30, tzinfo=UTC)
    store.products.transition("summarize", 2, "publish")
    dep = store.products.transition("summarize", 1, "deprecate", sunset=sunset, successor=2)
    assert (dep.status, dep.sunset, dep.successor) == ("deprecated", sunset, 2)
    assert dep.deprecated_at is not None
    with pytest.raises(ValidationError):
        store.products.transition("summarize", 1, "retire", successor=9)
    assert store.products.transition("summarize", 1, "retire").status == "retired"
    assert [v.status for v in store.products.get_api("summarize").versions] == [
        "retired",
        "published",
    ]
    with pytest.raises(ConflictError, match="retire them first"):
        store.products.delete_api("summarize")
    store.products.transition("summarize", 2, "retire")
    store.products.delete_api("summarize")
    with pytest.raises(NotFoundError):
        store.products.get_api("summarize")


def test_definitions_are_checked(store: Store) -> None:
    store.products.create_api("x")
    with pytest.raises(ValidationError) as info:
        store.products.add_version("x", model="m", template="{{ broken")
    assert info.value.field == "template"
    with pytest.raises(ValidationError) as info:
        store.products.add_version("x", model="m", template="ok", input_schema={"type": 1})
    assert info.value.field == "input_schema"
    store.products.add_version("x", version=5, **DEF)
    with pytest.raises(ConflictError):
        store.products.add_version("x", version=5, **DEF)
    with pytest.raises(ConflictError):
        store.products.create_api("x")
    with pytest.raises(NotFoundError):
        store.products.create_api("y", tenant="nope")
    with pytest.raises(ValidationError):
        store.products.create_api("y", subscription="sometimes")


def test_subscriptions_and_their_decisions(store: Store) -> None:
    app = _app(store)
    pending = store.products.request_subscription(app, "summarize", mode="manual", reason="pls")
    assert (pending.status, pending.tenant, pending.app_name) == ("pending", "acme", "bot")
    with pytest.raises(ConflictError):  # one live subscription per app and API
        store.products.request_subscription(app, "summarize", mode="manual")
    active = store.products.decide(pending.id, "approve", actor="adm_1", reason="ok")
    assert (active.status, active.decided_by, active.decision_reason) == ("active", "adm_1", "ok")
    with pytest.raises(ConflictError, match="cannot be approved"):
        store.products.decide(pending.id, "approve", actor="adm_1")
    state = store.load_identity().products.subscriptions
    assert [(s.app_id, s.api, s.status) for s in state] == [(app, "summarize", "active")]
    store.products.decide(pending.id, "revoke", actor="adm_1", reason="abuse")
    again = store.products.request_subscription(app, "summarize", mode="auto", plan="gold")
    assert (again.status, again.plan, again.decided_by) == ("active", "gold", "auto")
    # the snapshot carries the latest subscription of each app and API
    [latest] = store.load_identity().products.subscriptions
    assert (latest.id, latest.status, latest.plan) == (again.id, "active", "gold")
    events = store.products.subscription_events(pending.id)
    assert [(e.event, e.actor, e.reason) for e in events] == [
        ("subscription.requested", "cli", "pls"),
        ("subscription.approved", "adm_1", "ok"),
        ("subscription.revoked", "adm_1", "abuse"),
    ]
    assert events[-1].data["status"] == "revoked" and events[-1].data["tenant"] == "acme"
    listed = store.products.list_subscriptions(api="summarize")
    assert [s.id for s in listed] == [again.id, pending.id]
    assert store.products.list_subscriptions(status="revoked")[0].id == pending.id
    assert store.products.list_subscriptions(tenants=["globex"]) == []
    with pytest.raises(NotFoundError):
        store.products.request_subscription("app_nope", "summarize", mode="manual")


def test_each_decision_is_announced_once(store: Store) -> None:
    app = _app(store)
    sub = store.products.request_subscription(app, "a", mode="manual")
    store.products.decide(sub.id, "reject", actor="adm", reason="no")
    assert store.load_identity().products.unannounced == 2
    claimed: list[list[Any]] = []

    def claim() -> None:
        claimed.append(store.products.claim_events())

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    events = [e for batch in claimed for e in batch]
    assert sorted(e.event for e in events) == ["subscription.rejected", "subscription.requested"]
    assert store.load_identity().products.unannounced == 0
    assert store.products.claim_events() == []


def test_apps_remember_who_created_them(store: Store) -> None:
    store.create_tenant("acme")
    app = store.create_app("acme", "bot", created_by="adm_dev")
    assert store.get_app(app.id).created_by == "adm_dev"
    assert store.create_app("acme", "cli-made").created_by is None
