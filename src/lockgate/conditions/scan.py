"""Static checks of a CEL source: which roots and fields it reads, which functions it calls.

The engine reports the top-level names an expression reads; this scan adds the fields read
off each root (``request.time`` in ``request.time.hour >= 9``) so callers compute only those.
It works on the source with string literals blanked out, and is conservative: a root used any
other way than ``root.field`` (``request["model"]``, a bare ``request``) reads every field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

# String literals of CEL: optional r/b prefixes, then ''' """ ' or " quoting.
_STRING = re.compile(
    r"""(?i:[rb]{0,2})(?:'''(?:\\.|[^\\])*?'''|\"\"\"(?:\\.|[^\\])*?\"\"\"|'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*")""",
    re.DOTALL,
)
_IDENT = re.compile(r"(?<![\w.])([A-Za-z_]\w*)\b(\s*\.\s*([A-Za-z_]\w*))?")
_COMPREHENSION = re.compile(r"\b(?:all|exists|exists_one|map|filter)\s*\(\s*([A-Za-z_]\w*)\s*,")

# Functions of the CEL standard library the engine implements (operators are named `_x_`,
# `@in`...; they are always allowed).
FUNCTIONS = frozenset(
    {
        "size",
        "contains",
        "startsWith",
        "endsWith",
        "matches",
        "int",
        "uint",
        "double",
        "string",
        "bytes",
        "timestamp",
        "duration",
        "dyn",
        "type",
        "getDate",
        "getDayOfMonth",
        "getDayOfWeek",
        "getDayOfYear",
        "getFullYear",
        "getHours",
        "getMilliseconds",
        "getMinutes",
        "getMonth",
        "getSeconds",
    }
)


def blank_strings(source: str) -> str:
    return _STRING.sub('""', source)


def comprehension_vars(source: str) -> set[str]:
    return set(_COMPREHENSION.findall(blank_strings(source)))


def fields_read(source: str, schema: Mapping[str, frozenset[str]]) -> dict[str, set[str]]:
    """root -> fields read; a root read as a whole maps to all of its fields."""
    out: dict[str, set[str]] = {}
    for match in _IDENT.finditer(blank_strings(source)):
        root, field = match.group(1), match.group(3)
        if root not in schema:
            continue
        known = schema[root]
        out.setdefault(root, set()).update(known if field is None else {field})
    return out


def unknown_functions(functions: Iterable[str]) -> list[str]:
    return sorted(
        f for f in functions if not f.startswith(("_", "@", "!", "-")) and f not in FUNCTIONS
    )
