#!/usr/bin/env python3
"""Lockgate at twice its sustainable rate, with and without shedding, then recovery.

See bench/lgbench/overload.py and bench/README.md; appends its section to bench/RESULTS.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
if not any(Path(p or ".").resolve() == _HERE for p in sys.path):
    sys.path.insert(0, str(_HERE))

from lgbench.overload import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
