"""Routing tests drive real ``lockgate mock-upstream`` processes with the e2e harness."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from live_helpers import MockUpstreams


@pytest.fixture
def mock_upstream(tmp_path: Path) -> Iterator[MockUpstreams]:
    """``mock_upstream(*flags, port=None)`` or ``mock_upstream.many([...], [...])``."""
    mocks = MockUpstreams(tmp_path)
    try:
        yield mocks
    finally:
        mocks.stop_all()
