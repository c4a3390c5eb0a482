"""The CEL condition module: compile-time checks, the fields read, evaluation and its memo."""

from __future__ import annotations

import pytest

from lockgate.conditions import (
    ConditionError,
    EvaluationError,
    compile_condition,
    frozen_map,
)

SCHEMA = {
    "principal": frozenset({"tenant", "app", "user", "roles", "attributes"}),
    "request": frozenset({"model", "route", "ip", "headers", "time", "tokens"}),
}


def test_fields_read_are_found_and_sorted() -> None:
    c = compile_condition(
        'principal.attributes.department == "finance" && request.time.hour >= 9', SCHEMA
    )
    assert c.fields == (("principal", "attributes"), ("request", "time"))


def test_strings_do_not_count_as_references() -> None:
    c = compile_condition('request.model == "request.headers" && \'principal.user\' != ""', SCHEMA)
    assert c.fields == (("request", "model"),)


def test_a_root_read_as_a_whole_needs_every_field() -> None:
    c = compile_condition('request["model"] == "m"', SCHEMA)
    assert {f for _, f in c.fields} == SCHEMA["request"]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("request.model ==", "not a valid CEL expression: column"),
        ("request.nope == 1", "unknown field request.nope"),
        ("user == 'x'", "unknown name 'user'"),
        ("lowerAscii(request.model) == 'x'", "unknown function lowerAscii()"),
        ("   ", "an empty condition"),
    ],
)
def test_invalid_expressions_say_why(source: str, message: str) -> None:
    with pytest.raises(ConditionError) as info:
        compile_condition(source, SCHEMA)
    assert message in str(info.value)


def test_comprehension_variables_are_not_unknown_names() -> None:
    c = compile_condition('principal.roles.exists(r, r.startsWith("prod"))', SCHEMA)
    assert c.evaluate([("production",)]) is True
    assert c.evaluate([("research",)]) is False


def test_evaluate_with_maps_lists_and_null() -> None:
    c = compile_condition(
        '"admin" in principal.roles && principal.user == null '
        '&& principal.attributes.level >= 3 && request.headers["x-team"] == "red"',
        SCHEMA,
    )
    fields = [f for _, f in c.fields]
    assert fields == ["attributes", "roles", "user", "headers"]
    ok = [frozen_map({"level": 3}), ("admin",), None, frozen_map({"x-team": "red"})]
    assert c.evaluate(ok) is True
    ok[3] = frozen_map({"x-team": "blue"})
    assert c.evaluate(ok) is False


def test_runtime_errors_raise_and_are_remembered() -> None:
    c = compile_condition('principal.attributes.department == "finance"', SCHEMA)
    with pytest.raises(EvaluationError, match="department"):
        c.evaluate([frozen_map({})])
    with pytest.raises(EvaluationError):
        c.evaluate([frozen_map({})])  # from the memo this time
    assert c.evaluate([frozen_map({"department": "finance"})]) is True


def test_a_result_that_is_not_a_bool_is_an_error() -> None:
    c = compile_condition("request.model", SCHEMA)
    with pytest.raises(EvaluationError, match="not a bool"):
        c.evaluate(["m"])


def test_unhashable_values_are_evaluated_without_the_memo() -> None:
    c = compile_condition('request.headers["a"] == "b"', SCHEMA)
    assert c.evaluate([{"a": "b"}]) is True
    assert c.evaluate([{"a": "c"}]) is False


def test_frozen_maps_are_read_only_and_hash_by_content() -> None:
    a, b = frozen_map({"x": [1, 2]}), frozen_map({"x": [1, 2]})
    assert hash(a) == hash(b) and a == b
    with pytest.raises(TypeError):
        a["y"] = 1  # type: ignore[index]


def test_time_window() -> None:
    c = compile_condition(
        "request.time.hour >= 9 && request.time.hour < 17 "
        "&& request.time.weekday >= 1 && request.time.weekday <= 5",
        SCHEMA,
    )
    assert c.evaluate([frozen_map({"hour": 9, "weekday": 1})]) is True
    assert c.evaluate([frozen_map({"hour": 17, "weekday": 1})]) is False
    assert c.evaluate([frozen_map({"hour": 12, "weekday": 6})]) is False
