"""Conditions: CEL expressions compiled once per config load, evaluated per request.

The whole API is four names::

    cond = compile_condition(source, schema)      # ConditionError: say where, add the line
    cond.fields                                    # ((root, field), ...) the expression reads
    cond.evaluate(values) -> bool                  # values line up with cond.fields
    frozen_map(mapping)                            # a hashable, read-only dict for values

``schema`` names what an expression may read: ``{"principal": {"tenant", "roles", ...},
"request": {"model", "time", ...}}``. ``compile_condition`` parses the expression, checks that it
reads only those roots and fields and calls only standard CEL functions, and finds the fields
it reads, so a caller computes just those per request (a request's headers are never turned
into a map for an expression that does not look at them).

``evaluate`` takes the values of ``cond.fields`` in order. Values are plain Python: ``str``,
``int``, ``float``, ``bool``, ``None``, tuples (CEL lists) and ``frozen_map`` (CEL maps). When all
values are hashable the result is memoised per distinct tuple (bounded), so a condition over a
principal's attributes and the hour costs a tuple hash per request, not a CEL evaluation; CEL
itself has no side effects and no clock, so this is exact. An expression that fails at run
time (a missing map key, a type mismatch, a result that is not a bool) raises
``EvaluationError``: callers fail closed.

The CEL engine is ``common-expression-language`` (Rust, via PyO3), chosen by measurement over
``cel-python`` (bench/cel_compare.py, results in bench/RESULTS.md). It has no time-zone
functions (``getHours("Europe/Berlin")``), so callers pass local hour and weekday as fields.
"""

from .condition import Condition, ConditionError, EvaluationError, compile_condition, frozen_map

__all__ = ["Condition", "ConditionError", "EvaluationError", "compile_condition", "frozen_map"]
