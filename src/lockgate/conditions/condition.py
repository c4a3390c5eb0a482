"""``compile_condition`` and ``Condition``: one CEL expression, checked and compiled once."""

from __future__ import annotations

import re
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import cel
import orjson

from . import scan

MEMO_SIZE = 4096  # distinct value tuples remembered per condition; cleared when full
_ERROR_LOCATION = re.compile(r"<input>:(\d+):(\d+): (.*)")


class ConditionError(ValueError):
    """The expression is not valid for its schema; the message says why, without a line
    number (the caller knows where the expression sits in its document)."""


class EvaluationError(Exception):
    """The expression failed on these values (missing key, type mismatch, not a bool)."""


class FrozenMap(dict[str, Any]):
    """A read-only dict with a hash (computed once, from its canonical JSON), so maps can be
    part of a memo key. CEL sees it as a map."""

    __slots__ = ("_hash",)

    def __hash__(self) -> int:  # type: ignore[override]
        try:
            return self._hash
        except AttributeError:
            self._hash: int = hash(orjson.dumps(self, option=orjson.OPT_SORT_KEYS, default=str))
            return self._hash

    def _readonly(self, *_: object, **__: object) -> None:
        raise TypeError("a frozen map cannot be changed")

    __setitem__ = __delitem__ = update = pop = popitem = clear = setdefault = _readonly  # type: ignore[assignment]


def frozen_map(mapping: Mapping[str, Any]) -> FrozenMap:
    return FrozenMap(mapping)


class Condition:
    __slots__ = ("_memo", "_program", "_shape", "fields", "source")

    def __init__(self, source: str, program: Any, fields: tuple[tuple[str, str], ...]) -> None:
        self.source = source
        self.fields = fields
        self._program = program
        self._memo: dict[tuple[Hashable, ...], bool | str] = {}
        self._shape = tuple(sorted({root for root, _ in fields}))

    def __repr__(self) -> str:
        return f"Condition({self.source!r})"

    def evaluate(self, values: Sequence[Any]) -> bool:
        key = tuple(values)
        memo = self._memo
        try:
            found = memo.get(key)
        except TypeError:  # an unhashable value: evaluate without the memo
            return _result(self._run(key))
        if found is None:
            found = self._run(key)
            if len(memo) >= MEMO_SIZE:
                memo.clear()
            memo[key] = found
        return _result(found)

    def _run(self, values: tuple[Any, ...]) -> bool | str:
        activation: dict[str, dict[str, Any]] = {root: {} for root in self._shape}
        for (root, field), value in zip(self.fields, values, strict=True):
            activation[root][field] = value
        try:
            result = self._program.execute(activation)
        except Exception as exc:  # the engine raises KeyError, TypeError, RuntimeError...
            return f"{type(exc).__name__}: {exc}"
        if not isinstance(result, bool):
            return f"the expression gave {type(result).__name__}, not a bool"
        return result


def _result(found: bool | str) -> bool:
    if isinstance(found, str):
        raise EvaluationError(found)
    return found


def compile_condition(source: str, schema: Mapping[str, frozenset[str]]) -> Condition:
    if not isinstance(source, str) or not source.strip():
        raise ConditionError("an empty condition")
    try:
        program = cel.compile(source)
    except ValueError as exc:
        raise ConditionError(f"not a valid CEL expression: {_syntax(str(exc))}") from None
    bad = scan.unknown_functions(program.functions())
    if bad:
        raise ConditionError(f"unknown function {bad[0]}() (CEL standard functions only)")
    local = scan.comprehension_vars(source)
    for name in program.variables():
        if name not in schema and name not in local:
            raise ConditionError(f"unknown name '{name}' (use {' or '.join(sorted(schema))})")
    fields: list[tuple[str, str]] = []
    for root, names in sorted(scan.fields_read(source, schema).items()):
        for name in sorted(names):
            if name not in schema[root]:
                known = ", ".join(sorted(schema[root]))
                raise ConditionError(f"unknown field {root}.{name} (known: {known})")
            fields.append((root, name))
    return Condition(source, program, tuple(fields))


def _syntax(message: str) -> str:
    """The engine's first error line, as "column N: reason" (its line is the expression's)."""
    for line in message.splitlines():
        m = _ERROR_LOCATION.search(line)
        if m:
            row, col, reason = m.groups()
            where = f"column {col}" if row == "1" else f"line {row} of the expression, column {col}"
            return f"{where}: {reason}"
    return message.splitlines()[0] if message else "syntax error"
