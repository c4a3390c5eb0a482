"""Server tests run on asyncio; timeout tests (``virtual_time``) on a loop with a virtual clock."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from virtual_time import new_loop


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    if item.get_closest_marker("virtual_time") is not None:
        return {"virtual": new_loop}
    return {"asyncio": asyncio.new_event_loop}
