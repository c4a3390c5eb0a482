"""``response_format`` enforcement: the answer must be JSON, valid against the request's JSON
schema when it gives one (``jsonschema``; remote ``$ref`` are never fetched).

Validators are compiled once per distinct schema (bounded memo).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import orjson
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from lockgate.wire.types import ResponseFormat

MEMO_SIZE = 256


class SchemaChecker:
    def __init__(self) -> None:
        self._validators: OrderedDict[bytes, Draft202012Validator | str] = OrderedDict()

    def _validator(self, schema: dict[str, Any]) -> Draft202012Validator | str:
        key = orjson.dumps(schema, option=orjson.OPT_SORT_KEYS)
        found = self._validators.get(key)
        if found is None:
            try:
                Draft202012Validator.check_schema(schema)
                found = Draft202012Validator(schema)
            except SchemaError as err:
                found = f"the response_format schema is not a valid JSON schema: {err.message}"
            self._validators[key] = found
            if len(self._validators) > MEMO_SIZE:
                self._validators.popitem(last=False)
        return found

    def problem(self, fmt: ResponseFormat, text: str) -> str | None:
        """Why ``text`` does not satisfy ``fmt``, or None when it does."""
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError as err:
            return f"the response is not JSON ({err.msg} at character {err.pos})"
        if fmt.type == "json_object":
            return None if isinstance(value, dict) else "the response is not a JSON object"
        if fmt.schema is None:
            return None
        validator = self._validator(fmt.schema)
        if isinstance(validator, str):
            return validator
        error = next(iter(validator.iter_errors(value)), None)
        if error is None:
            return None
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        return f"at {where}: {error.message}"


def enforced(fmt: ResponseFormat | None) -> bool:
    return fmt is not None and fmt.type in ("json_object", "json_schema")
