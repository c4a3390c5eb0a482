"""Run one fuzz target under atheris (libFuzzer): ``python tests/fuzz/run.py TARGET [args]``.

TARGET is one of ``targets.TARGETS``; the other arguments are libFuzzer's (``-runs=N``,
``-seed=S``, ``-max_total_time=S``, corpus directories, ``-artifact_prefix=DIR/``). A finding
is written as ``crash-*`` (or ``timeout-*``, ``oom-*``) under the artifact prefix; copy it into
``tests/fuzz/corpus/TARGET/`` and ``test_fuzz.py`` replays it on every ``make test``.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).parent))

with atheris.instrument_imports(include=["lockgate", "targets"]):
    import targets


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in targets.TARGETS:
        sys.exit(f"usage: run.py {{{','.join(targets.TARGETS)}}} [libFuzzer options]")
    name = sys.argv.pop(1)
    logging.disable(logging.CRITICAL)  # apps that misbehave on purpose are logged per input
    target = targets.bound(name, asyncio.new_event_loop())
    atheris.Setup(sys.argv, target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
