from __future__ import annotations

import pytest

from lockgate.apis.lifecycle import decision_transition, parse_version, version_transition


@pytest.mark.parametrize(
    ("action", "status", "result"),
    [
        ("publish", "draft", "published"),
        ("publish", "published", None),
        ("deprecate", "published", "deprecated"),
        ("deprecate", "draft", None),
        ("retire", "published", "retired"),
        ("retire", "deprecated", "retired"),
        ("retire", "draft", None),
        ("retire", "retired", None),
    ],
)
def test_version_transitions(action: str, status: str, result: str | None) -> None:
    assert version_transition(action, status) == result


def test_subscription_decisions() -> None:
    assert decision_transition("approve", "pending") == "active"
    assert decision_transition("reject", "pending") == "rejected"
    assert decision_transition("revoke", "active") == "revoked"
    assert decision_transition("revoke", "pending") == "revoked"
    assert decision_transition("approve", "active") is None
    assert decision_transition("approve", "revoked") is None


@pytest.mark.parametrize(
    ("text", "number"),
    [("v1", 1), ("1", 1), ("V12", 12), ("v0", None), ("x", None), ("", None), ("v", None)],
)
def test_versions_in_paths(text: str, number: int | None) -> None:
    assert parse_version(text) == number
