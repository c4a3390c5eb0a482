from __future__ import annotations

from collections.abc import Iterator

import pytest
from harness import Env, gateway_config, make_key, start_gateway, start_mock


@pytest.fixture(scope="session")
def e2e(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    tmp = tmp_path_factory.mktemp("e2e")
    mock = start_mock(tmp)
    gateway, _ = start_gateway(tmp, gateway_config(mock.base, tmp / "gw.db"))
    try:
        key = make_key(gateway.base, "acme", "bot")
        yield Env(mock, gateway, key, tmp)
    finally:
        gateway.stop()
        mock.stop()
