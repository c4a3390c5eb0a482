"""The fuzz targets in the suite: every corpus input replayed, and a short seeded atheris run.

``tests/fuzz/corpus/<target>/`` holds the seeds (``seed-*``) and the inputs that once found a
bug (``regression-*``, each named after what it found); all are replayed here on every run.
The seeded run mutates from that corpus for a few thousand inputs, the same ones every time;
``make fuzz`` runs far longer from the same place.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import targets

HERE = Path(__file__).parent
CORPUS = HERE / "corpus"
SEEDED_RUNS = 2000


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def _inputs() -> list[tuple[str, Path]]:
    return [
        (target, path) for target in targets.TARGETS for path in sorted((CORPUS / target).iterdir())
    ]


@pytest.mark.parametrize(
    ("target", "path"), _inputs(), ids=lambda v: v.name if isinstance(v, Path) else v
)
def test_corpus_input_replays_cleanly(
    target: str, path: Path, loop: asyncio.AbstractEventLoop
) -> None:
    targets.bound(target, loop)(path.read_bytes())


@pytest.mark.parametrize("target", targets.TARGETS)
def test_short_seeded_fuzz_run(target: str, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS / target, corpus)  # libFuzzer adds what it finds to this copy
    result = subprocess.run(
        [
            sys.executable,
            str(HERE / "run.py"),
            target,
            f"-runs={SEEDED_RUNS}",
            "-seed=1",
            f"-artifact_prefix={tmp_path}/",
            str(corpus),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    findings = [p.name for p in tmp_path.iterdir() if p.is_file()]
    assert result.returncode == 0 and not findings, result.stderr[-4000:]
