"""Load a config document: YAML → env references → pydantic → cross-references.

Every stage collects :class:`Problem` values instead of stopping at the first, so one run of
``lockgate validate`` shows everything that is wrong, each with its YAML path and line. The
YAML is composed into nodes (not loaded) to keep line numbers and to reject duplicate keys,
which PyYAML would otherwise resolve silently in favour of the last one.
"""

from __future__ import annotations

import difflib
import os
import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from lockgate.config.envref import NOT_SET, env_names, resolve_env_refs
from lockgate.config.models import Config
from lockgate.config.paths import join_path
from lockgate.config.pricing import unpriced_cost_limits
from lockgate.config.support import NOT_YET, unsupported_settings

__all__ = [
    "ConfigError",
    "Problem",
    "check_references",
    "join_path",
    "load_config_file",
    "load_config_text",
    "validate_file",
]

_MERGE_TAG = "tag:yaml.org,2002:merge"
_MAX_NODES = 200_000
# Fields whose values may be secrets (or URLs carrying credentials): never echoed.
_SENSITIVE = frozenset({"api_key", "admin_keys", "secret", "headers", "storage", "state", "jwks"})


@dataclass(frozen=True, slots=True)
class Problem:
    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = [f"line {self.line}"] if self.line is not None else []
        if self.path:
            where.append(self.path)
        return ": ".join([*where, self.message])


class ConfigError(Exception):
    def __init__(self, problems: list[Problem], source: str = "<config>") -> None:
        self.problems = problems
        self.source = source
        super().__init__("\n".join(f"{source}: {p}" for p in problems))


def _render(parts: Iterable[str | int]) -> str:
    path = ""
    for part in parts:
        path = join_path(path, part)
    return path


# --- YAML ---------------------------------------------------------------------------------


class _Builder:
    """Turns composed YAML nodes into plain values plus a map of YAML path → line."""

    def __init__(self) -> None:
        self.lines: dict[str, int] = {}
        self.problems: list[Problem] = []
        self._scalars = yaml.SafeLoader("")  # used only for its tag-aware scalar constructors
        self._active: set[int] = set()
        self._budget = _MAX_NODES

    def build(self, node: yaml.Node, path: str, line: int) -> object:
        self.lines.setdefault(path, line)
        self._budget -= 1
        if self._budget < 0:  # nested aliases can expand exponentially ("billion laughs")
            if self._budget == -1:
                self.problems.append(Problem(path, line, "too many values (alias expansion?)"))
            return None
        if isinstance(node, yaml.ScalarNode):
            try:
                return self._scalars.construct_object(node, deep=True)
            except yaml.YAMLError as e:
                self.problems.append(Problem(path, line, f"bad value: {_yaml_reason(e)}"))
                return None
        if id(node) in self._active:
            self.problems.append(Problem(path, line, "an alias refers to itself"))
            return None
        self._active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return [
                    self.build(child, join_path(path, i), _line(child))
                    for i, child in enumerate(node.value)
                ]
            return self._mapping(node, path)
        finally:
            self._active.discard(id(node))

    def _mapping(self, node: yaml.Node, path: str) -> dict[str, object]:
        out: dict[str, object] = {}
        first_seen: dict[str, int] = {}
        merges: list[yaml.Node] = []
        for key_node, value_node in node.value:
            line = _line(key_node)
            if key_node.tag == _MERGE_TAG:
                merges.append(value_node)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.problems.append(Problem(path, line, "a key must be a plain string"))
                continue
            key = key_node.value  # the raw text: `on:` stays "on", not True
            sub = join_path(path, key)
            if key in first_seen:
                message = f"duplicate key '{key}' (first at line {first_seen[key]})"
                self.problems.append(Problem(sub, line, message))
                continue
            first_seen[key] = line
            self.lines[sub] = line
            out[key] = self.build(value_node, sub, line)
        # `<<: *base` — explicit keys win, then earlier merged mappings over later ones.
        for merge in merges:
            sources = merge.value if isinstance(merge, yaml.SequenceNode) else [merge]
            for source in sources:
                merged = self.build(source, path, _line(source))
                if not isinstance(merged, dict):
                    self.problems.append(Problem(path, _line(source), "'<<' needs a mapping"))
                    continue
                for k, v in merged.items():
                    out.setdefault(k, v)
        return out


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _yaml_reason(e: yaml.YAMLError) -> str:
    if isinstance(e, yaml.MarkedYAMLError):
        return " ".join(str(s) for s in (e.context, e.problem) if s)
    return str(e)


def _parse_yaml(text: str) -> tuple[dict[str, object] | None, dict[str, int], list[Problem]]:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else None
        return None, {}, [Problem("", line, f"YAML syntax error: {_yaml_reason(e)}")]
    except yaml.YAMLError as e:  # e.g. a control character the reader refuses
        return None, {}, [Problem("", None, f"YAML error: {e}")]
    if root is None:
        return None, {}, [Problem("", None, "the config is empty; expected a mapping")]
    if not isinstance(root, yaml.MappingNode):
        kind = "a list" if isinstance(root, yaml.SequenceNode) else "a single value"
        message = f"the config must be a mapping (version:, providers:, models:, ...), got {kind}"
        return None, {}, [Problem("", _line(root), message)]
    builder = _Builder()
    data = builder.build(root, "", _line(root))
    assert isinstance(data, dict)
    return data, builder.lines, builder.problems


# --- pydantic errors → problems -----------------------------------------------------------

_EXPECTED = {
    "int_type": "expected an integer",
    "int_parsing": "expected an integer",
    "int_from_float": "expected an integer",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "string_type": "expected a string",
    "list_type": "expected a list",
    "dict_type": "expected a mapping",
    "model_type": "expected a mapping",
    "model_attributes_type": "expected a mapping",
}
_BOUNDS = {
    "greater_than_equal": ("ge", "must be at least"),
    "greater_than": ("gt", "must be greater than"),
    "less_than_equal": ("le", "must be at most"),
    "less_than": ("lt", "must be less than"),
}


def _walk_loc(
    loc: tuple[str | int, ...], data: object, missing: bool
) -> tuple[list[str | int], bool]:
    """Map a pydantic loc onto the document: returns the real path and whether loc held
    tags that are not in the document (union branches such as 'list[str]', '[key]')."""
    parts: list[str | int] = []
    tagged = False
    node = data
    for i, item in enumerate(loc):
        found, child = _child(node, item)
        if found or (missing and i == len(loc) - 1):
            node = child
            parts.append(item)
        else:
            tagged = True
    return parts, tagged


def _child(node: object, item: str | int) -> tuple[bool, object]:
    if isinstance(node, dict) and isinstance(item, str) and item in node:
        return True, node[item]
    if isinstance(node, list) and isinstance(item, int) and 0 <= item < len(node):
        return True, node[item]
    return False, None


def _value_at(data: object, parts: list[str | int]) -> object:
    for part in parts:
        data = _child(data, part)[1]
    return data


def _describe(value: object, raw: object, parts: list[str | int]) -> str | None:
    """How to show the offending value, or None when it must not be shown."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(raw, str) and (names := env_names(raw)):
        return "(from " + ", ".join(f"${{env:{n}}}" for n in names) + ")"
    if any(p in _SENSITIVE for p in parts if isinstance(p, str)):
        return None
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return f"the date {value}"
    if isinstance(value, str):
        return repr(value if len(value) <= 60 else value[:57] + "...")
    return str(value)


def _expectation(error: Mapping[str, Any]) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind in _EXPECTED:
        return _EXPECTED[kind]
    if kind == "literal_error":
        expected = str(ctx["expected"])
        return f"expected {'one of ' if ' or ' in expected else ''}{expected}"
    if kind in _BOUNDS:
        bound, words = _BOUNDS[kind]
        limit = ctx[bound]
        if isinstance(limit, float) and limit.is_integer():
            limit = int(limit)  # "at least 0", not "at least 0.0", for a float field
        return f"{words} {limit}"
    if kind in ("too_short", "too_long"):
        count = ctx["min_length"] if kind == "too_short" else ctx["max_length"]
        words = "at least" if kind == "too_short" else "at most"
        return f"must have {words} {count} item{'s' if count != 1 else ''}"
    if kind in ("value_error", "assertion_error") and "error" in ctx:
        return str(ctx["error"])
    return str(error["msg"])


def _validation_problems(
    err: ValidationError,
    raw: dict[str, object],
    lines: Mapping[str, int],
    skip: set[str],
) -> list[Problem]:
    # Union branches (e.g. `str | list[str]`) fail separately; merge them into one problem.
    merged: dict[str, tuple[list[str], str | None, int | None]] = {}
    out: list[Problem] = []
    for error in err.errors(include_url=False):
        kind = error["type"]
        parts, tagged = _walk_loc(error["loc"], raw, missing=kind == "missing")
        path = _render(parts)
        if path in skip:
            continue  # already reported as an unresolved ${env:...}
        line = _deepest_line(parts, lines)
        if kind == "extra_forbidden":
            hint = _did_you_mean(str(parts[-1]), error["loc"][:-1])
            out.append(Problem(path, line, f"unknown key '{parts[-1]}'{hint}"))
        elif kind == "missing":
            out.append(Problem(path, line, f"missing required key '{parts[-1]}'"))
        elif "[key]" in error["loc"]:
            out.append(Problem(path, line, f"invalid key '{parts[-1]}': {_expectation(error)}"))
        else:
            shown = _describe(error["input"], _value_at(raw, parts), parts)
            if tagged:
                merged.setdefault(path, ([], shown, line))[0].append(_expectation(error))
                continue
            out.append(Problem(path, line, _with_value(_expectation(error), shown, error)))
    for path, (expectations, shown, line) in merged.items():
        message = _either(expectations)
        out.append(Problem(path, line, f"{message}, got {shown}" if shown else message))
    return out


def _did_you_mean(key: str, parent: tuple[str | int, ...]) -> str:
    """`` (did you mean 'limits'?)`` when a known key at that place is close to ``key``."""
    close = difflib.get_close_matches(key, _keys_at(parent), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _keys_at(loc: tuple[str | int, ...]) -> list[str]:
    """The keys the config model accepts at a pydantic ``loc`` (mapping keys, list indexes and
    union tags are stepped over)."""
    node: Any = Config
    for part in loc:
        model = _model(node)
        if model is not None:
            if isinstance(part, str) and part in model.model_fields:
                node = model.model_fields[part].annotation
            continue  # a tag pydantic adds for a union branch
        container = _container(node)
        if container is None:
            return []
        node = get_args(container)[-1]  # the value type of a list or a mapping
    model = _model(node)
    return list(model.model_fields) if model is not None else []


def _branches(tp: Any) -> list[Any]:
    if get_origin(tp) is Annotated:
        return _branches(get_args(tp)[0])
    if get_origin(tp) in (Union, types.UnionType):
        return [b for arg in get_args(tp) for b in _branches(arg)]
    return [tp]


def _model(tp: Any) -> type[BaseModel] | None:
    for branch in _branches(tp):
        if isinstance(branch, type) and issubclass(branch, BaseModel):
            return branch
    return None


def _container(tp: Any) -> Any:
    for branch in _branches(tp):
        if get_origin(branch) in (list, dict):
            return branch
    return None


def _either(expectations: list[str]) -> str:
    unique = list(dict.fromkeys(expectations))
    if all(e.startswith("expected ") for e in unique):
        return "expected " + " or ".join(e.removeprefix("expected ") for e in unique)
    return " or ".join(unique)


def _with_value(expectation: str, shown: str | None, error: Mapping[str, Any]) -> str:
    if shown is None or (shown in ("a mapping", "a list") and error["type"] == "value_error"):
        return expectation  # a model-level rule: the whole mapping is not worth echoing
    message = f"{expectation}, got {shown}"
    if error["type"] == "string_type" and isinstance(error["input"], bool | int | float | date):
        message += " (put it in quotes to keep it as text)"
    return message


def _deepest_line(parts: list[str | int], lines: Mapping[str, int]) -> int | None:
    for end in range(len(parts), -1, -1):
        line = lines.get(_render(parts[:end]))
        if line is not None:
            return line
    return None


# --- cross-references ---------------------------------------------------------------------


def check_references(cfg: Config) -> list[Problem]:
    """Names that point nowhere (providers, models, plans, roles); lines are left to the
    caller, which knows the document."""
    return _reference_problems(cfg.model_dump())


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _unknown(what: str, name: str, known: Iterable[str]) -> str:
    names = list(known)
    listed = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
    return f"unknown {what} '{name}' ({'known: ' + listed if names else 'none defined'})"


class _RefChecker:
    """Works on plain data so it can also run when pydantic rejected other parts."""

    def __init__(self, data: Mapping[str, object]) -> None:
        self.data = data
        self.models = {k: _dict(v) for k, v in _dict(data.get("models")).items()}
        self.problems: list[Problem] = []

    def ref(self, path: str, name: object, section: str, what: str, star: bool = False) -> None:
        known = _dict(self.data.get(section))
        if isinstance(name, str) and name not in known and not (star and name == "*"):
            self.problems.append(Problem(path, None, _unknown(what, name, known)))

    def refs(self, path: str, names: object, section: str, what: str) -> None:
        for i, name in enumerate(_list(names)):
            self.ref(join_path(path, i), name, section, what, star=True)

    def check_models(self) -> None:
        for name, model in self.models.items():
            base = join_path("models", name)
            for i, dep in enumerate(_list(model.get("deployments"))):
                at = join_path(join_path(join_path(base, "deployments"), i), "provider")
                self.ref(at, _dict(dep).get("provider"), "providers", "provider")
            for i, fallback in enumerate(_list(model.get("fallbacks"))):
                self.check_fallback(join_path(join_path(base, "fallbacks"), i), name, fallback)

    def check_fallback(self, at: str, name: str, fallback: object) -> None:
        if fallback == name:
            self.problems.append(Problem(at, None, "a model cannot fall back to itself"))
        elif isinstance(fallback, str) and fallback in self.models:
            # an embedding model cannot answer a chat request, nor the reverse; a model
            # without a kind serves whatever route it is called on
            kind = self.models[name].get("kind")
            other = self.models[fallback].get("kind")
            if kind is not None and other is not None and other != kind:
                message = f"'{fallback}' has kind {other}, this model has kind {kind}"
                self.problems.append(Problem(at, None, message))
        else:
            self.ref(at, fallback, "models", "model")

    def check_access(self) -> None:
        for section in ("plans", "roles"):
            for name, item in _dict(self.data.get(section)).items():
                at = join_path(join_path(section, name), "models")
                self.refs(at, _dict(item).get("models"), "models", "model")
        self.ref("default_plan", self.data.get("default_plan"), "plans", "plan")
        for tenant, seed in _dict(self.data.get("tenants")).items():
            base = join_path("tenants", tenant)
            self.ref(join_path(base, "plan"), _dict(seed).get("plan"), "plans", "plan")
            for app, app_seed in _dict(_dict(seed).get("apps")).items():
                at = join_path(join_path(base, "apps"), app)
                self.ref(join_path(at, "plan"), _dict(app_seed).get("plan"), "plans", "plan")
                for i, role in enumerate(_list(_dict(app_seed).get("roles"))):
                    self.ref(join_path(join_path(at, "roles"), i), role, "roles", "role")
        for i, policy in enumerate(_list(self.data.get("policies"))):
            at = join_path(join_path(join_path("policies", i), "match"), "models")
            self.refs(at, _dict(_dict(policy).get("match")).get("models"), "models", "model")
            route = _dict(policy).get("route")
            if isinstance(route, dict):
                self.check_route(join_path(join_path("policies", i), "route"), policy, route)
        for i, rule in enumerate(_list(_dict(self.data.get("alerts")).get("rules"))):
            at = join_path(join_path(join_path("alerts", "rules"), i), "models")
            self.refs(at, _dict(rule).get("models"), "models", "model")

    def check_route(self, base: str, policy: dict[str, Any], route: dict[str, Any]) -> None:
        self.ref(join_path(base, "model"), route.get("model"), "models", "model")
        for i, share in enumerate(_list(route.get("split"))):
            at = join_path(join_path(join_path(base, "split"), i), "model")
            self.ref(at, _dict(share).get("model"), "models", "model")
        wanted = [d for d in _list(route.get("deployments")) if isinstance(d, str)]
        if not wanted:
            return
        at = join_path(base, "deployments")
        matched = [m for m in _list(_dict(policy.get("match")).get("models")) if m in self.models]
        if not matched:
            message = "deployments needs match.models: the models whose deployments it names"
            self.problems.append(Problem(at, None, message))
            return
        keys = {m: set(_deployment_keys(self.models[m])) for m in matched}
        for i, key in enumerate(wanted):
            if not any(key in ks for ks in keys.values()):
                known = ", ".join(sorted(set().union(*keys.values())))
                message = f"'{key}' is no deployment of the matched models (known: {known})"
                self.problems.append(Problem(join_path(at, i), None, message))
        for m, ks in keys.items():
            if not ks & set(wanted):
                message = f"model '{m}' has none of these deployments: it could not be served"
                self.problems.append(Problem(at, None, message))

    def check_apis(self) -> None:
        for name, api in _dict(self.data.get("apis")).items():
            base = join_path("apis", name)
            self.ref(join_path(base, "plan"), _dict(api).get("plan"), "plans", "plan")
            versions = _list(_dict(api).get("versions"))
            forms = [
                (join_path(join_path(base, "versions"), i), _dict(v))
                for i, v in enumerate(versions)
            ]
            if not versions:
                forms = [(base, _dict(api))]
            numbers = {v.get("version") for _, v in forms}
            for at, version in forms:
                self.check_api_model(join_path(at, "model"), version.get("model"))
                successor = version.get("successor")
                if successor is not None and successor not in numbers - {version.get("version")}:
                    message = f"successor {successor} is not another version of API '{name}'"
                    self.problems.append(Problem(join_path(at, "successor"), None, message))

    def check_api_model(self, at: str, model: object) -> None:
        if isinstance(model, str) and self.models.get(model, {}).get("kind") == "embedding":
            self.problems.append(Problem(at, None, f"'{model}' is not a chat model"))
        else:
            self.ref(at, model, "models", "model")


def _deployment_keys(model: dict[str, Any]) -> list[str]:
    """``provider/model`` of each deployment: how routing and the admin API name them."""
    out = []
    for dep in _list(model.get("deployments")):
        d = _dict(dep)
        out.append(f"{d.get('provider')}/{d.get('model')}")
    return out


def _reference_problems(data: Mapping[str, object]) -> list[Problem]:
    checker = _RefChecker(data)
    checker.check_models()
    checker.check_access()
    checker.check_apis()
    return checker.problems


# --- entry points -------------------------------------------------------------------------


def _sort_key(p: Problem) -> tuple[int, str]:
    return (p.line if p.line is not None else 1 << 30, p.path)


def _load(
    text: str, env: Mapping[str, str], require_env: bool = True
) -> tuple[Config | None, list[Problem]]:
    data, lines, problems = _parse_yaml(text)
    if data is None:
        return None, problems
    env_problems: list[Problem] = []
    resolved = resolve_env_refs(data, env, "", env_problems, lines)
    assert isinstance(resolved, dict)
    # Without the environment (validate --no-env) an unset variable is not a problem; what
    # depends on its value is skipped below like any unresolved reference.
    problems += [p for p in env_problems if require_env or not p.message.endswith(NOT_SET)]
    cfg: Config | None = None
    try:
        cfg = Config.model_validate(resolved)
    except ValidationError as err:
        skip = {p.path for p in env_problems}
        problems += _validation_problems(err, data, lines, skip)
    problems += [replace(p, line=lines.get(p.path)) for p in _reference_problems(resolved)]
    if cfg is not None:
        problems += [
            Problem(path, lines.get(path), f"{what} {NOT_YET}")
            for path, what in unsupported_settings(cfg)
        ]
        problems += [Problem(p, lines.get(p), msg) for p, msg in unpriced_cost_limits(cfg)]
    problems = sorted(dict.fromkeys(problems), key=_sort_key)
    return (None if problems else cfg), problems


def load_config_text(
    text: str, *, env: Mapping[str, str] | None = None, source: str = "<config>"
) -> Config:
    """Parse and validate a config document; raises ConfigError listing every problem."""
    cfg, problems = _load(text, os.environ if env is None else env)
    if cfg is None:
        raise ConfigError(problems, source)
    return cfg


def _read(path: str | os.PathLike[str]) -> str:
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError([Problem("", None, "the file is not UTF-8 text")], str(path)) from None
    except OSError as e:
        reason = e.strerror or str(e)
        raise ConfigError([Problem("", None, f"cannot read the file: {reason}")], str(path)) from e


def load_config_file(
    path: str | os.PathLike[str], *, env: Mapping[str, str] | None = None
) -> Config:
    return load_config_text(_read(path), env=env, source=str(path))


def validate_file(
    path: str | os.PathLike[str],
    *,
    env: Mapping[str, str] | None = None,
    require_env: bool = True,
) -> list[Problem]:
    """Every problem in the file, sorted by line; [] when the config is valid.

    ``require_env=False`` checks the structure alone: ``${env:NAME}`` references to variables
    that are not set are accepted, and values that depend on them are not checked.
    """
    try:
        text = _read(path)
    except ConfigError as e:
        return e.problems
    return _load(text, os.environ if env is None else env, require_env)[1]
