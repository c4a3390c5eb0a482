from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from lockgate.config.models import AppSeed, TenantSeed
from lockgate.store import ConflictError, NotFoundError, Store, ValidationError


def _app(store: Store, tenant: str = "acme", app: str = "bot") -> str:
    store.create_tenant(tenant, plan="standard")
    return store.create_app(tenant, app).id


def test_tenant_crud(store: Store) -> None:
    t = store.create_tenant("acme", plan="standard", residency=["eu"], attributes={"d": "fin"})
    assert (t.name, t.plan, t.residency, t.attributes) == (
        "acme",
        "standard",
        ("eu",),
        {"d": "fin"},
    )
    assert [x.name for x in store.list_tenants()] == ["acme"]
    updated = store.update_tenant("acme", plan=None, attributes={"d": "ops"})
    assert (updated.plan, updated.residency, updated.attributes) == (None, ("eu",), {"d": "ops"})
    assert store.get_tenant("acme") == updated
    store.delete_tenant("acme")
    with pytest.raises(NotFoundError):
        store.get_tenant("acme")
    with pytest.raises(NotFoundError):
        store.delete_tenant("acme")


def test_app_crud(store: Store) -> None:
    store.create_tenant("acme")
    a = store.create_app("acme", "bot", plan="free", roles=["production"], attributes={"x": 1})
    assert a.id.startswith("app_") and a.tenant == "acme"
    assert store.get_app(a.id) == a
    assert [x.id for x in store.list_apps("acme")] == [a.id]
    renamed = store.update_app(a.id, name="bot2", roles=[])
    assert (renamed.name, renamed.roles, renamed.plan) == ("bot2", (), "free")
    store.delete_app(a.id)
    with pytest.raises(NotFoundError):
        store.get_app(a.id)
    with pytest.raises(NotFoundError):
        store.create_app("nope", "bot")


def test_duplicates_conflict(store: Store) -> None:
    store.create_tenant("acme")
    with pytest.raises(ConflictError):
        store.create_tenant("acme")
    first = store.create_app("acme", "bot")
    with pytest.raises(ConflictError):
        store.create_app("acme", "bot")
    other = store.create_app("acme", "bot2")
    with pytest.raises(ConflictError):
        store.update_app(other.id, name="bot")
    store.create_tenant("globex")
    assert store.create_app("globex", "bot").id != first.id  # names are unique per tenant


@pytest.mark.parametrize("name", ["", "a" * 65, "has space", "slash/y", "ü"])
def test_invalid_names(store: Store, name: str) -> None:
    with pytest.raises(ValidationError) as err:
        store.create_tenant(name)
    assert err.value.field == "name"


def test_deleting_a_tenant_cascades(store: Store) -> None:
    app_id = _app(store)
    key = store.create_key(app_id).key
    store.create_admin_key("tenant-admin", "acme")
    with pytest.raises(ConflictError, match="cascade=true"):
        store.delete_tenant("acme")
    assert store.get_key(key.id) == key  # nothing half-deleted
    store.delete_tenant("acme", cascade=True)
    with pytest.raises(NotFoundError):
        store.get_key(key.id)
    snap = store.load_identity()
    assert (snap.tenants, snap.apps, snap.keys, snap.admin_keys) == ((), (), (), ())


def test_key_secret_format_and_only_hash_stored(store: Store) -> None:
    created = store.create_key(_app(store), name="ci")
    secret = created.secret
    assert re.fullmatch(r"lg-[A-Za-z0-9_-]{32,}", secret)
    assert created.key.prefix == secret[:10] and created.key.id.startswith("key_")
    with store.engine.connect() as conn:
        rows = conn.execute(sa.text("select * from api_keys")).all()
    dump = repr(rows)
    assert secret not in dump and secret[10:] not in dump
    assert hashlib.sha256(secret.encode()).hexdigest() not in dump  # keyed, not plain
    assert store.key_hasher().hash(secret) in dump and "'hmac'" in dump
    listed = store.list_keys(created.key.app_id)
    assert [k.prefix for k in listed] == [secret[:10]]
    assert not hasattr(listed[0], "hash")


def test_rotate_keeps_old_key_for_grace(store: Store) -> None:
    old = store.create_key(_app(store)).key
    new = store.rotate_key(old.id, grace_seconds=60)
    assert new.key.rotated_from == old.id and new.secret
    old_after = store.get_key(old.id)
    assert old_after.expires_at is not None
    left = old_after.expires_at - datetime.now(UTC)
    assert timedelta(seconds=50) < left <= timedelta(seconds=60)
    live = {k.id for k in store.load_identity().keys}
    assert live == {old.id, new.key.id}
    with pytest.raises(ValidationError):
        store.rotate_key(old.id, grace_seconds=-1)


def test_revoke_and_expiry_remove_keys_from_the_snapshot(store: Store) -> None:
    app_id = _app(store)
    revoked = store.create_key(app_id).key
    soon = datetime.now(UTC) + timedelta(minutes=5)
    expired = store.create_key(app_id, expires_at=soon).key
    store._now = lambda: soon + timedelta(seconds=1)  # the store's clock passes the expiry
    future = store.create_key(app_id, expires_at=soon + timedelta(hours=1)).key
    store.revoke_key(revoked.id)
    assert store.get_key(revoked.id).revoked_at is not None
    assert {k.id for k in store.load_identity().keys} == {future.id}
    assert {k.id for k in store.list_keys(app_id)} == {revoked.id, expired.id, future.id}
    with pytest.raises(ValidationError):
        store.rotate_key(revoked.id)


def test_an_expiry_in_the_past_is_refused_and_nothing_is_written(store: Store) -> None:
    app_id = _app(store)
    version = store.identity_version()
    with pytest.raises(ValidationError, match="expires_at must be in the future"):
        store.create_key(app_id, expires_at=datetime.now(UTC) - timedelta(seconds=1))
    assert store.list_keys(app_id) == [] and store.identity_version() == version


def test_identity_version_increments_on_every_mutation(store: Store) -> None:
    seen = [store.identity_version()]

    def bumped() -> None:
        seen.append(store.identity_version())
        assert seen[-1] == seen[-2] + 1

    store.create_tenant("acme")
    bumped()
    store.update_tenant("acme", plan="p")
    bumped()
    app_id = store.create_app("acme", "bot").id
    bumped()
    store.update_app(app_id, plan="q")
    bumped()
    key = store.create_key(app_id).key
    bumped()
    rotated = store.rotate_key(key.id, 10).key
    bumped()
    store.revoke_key(rotated.id)
    bumped()
    admin = store.create_admin_key("auditor").key
    bumped()
    store.revoke_admin_key(admin.id)
    bumped()
    store.delete_app(app_id)
    bumped()
    store.delete_tenant("acme")
    bumped()
    with pytest.raises(NotFoundError):
        store.delete_tenant("acme")
    assert store.identity_version() == seen[-1]  # failed mutations roll the bump back
    store.set_meta("k", "v")
    assert store.identity_version() == seen[-1]


def test_admin_keys(store: Store) -> None:
    store.create_tenant("acme")
    created = store.create_admin_key("tenant-admin", "acme")
    assert created.secret.startswith("lga-") and created.key.tenant == "acme"
    found = store.get_admin_key_by_hash(store.key_hasher().hash(created.secret))
    assert found == created.key
    with pytest.raises(ValidationError):
        store.create_admin_key("developer")
    with pytest.raises(ValidationError):
        store.create_admin_key("platform-admin", "acme")
    with pytest.raises(ValidationError):
        store.create_admin_key("root")
    with pytest.raises(NotFoundError):
        store.create_admin_key("auditor", "nope")
    store.revoke_admin_key(created.key.id)
    assert store.get_admin_key_by_hash(found.prefix) is None
    assert store.load_identity().admin_keys == ()


def test_meta(store: Store) -> None:
    assert store.get_meta("x") is None
    store.set_meta("x", "1")
    store.set_meta("x", "2")
    assert store.get_meta("x") == "2"


def test_seed_creates_once_and_never_overwrites(store: Store) -> None:
    seed = {
        "acme": TenantSeed(
            plan="standard",
            residency=["eu"],
            allow_ips=["10.0.0.0/8"],
            apps={"bot": AppSeed(plan="free", roles=["p"], deny_ips=["10.9.0.0/16"])},
        )
    }
    assert store.seed_from_config(seed) == ["acme", "acme/bot"]
    assert store.get_tenant("acme").allow_ips == ("10.0.0.0/8",)
    assert store.list_apps("acme")[0].deny_ips == ("10.9.0.0/16",)
    store.update_tenant("acme", plan="gold")
    assert store.seed_from_config(seed) == []
    assert store.get_tenant("acme").plan == "gold"
    bot = store.list_apps("acme")[0]
    store.delete_app(bot.id)
    assert store.seed_from_config(seed) == []  # a runtime deletion stays deleted
    assert store.list_apps("acme") == []
    more = {"acme": TenantSeed(apps={"new": AppSeed()})}
    assert store.seed_from_config(more) == ["acme/new"]


def test_ping_and_load_snapshot_resolves_tenant_names(store: Store) -> None:
    store.ping()
    app_id = _app(store)
    snap = store.load_identity()
    assert snap.version == store.identity_version()
    assert [(a.id, a.tenant) for a in snap.apps] == [(app_id, "acme")]


def test_key_hasher_is_hmac_sha256() -> None:
    import hmac

    from lockgate.store.keyhash import KeyHasher

    for key in (b"k" * 16, b"s" * 32, b"long" * 40):
        expected = hmac.new(key, b"lg-secret", hashlib.sha256).hexdigest()
        assert KeyHasher(key).hash("lg-secret") == expected
