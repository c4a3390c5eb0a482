"""``${env:NAME}`` references in config strings.

A reference may be the whole string or embedded in it (``"Bearer ${env:TOKEN}"``);
``${env:NAME:-default}`` falls back to ``default`` when the variable is unset or empty (as in a
shell); ``$${`` is a literal ``${``. Problems name the variable, never its value, so a secret
cannot leak through a validation message or a log line.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lockgate.config.loader import Problem

# One alternation so that escapes, references and stray "${" are consumed left to right.
_TOKEN = re.compile(
    r"\$\$\{"  # escape
    r"|\$\{env:(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}"
    r"|\$\{"  # anything else starting with ${ is malformed
)
_REF = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)")
NOT_SET = " is not set"  # how a reference to an unset variable is reported (see the loader)


def env_names(text: str) -> list[str]:
    """The variables a raw string refers to (for saying where a value came from)."""
    return [m.group("name") for m in _TOKEN.finditer(text) if m.group("name")]


def resolve_env_refs(
    value: object,
    env: Mapping[str, str],
    path: str,
    problems: list[Problem],
    lines: Mapping[str, int],
) -> object:
    """Return ``value`` with references replaced in every string scalar, recursively.

    ``path`` is the YAML path of ``value`` and ``lines`` maps YAML paths to line numbers (as
    built by the loader). A string with an unresolvable reference is returned unchanged and
    one Problem per bad reference is appended to ``problems``.
    """
    # Imported here because the loader imports this module.
    from lockgate.config.loader import Problem, join_path

    def report(at: str, message: str) -> None:
        problems.append(Problem(at, lines.get(at), message))

    def walk(node: object, at: str) -> object:
        if isinstance(node, str):
            return _resolve_string(node, env, lambda message: report(at, message))
        if isinstance(node, dict):
            return {k: walk(v, join_path(at, k)) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, join_path(at, i)) for i, v in enumerate(node)]
        return node

    return walk(value, path)


def _resolve_string(text: str, env: Mapping[str, str], report: Callable[[str], None]) -> str:
    if "${" not in text:
        return text
    out: list[str] = []
    pos = 0
    ok = True
    for m in _TOKEN.finditer(text):
        out.append(text[pos : m.start()])
        pos = m.end()
        token, name = m.group(0), m.group("name")
        if token == "$${":
            out.append("${")
        elif name is None:
            ok = False
            report(_malformed_message(text, m.start()))
        elif env.get(name):
            out.append(env[name])
        elif m.group("default") is not None:
            out.append(m.group("default"))
        elif name in env:
            out.append("")  # set but empty: an explicit choice, not a mistake
        else:
            ok = False
            report(f"environment variable {name}{NOT_SET}")
    out.append(text[pos:])
    return "".join(out) if ok else text


def _malformed_message(text: str, start: int) -> str:
    # Quote only what follows "${" up to "}" when it looks like a reference; the rest of the
    # string may be a secret written inline.
    m = _REF.match(text, start)
    if m:
        return f"malformed reference to {m.group(1)}: use ${{env:NAME}} or ${{env:NAME:-default}}"
    return "'${' starts a reference: use ${env:NAME}, or write $${ for a literal '${'"
