"""Schemathesis over the admin OpenAPI document, against a real gateway process: generated
requests (valid and not) must never get a 5xx, nor a status or body the document does not
declare. Examples are bounded so the run takes seconds."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from harness import ADMIN_KEY, Proc, start_gateway
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

CONFIG = """
version: 1
server: {admin_keys: ["${env:LOCKGATE_ADMIN_KEY}"]}
storage: sqlite:///fuzz.db
providers: {demo: {type: mock}}
models: {m: {deployments: [{provider: demo, model: x}]}}
plans: {free: {models: [m]}, standard: {models: ["*"]}}
"""
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    proc, _ = start_gateway(tmp, CONFIG)
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def admin_schema(gateway: Proc) -> Any:
    return schemathesis.openapi.from_url(gateway.base + "/admin/v1/openapi.json")


SETTINGS = settings(
    max_examples=12,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
    database=None,
)


def test_admin_api_conforms_to_its_document(admin_schema: Any) -> None:
    operations = [result.ok() for result in admin_schema.get_all_operations()]
    assert len(operations) >= 15
    calls = 0
    for operation in operations:

        @SETTINGS
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            nonlocal calls
            calls += 1
            case.call_and_validate(headers={"authorization": f"Bearer {ADMIN_KEY}"}, checks=CHECKS)

        run()
    assert calls >= 5 * len(operations)  # the run really exercised every operation


def test_the_document_names_its_server_and_error_statuses(admin_schema: Any) -> None:
    raw = admin_schema.raw_schema
    assert raw["servers"] == [{"url": "/admin/v1"}]
    for path, item in raw["paths"].items():
        for method, op in item.items():
            codes = set(op["responses"])
            assert "401" in codes and "422" not in codes, (method, path)
            if method in ("post", "patch"):
                assert {"400", "413"} <= codes, (method, path)
            if "{" in path:
                assert "404" in codes, (method, path)
