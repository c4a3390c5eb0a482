from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lockgate.identity import BOOTSTRAP_KEY_ID, AdminPrincipal, KeyIndex
from lockgate.store import AdminKeyEntry, App, IdentitySnapshot, KeyEntry, Tenant
from lockgate.store.keyhash import KeyHasher

HASHER = KeyHasher(b"test-server-secret-0123456789")
hash_secret = HASHER.hash

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def _snapshot() -> IdentitySnapshot:
    acme = Tenant("t1", "acme", "standard", ("eu",), {"department": "finance", "x": 1}, T0, T0)
    apps = (
        App("app_a", "acme", "t1", "bot", "free", ("production",), {"x": 2}, T0, T0),
        App("app_b", "acme", "t1", "batch", None, (), {}, T0, T0),
    )
    expiry = datetime.fromtimestamp(1000, UTC)
    keys = (
        KeyEntry("key_a", "app_a", "lg-aaaaaaa", hash_secret("lg-a"), None),
        KeyEntry("key_b", "app_b", "lg-bbbbbbb", hash_secret("lg-b"), expiry),
    )
    admins = (AdminKeyEntry("adm_1", "tenant-admin", "acme", hash_secret("lga-1")),)
    return IdentitySnapshot(7, (acme,), apps, keys, admins)


def test_lookup_resolves_effective_plan_and_merged_attributes() -> None:
    index = KeyIndex.from_snapshot(_snapshot(), lambda: 0.0, hasher=HASHER)
    p = index.lookup("lg-a")
    assert p is not None
    assert (p.key_id, p.key_prefix, p.app_id, p.app_name, p.tenant_name) == (
        "key_a",
        "lg-aaaaaaa",
        "app_a",
        "bot",
        "acme",
    )
    assert p.plan == "free"  # the app's plan overrides the tenant's
    assert dict(p.attributes) == {"department": "finance", "x": 2}
    assert (p.roles, p.residency, p.user, p.expires_at) == (("production",), ("eu",), None, None)
    with pytest.raises(TypeError):
        p.attributes["x"] = 3  # type: ignore[index]
    b = index.lookup("lg-b")
    assert b is not None and b.plan == "standard" and b.expires_at == 1000.0
    assert index.version == 7 and len(index) == 2


def test_unknown_and_expired_keys_are_rejected() -> None:
    now = [999.0]
    index = KeyIndex.from_snapshot(_snapshot(), lambda: now[0], hasher=HASHER)
    assert index.lookup("lg-nope") is None
    assert index.lookup("lg-b") is not None
    now[0] = 1000.0
    assert index.lookup("lg-b") is None
    assert index.lookup("lg-a") is not None


def test_revoked_keys_are_absent_from_the_index() -> None:
    snap = _snapshot()
    without_a = IdentitySnapshot(8, snap.tenants, snap.apps, snap.keys[1:], snap.admin_keys)
    assert KeyIndex.from_snapshot(without_a, lambda: 0.0, hasher=HASHER).lookup("lg-a") is None


def test_lookup_app_for_token_principals() -> None:
    index = KeyIndex.from_snapshot(_snapshot(), hasher=HASHER)
    p = index.lookup_app("acme", "batch")
    assert p is not None and p.key_id is None and p.plan == "standard"
    assert index.lookup_app("acme", "nope") is None


def test_admin_lookup_with_bootstrap_keys() -> None:
    index = KeyIndex.from_snapshot(_snapshot(), bootstrap_admin_keys=["boot", ""], hasher=HASHER)
    assert index.admin_lookup("lga-1") == AdminPrincipal("adm_1", "tenant-admin", "acme")
    assert index.admin_lookup("boot") == AdminPrincipal(BOOTSTRAP_KEY_ID, "platform-admin", None)
    assert index.admin_lookup("") is None
    assert index.admin_lookup("lg-a") is None
    assert KeyIndex.empty().lookup("lg-a") is None


def test_keys_hashed_before_keyed_hashing_keep_working() -> None:
    snap = _snapshot()
    old = KeyEntry("key_old", "app_a", "lg-ooooooo", KeyHasher.legacy("lg-old"), None, "sha256")
    admin = AdminKeyEntry("adm_old", "auditor", None, KeyHasher.legacy("lga-old"), "sha256")
    with_old = IdentitySnapshot(9, snap.tenants, snap.apps, (*snap.keys, old), (admin,))
    index = KeyIndex.from_snapshot(with_old, lambda: 0.0, hasher=HASHER)
    found = index.lookup("lg-old")
    assert found is not None and found.key_id == "key_old"
    assert index.lookup("lg-a") is not None  # keyed rows alongside
    assert index.admin_lookup("lga-old") == AdminPrincipal("adm_old", "auditor", None)
    # a keyed row is not found by its plain hash, nor the reverse
    assert (
        KeyIndex.from_snapshot(snap, hasher=KeyHasher(b"another-secret-0123")).lookup("lg-a")
        is None
    )


def test_principal_carries_time_zone_and_ip_rules() -> None:
    snap = _snapshot()
    t = snap.tenants[0]
    tenant = Tenant(
        t.id, t.name, t.plan, t.residency, {"tz": "Europe/Berlin"}, T0, T0, ("10.0.0.0/8",), ()
    )
    app = snap.apps[0]
    app = App(*[getattr(app, f) for f in App.__slots__][:9], (), ("10.9.0.0/16",))
    index = KeyIndex.from_snapshot(
        IdentitySnapshot(1, (tenant,), (app,), snap.keys[:1], ()), hasher=HASHER
    )
    p = index.lookup("lg-a")
    assert p is not None and p.tz == "Europe/Berlin"
    assert [r.owner for r in p.ip_rules] == ["tenant 'acme'", "app 'acme/bot'"]
    assert hash(p.attributes) == hash(index.lookup_app("acme", "bot").attributes)  # type: ignore[union-attr]


def test_admin_keys_by_id_for_web_sessions() -> None:
    snap = _snapshot()
    legacy = AdminKeyEntry("adm_old", "auditor", None, KeyHasher.legacy("lga-old"), "sha256")
    index = KeyIndex.from_snapshot(
        IdentitySnapshot(9, snap.tenants, snap.apps, snap.keys, (*snap.admin_keys, legacy)),
        bootstrap_admin_keys=["boot"],
        hasher=HASHER,
    )
    assert index.admin_by_id("adm_1") == AdminPrincipal("adm_1", "tenant-admin", "acme")
    assert index.admin_by_id("adm_old") == AdminPrincipal("adm_old", "auditor", None)
    boot = AdminPrincipal(BOOTSTRAP_KEY_ID, "platform-admin", None)
    assert index.admin_by_id(BOOTSTRAP_KEY_ID) == boot
    assert index.admin_by_id("adm_gone") is None
    revoked = IdentitySnapshot(10, snap.tenants, snap.apps, snap.keys, ())
    assert KeyIndex.from_snapshot(revoked, hasher=HASHER).admin_by_id("adm_1") is None
