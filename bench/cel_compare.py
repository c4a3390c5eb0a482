"""Compare the CEL engines for policy conditions: evaluation cost and CEL coverage.

    .venv/bin/pip install cel-python==0.5.0     # only for this comparison; not a dependency
    .venv/bin/python bench/cel_compare.py

Engines: ``common-expression-language`` (module ``cel``, Rust) and ``cel-python`` (module
``celpy``, pure Python). For each: compile time, evaluation with the activation converted per
call, evaluation with a prebuilt activation, and which CEL features of a checklist give the
expected result. Then the cost per call of ``lockgate.conditions`` (memo hit and miss). Times
are CPU time (``process_time``), so other processes on a shared machine weigh less.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

EXPR = (
    'principal.attributes.department == "finance" && "production" in principal.roles '
    "&& request.time.hour >= 9 && request.time.hour < 17"
)
PRINCIPAL = {
    "tenant": "acme",
    "app": "bot",
    "user": "u1",
    "roles": ["production"],
    "attributes": {"department": "finance", "tier": 3},
}
REQUEST = {
    "model": "gpt-4o-mini",
    "route": "chat",
    "ip": "10.1.2.3",
    "headers": {"x-team": "red"},
    "time": {"hour": 10, "weekday": 2},
    "tokens": 120,
}
ACTIVATION = {"principal": PRINCIPAL, "request": REQUEST}

COVERAGE: list[tuple[str, str, object]] = [
    ("in list", '"production" in principal.roles', True),
    ("exists", 'principal.roles.exists(r, r.startsWith("prod"))', True),
    ("all", "principal.roles.all(r, size(r) > 3)", True),
    ("filter/map", "principal.roles.filter(r, r != '').map(r, r + '!')[0] == 'production!'", True),
    ("has", "has(principal.attributes.department)", True),
    ("matches (RE2)", 'request.model.matches("^gpt-4o")', True),
    ("map index", 'request.headers["x-team"] == "red"', True),
    ("ternary", "request.tokens > 100 ? true : false", True),
    ("timestamp", 'timestamp("2026-01-01T10:00:00Z").getHours() == 10', True),
    ("duration", 'duration("90m") > duration("1h")', True),
    ("getHours(tz)", 'timestamp("2026-01-01T10:00:00Z").getHours("Europe/Berlin") == 11', True),
    ("optional .?", "principal.attributes.?missing.orValue(1) == 1", True),
    ("lowerAscii", '"ABC".lowerAscii() == "abc"', True),
]


def per_call(fn: Callable[[], object], n: int) -> float:
    for _ in range(min(n, 2000)):
        fn()
    start = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - start) / n * 1e6


def rust_engine() -> dict[str, Any]:
    import cel

    out: dict[str, Any] = {"name": "common-expression-language 0.10.0 (cel)"}
    out["compile_us"] = per_call(lambda: cel.compile(EXPR), 2000)
    program = cel.compile(EXPR)
    out["eval_dict_us"] = per_call(lambda: program.execute(ACTIVATION), 20000)
    ctx = cel.Context(ACTIVATION)
    out["eval_prebuilt_us"] = per_call(lambda: program.execute(ctx), 50000)

    def check(source: str) -> object:
        return cel.compile(source).execute(ACTIVATION)

    out["coverage"] = coverage(check)
    return out


def python_engine() -> dict[str, Any] | None:
    try:
        import celpy
    except ImportError:
        return None
    env = celpy.Environment()
    out: dict[str, Any] = {"name": "cel-python 0.5.0 (celpy)"}
    out["compile_us"] = per_call(lambda: env.program(env.compile(EXPR)), 200)
    program = env.program(env.compile(EXPR))

    def convert() -> dict[str, Any]:
        return {k: celpy.json_to_cel(v) for k, v in ACTIVATION.items()}

    out["eval_dict_us"] = per_call(lambda: program.evaluate(convert()), 2000)
    prebuilt = convert()
    out["eval_prebuilt_us"] = per_call(lambda: program.evaluate(prebuilt), 2000)

    def check(source: str) -> object:
        return env.program(env.compile(source)).evaluate(convert())

    out["coverage"] = coverage(check)
    return out


def coverage(check: Callable[[str], object]) -> dict[str, bool]:
    result = {}
    for name, source, expected in COVERAGE:
        try:
            got = check(source)
            result[name] = bool(got == expected)
        except Exception:
            result[name] = False
    return result


def lockgate_conditions() -> dict[str, float]:
    from lockgate.conditions import compile_condition, frozen_map

    schema = {k: frozenset(v) for k, v in ACTIVATION.items()}
    cond = compile_condition(EXPR, schema)
    attrs = frozen_map(PRINCIPAL["attributes"])  # type: ignore[arg-type]
    roles = tuple(PRINCIPAL["roles"])  # type: ignore[arg-type]
    when = frozen_map(REQUEST["time"])  # type: ignore[arg-type]
    hit = per_call(lambda: cond.evaluate((attrs, roles, when)), 100000)
    counter = iter(range(10**9))

    def miss() -> bool:
        return cond.evaluate((attrs, roles, frozen_map({"hour": 10, "n": next(counter)})))

    return {"memo_hit_us": hit, "memo_miss_us": per_call(miss, 3000)}


def main() -> None:
    engines = [e for e in (rust_engine(), python_engine()) if e is not None]
    print(f"expression: {EXPR}\n")
    print("| engine | compile µs | eval, dict converted per call µs | eval, prebuilt µs |")
    print("|---|---|---|---|")
    for e in engines:
        print(
            f"| {e['name']} | {e['compile_us']:.1f} | {e['eval_dict_us']:.1f} "
            f"| {e['eval_prebuilt_us']:.2f} |"
        )
    print("\n| feature | " + " | ".join(e["name"].split(" (")[0] for e in engines) + " |")
    print("|---|" + "---|" * len(engines))
    for name, _, _ in COVERAGE:
        marks = " | ".join("yes" if e["coverage"][name] else "no" for e in engines)
        print(f"| {name} | {marks} |")
    if len(engines) < 2:
        print("\n(cel-python not installed: pip install cel-python==0.5.0 to compare)")
    lg = lockgate_conditions()
    print(
        f"\nlockgate.conditions: memo hit {lg['memo_hit_us']:.2f} µs, "
        f"miss {lg['memo_miss_us']:.1f} µs per evaluation"
    )


if __name__ == "__main__":
    main()
