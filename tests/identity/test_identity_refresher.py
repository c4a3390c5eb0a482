from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
import sqlalchemy as sa

from lockgate.identity import IdentityRefresher, KeyIndex
from lockgate.store import IdentitySnapshot, Store
from lockgate.store.keyhash import KeyHasher


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path}/lockgate.db")
    s.migrate()
    yield s
    s.close()


class Published:
    """Collects published indexes; tests await the next one instead of sleeping."""

    def __init__(self) -> None:
        self.index: KeyIndex | None = None
        self.changed = asyncio.Event()

    def __call__(self, index: KeyIndex) -> None:
        self.index = index
        self.changed.set()

    async def next(self) -> KeyIndex:
        self.changed.clear()
        await asyncio.wait_for(self.changed.wait(), 5)
        assert self.index is not None
        return self.index


async def test_refresh_now_publishes_the_store_state(store: Store) -> None:
    store.create_tenant("acme")
    secret = store.create_key(store.create_app("acme", "bot").id).secret
    published = Published()
    refresher = IdentityRefresher(store, published, bootstrap_admin_keys=["boot"])
    index = await refresher.refresh_now()
    assert published.index is index and refresher.version == store.identity_version()
    assert index.lookup(secret) is not None
    assert index.admin_lookup("boot") is not None


async def test_poller_swaps_the_index_after_a_direct_store_change(store: Store) -> None:
    store.create_tenant("acme")
    created = store.create_key(store.create_app("acme", "bot").id)
    published = Published()
    refresher = IdentityRefresher(store, published, interval=0.01)
    await refresher.start()
    try:
        assert published.index is not None and published.index.lookup(created.secret)
        await asyncio.to_thread(store.revoke_key, created.key.id)  # as the CLI would
        index = await published.next()
        assert index.lookup(created.secret) is None
    finally:
        await refresher.stop()


class FlakySource:
    def __init__(self) -> None:
        self.version = 1
        self.fail = False
        self.failed = asyncio.Event()
        self.loop = asyncio.get_running_loop()

    def identity_version(self) -> int:
        if self.fail:
            self.loop.call_soon_threadsafe(self.failed.set)
            raise OSError("store down")
        return self.version

    def load_identity(self) -> IdentitySnapshot:
        return IdentitySnapshot(self.version)

    def key_hasher(self) -> KeyHasher:
        return KeyHasher(b"0123456789abcdef")

    def rehash_keys(self, upgrades: Mapping[tuple[str, str], str]) -> int:
        return 0


async def test_failures_are_logged_and_retried(caplog: pytest.LogCaptureFixture) -> None:
    source = FlakySource()
    published = Published()
    refresher = IdentityRefresher(source, published, interval=0.01)
    await refresher.start()
    try:
        source.fail = True
        with caplog.at_level(logging.WARNING, "lockgate.identity"):
            await asyncio.wait_for(source.failed.wait(), 5)
            source.version, source.fail = 2, False
            index = await published.next()  # published after the failure was logged
        assert index.version == 2
        assert "identity refresh failed" in caplog.text
    finally:
        await refresher.stop()


async def test_an_old_sha256_key_is_rehashed_by_the_refresher_after_its_first_use(
    store: Store,
) -> None:
    store.create_tenant("acme")
    app = store.create_app("acme", "bot")
    created = store.create_key(app.id)
    with store.engine.begin() as conn:  # as a release before keyed hashing stored it
        conn.execute(
            sa.text("update api_keys set hash = :h, hash_kind = 'sha256' where id = :i"),
            {"h": KeyHasher.legacy(created.secret), "i": created.key.id},
        )
    published = Published()
    refresher = IdentityRefresher(store, published, interval=0.01)
    await refresher.start()
    try:
        assert published.index is not None
        assert published.index.lookup(created.secret) is not None  # found by its old hash
        index = await published.next()  # the refresher stored the keyed hash and reloaded
        found = index.lookup(created.secret)
        assert found is not None and found.key_id == created.key.id and not index.upgrades
        assert {k.hash_kind for k in store.load_identity().keys} == {"hmac"}
    finally:
        await refresher.stop()
