from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from lockgate.config.loader import Problem
from lockgate.config.models import Config
from lockgate.config.reload import ConfigWatcher

BASE = """\
version: 1
providers:
  demo: {type: mock}
models:
  chat:
    deployments: [{provider: demo, model: demo-chat}]
"""
WAIT = 5.0  # a guard against hanging, not a synchronisation delay


class Recorder:
    """Collects what the watcher reports and lets a test await the next report."""

    def __init__(self) -> None:
        self.applied: list[Config] = []
        self.rejected: list[list[Problem]] = []
        self.event = asyncio.Event()

    async def on_change(self, cfg: Config) -> None:
        self.applied.append(cfg)
        self.event.set()

    def on_error(self, problems: list[Problem]) -> None:
        self.rejected.append(problems)
        self.event.set()

    async def next(self) -> None:
        await asyncio.wait_for(self.event.wait(), WAIT)
        self.event.clear()


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "lockgate.yaml"
    path.write_text(BASE)
    return path


@pytest.fixture
async def watched(config_file: Path) -> AsyncIterator[tuple[ConfigWatcher, Recorder]]:
    rec = Recorder()
    watcher = ConfigWatcher(
        config_file, on_change=rec.on_change, on_error=rec.on_error, interval=0.01, env={}
    )
    await watcher.start()
    yield watcher, rec
    await watcher.stop()


def models_of(cfg: Config) -> list[str]:
    return list(cfg.models)


def write(path: Path, text: str) -> None:
    # Atomic, so the watcher can never observe a half-written file here and report it.
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def replace_keeping_size_and_mtime(path: Path, text: str) -> None:
    before = path.stat()
    assert len(text) == before.st_size
    replacement = path.with_suffix(".tmp")
    replacement.write_text(text)
    os.utime(replacement, ns=(before.st_atime_ns, before.st_mtime_ns))
    os.replace(replacement, path)


async def test_valid_change_is_applied(
    config_file: Path, watched: tuple[ConfigWatcher, Recorder]
) -> None:
    _, rec = watched
    write(config_file, BASE + "  more:\n    deployments: [{provider: demo, model: x}]\n")
    await rec.next()
    assert [models_of(c) for c in rec.applied] == [["chat", "more"]]
    assert rec.rejected == []


async def test_invalid_change_is_rejected_and_a_later_fix_applied(
    config_file: Path,
    watched: tuple[ConfigWatcher, Recorder],
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, rec = watched
    caplog.set_level(logging.ERROR, logger="lockgate.config")
    # what an editor might leave mid-write: truncated, plus a second mistake
    write(config_file, BASE.replace("version: 1", "version: 1\ncolour: red")[:-20])
    await rec.next()
    assert rec.applied == []
    [problems] = rec.rejected
    assert len(problems) >= 1
    lines = [r.getMessage() for r in caplog.records if r.name == "lockgate.config"]
    assert len(lines) == len(problems)
    assert all("rejected" in line for line in lines)

    write(config_file, BASE + "  fixed:\n    deployments: [{provider: demo, model: y}]\n")
    await rec.next()
    assert [models_of(c) for c in rec.applied] == [["chat", "fixed"]]


async def test_trigger_reloads_without_a_file_change(config_file: Path) -> None:
    rec = Recorder()
    # a long interval: only trigger() can cause the reload within the test
    watcher = ConfigWatcher(config_file, on_change=rec.on_change, interval=3600, env={})
    await watcher.start()
    try:
        watcher.trigger()
        await rec.next()
        assert [models_of(c) for c in rec.applied] == [["chat"]]
    finally:
        await watcher.stop()


async def test_rename_replace_is_detected_by_inode(
    config_file: Path, watched: tuple[ConfigWatcher, Recorder]
) -> None:
    _, rec = watched
    replace_keeping_size_and_mtime(config_file, BASE.replace("demo-chat", "demo-chaX"))
    await rec.next()
    assert rec.applied[0].models["chat"].deployments[0].model == "demo-chaX"


async def test_failing_callback_does_not_stop_the_watcher(config_file: Path) -> None:
    rec = Recorder()
    calls: list[Config] = []

    def on_change(cfg: Config) -> None:  # a sync callback that fails once
        calls.append(cfg)
        rec.event.set()
        if len(calls) == 1:
            raise RuntimeError("boom")

    watcher = ConfigWatcher(config_file, on_change=on_change, interval=0.01, env={})
    await watcher.start()
    try:
        write(config_file, BASE + "# one\n")
        await rec.next()
        write(config_file, BASE + "# and two\n")
        await rec.next()
        assert len(calls) == 2
    finally:
        await watcher.stop()


async def test_reload_now_reports_whether_it_applied(config_file: Path) -> None:
    rec = Recorder()
    watcher = ConfigWatcher(config_file, on_change=rec.on_change, on_error=rec.on_error, env={})
    assert await watcher.reload_now() is True
    write(config_file, "version: [")
    assert await watcher.reload_now() is False
    assert len(rec.applied) == 1 and len(rec.rejected) == 1


async def test_missing_file_keeps_config_until_it_returns(
    config_file: Path, watched: tuple[ConfigWatcher, Recorder]
) -> None:
    watcher, rec = watched
    os.unlink(config_file)
    watcher.trigger()
    await rec.next()
    [[problem]] = rec.rejected
    assert "cannot read" in problem.message
    write(config_file, BASE + "# back\n")
    await rec.next()
    assert len(rec.applied) == 1
