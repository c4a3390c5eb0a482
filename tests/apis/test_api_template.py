"""Templates render in a sandbox with inputs as data; schemas fill defaults and name fields."""

from __future__ import annotations

from typing import Any

import pytest

from lockgate.apis.definition import check_version
from lockgate.apis.template import (
    DefinitionError,
    check_input,
    check_output,
    compile_schema,
    compile_template,
    environment,
)
from lockgate.errors import InvalidOutput, InvalidRequest

SCHEMA = {
    "type": "object",
    "required": ["text"],
    "additionalProperties": False,
    "properties": {
        "text": {"type": "string", "maxLength": 50},
        "sentences": {"type": "integer", "default": 3, "minimum": 1},
        "style": {
            "type": "object",
            "properties": {"tone": {"enum": ["plain", "formal"], "default": "plain"}},
        },
    },
}


def render(template: str, inputs: dict[str, Any]) -> str:
    return compile_template(template, environment()).render(inputs)


@pytest.mark.parametrize(
    "value",
    [
        "{{ 7 * 7 }}",
        "{% for x in range(3) %}boom{% endfor %}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{# comment #}{{ config }}",
        "{{ text }}",
    ],
)
def test_inputs_are_data_never_template_code(value: str) -> None:
    assert render("Summarize: {{ text }}", {"text": value}) == f"Summarize: {value}"


def test_the_sandbox_refuses_python_internals_in_a_template() -> None:
    with pytest.raises(InvalidRequest) as info:
        render("{{ text.__class__.__mro__ }}", {"text": "x"})
    assert "SecurityError" in info.value.message


def test_a_missing_input_is_a_400_naming_it() -> None:
    with pytest.raises(InvalidRequest) as info:
        render("Hello {{ name }}", {})
    assert info.value.param == "name" and "name" in info.value.message


def test_defaults_are_filled_in_then_the_template_sees_them() -> None:
    schema = compile_schema(SCHEMA, "input_schema", defaults=True)
    inputs = check_input(schema, {"text": "abc", "style": {}})
    assert inputs == {"text": "abc", "sentences": 3, "style": {"tone": "plain"}}
    assert render("{{ sentences }} {{ style.tone }}", inputs) == "3 plain"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "text"),
        ({"text": 5}, "text"),
        ({"text": "x" * 51}, "text"),
        ({"text": "x", "sentences": 0}, "sentences"),
        ({"text": "x", "style": {"tone": "loud"}}, "style.tone"),
        ({"text": "x", "extra": 1}, "extra"),
    ],
)
def test_schema_errors_name_the_field(body: dict[str, Any], field: str) -> None:
    schema = compile_schema(SCHEMA, "input_schema", defaults=True)
    with pytest.raises(InvalidRequest) as info:
        check_input(schema, body)
    assert info.value.param == field
    assert info.value.message.startswith(f"input: {field}: ")


def test_output_is_parsed_and_checked_against_its_schema() -> None:
    schema = compile_schema(
        {
            "type": "object",
            "required": ["label"],
            "properties": {"label": {"enum": ["pos", "neg"]}},
        },
        "output_schema",
    )
    assert check_output(schema, '{"label": "pos"}', "'x' v1") == {"label": "pos"}
    with pytest.raises(InvalidOutput) as info:
        check_output(schema, "not json", "'x' v1")
    assert info.value.http_status == 502 and "not JSON" in info.value.message
    with pytest.raises(InvalidOutput) as info:
        check_output(schema, '{"label": "meh"}', "'x' v1")
    assert "label" in info.value.message


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"template": "x"}, "model"),
        ({"model": "m"}, "template"),
        ({"model": "m", "template": "{{ x"}, "template"),
        ({"model": "m", "template": "x", "system": "{% if %}"}, "system"),
        ({"model": "m", "template": "x", "input_schema": {"type": 5}}, "input_schema"),
        ({"model": "m", "template": "x", "input_schema": {"type": "string"}}, "input_schema"),
        ({"model": "m", "template": "x", "output_schema": []}, "output_schema"),
        ({"model": "m", "template": "x", "input_schema": {"$ref": "http://h/s"}}, "input_schema"),
        (
            {"model": "m", "template": "x", "output_schema": {"items": [{"$ref": "s.json"}]}},
            "output_schema",
        ),
        ({"model": "m", "template": "x", "max_tokens": 0}, "max_tokens"),
        ({"model": "m", "template": "x", "temperature": 3}, "temperature"),
        ({"model": "m", "template": "x", "colour": "red"}, "colour"),
    ],
)
def test_definitions_are_checked_naming_the_field(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(DefinitionError) as info:
        check_version(fields, partial=False)
    assert info.value.field == field


def test_local_references_resolve() -> None:
    doc = {
        "type": "object",
        "$defs": {"lang": {"enum": ["en", "fr"]}},
        "properties": {"to": {"$ref": "#/$defs/lang"}},
    }
    schema = compile_schema(doc, "input_schema", defaults=True)
    assert check_input(schema, {"to": "fr"}) == {"to": "fr"}
    with pytest.raises(InvalidRequest) as info:
        check_input(schema, {"to": "de"})
    assert info.value.param == "to"


def test_a_definition_gets_its_defaults() -> None:
    out = check_version({"model": "m", "template": "Hi"}, partial=False)
    assert out["input_schema"] == {"type": "object"} and out["output_schema"] is None
    assert check_version({"max_tokens": 5}, partial=True) == {"max_tokens": 5}
