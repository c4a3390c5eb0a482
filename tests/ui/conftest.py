"""Fixtures of the web UI tests: one seeded gateway process and one browser per session.

See ``ui_harness`` for what the seed holds. Browser tests drive Debian's Chromium through
Playwright; it is installed with apt when missing (at collection, when browser tests are
selected), and the tests skip (or fail under LOCKGATE_REQUIRE_SERVICES=1) without it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from ui_harness import (
    ADMIN_KEY,
    ARTIFACTS,
    CHROMIUM,
    CONFIG,
    Browsing,
    Proc,
    Seed,
    free_port,
    seed_gateway,
)


@pytest.fixture(scope="session")
def seed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seed]:
    tmp = tmp_path_factory.mktemp("ui")
    cfg = tmp / "gateway.yaml"
    cfg.write_text(CONFIG.format(db=tmp / "gw.db"))
    port = free_port()
    proc = Proc(
        ["serve", "--config", str(cfg), "--port", str(port)],
        port,
        env={"LOCKGATE_ADMIN_KEY": ADMIN_KEY},
        cwd=tmp,
        log=tmp / "gateway.log",
    )
    try:
        proc.wait_ready("/healthz")
        yield seed_gateway(proc.base, tmp)
    finally:
        proc.stop()


def _unavailable(reason: str) -> None:
    if os.environ.get("LOCKGATE_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (LOCKGATE_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


def install_chromium() -> None:
    """Debian's Chromium, installed with apt when missing (Playwright cannot download here)."""
    if Path(CHROMIUM).exists() or not shutil.which("apt-get") or os.geteuid() != 0:
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "chromium"]
    for step in (install, ["apt-get", "update"], install):  # update only if needed
        subprocess.run(step, check=False, capture_output=True, timeout=900, env=env)
        if step is install and Path(CHROMIUM).exists():
            return


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # At collection, when browser tests are to run: an install takes minutes, longer than the
    # per-test timeout that would count it if a fixture did it.
    if any(item.path.name == "test_browser.py" for item in items):
        install_chromium()


@pytest.fixture(scope="session")
def chromium() -> str:
    if not Path(CHROMIUM).exists():
        _unavailable(f"{CHROMIUM} is missing and `apt-get install chromium` did not install it")
    return CHROMIUM


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Any]:
    """One Chromium for the browser tests' module. Not for the session: while Playwright's sync
    API is open its event loop counts as running, which would break later asyncio tests."""
    sync_api = pytest.importorskip("playwright.sync_api")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def browsing(browser: Any, seed: Seed) -> Iterator[Callable[..., Browsing]]:
    opened: list[Browsing] = []

    def open_(width: int = 1280, height: int = 800) -> Browsing:
        b = Browsing(browser, seed, width, height)
        opened.append(b)
        return b

    yield open_
    for b in opened:
        b.close()
