"""The mock upstream fixture of the guard and cache tests (see ``guard_helpers``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from guard_helpers import Upstream, serve_upstream


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    async with serve_upstream() as up:
        yield up
