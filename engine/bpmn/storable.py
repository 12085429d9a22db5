"""Only JSON values may enter an instance's stored state.

An instance's data is saved as JSON after every step. A script or DMN cell can produce
values JSON cannot hold (a set, a complex number, bytes, an integer of thousands of
digits, NaN) or holds badly (a dict with number keys comes back with text keys); found
only when the state is written, that is a failure nobody can trace to a diagram element.
:func:`check_storable` is called right after the element that produced the value
(script task, DMN decision, service-task parameters), so the refusal names the element
and the variable.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from engine.bpmn.expression_budget import MAX_DEPTH, MAX_VALUE_SIZE

# The integer range every JSON reader (and PostgreSQL's bigint) keeps exactly.
MIN_STORED_INT, MAX_STORED_INT = -(2**63), 2**63 - 1
MAX_STORED_TEXT = MAX_VALUE_SIZE
JSON_VALUES = "text, numbers, true/false, null, lists and objects with text keys"


class NotStorable(ValueError):
    """A value produced by an element cannot be stored; ``reason`` names the variable and why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def check_storable(data: Mapping[str, Any], names: Iterable[str] | None = None) -> None:
    """Raise :class:`NotStorable` unless each of ``names`` (default: all) in ``data`` is a storable JSON value."""
    for name in data if names is None else names:
        if name in data:
            problem = storable_problem(data[name])
            if problem is not None:
                raise NotStorable(f"variable '{name}' cannot be stored: {problem}")


def storable_problem(value: Any) -> str | None:
    """Why ``value`` cannot be stored as JSON, or None."""
    budget = [MAX_VALUE_SIZE]
    return _problem(value, "", 0, budget)


def _problem(value: Any, path: str, depth: int, budget: list[int]) -> str | None:
    where = f" at {path}" if path else ""
    budget[0] -= 1
    if budget[0] < 0:
        return f"it has more than {MAX_VALUE_SIZE:,} items"
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        if MIN_STORED_INT <= value <= MAX_STORED_INT:
            return None
        return f"the integer{where} is outside -2**63 .. 2**63-1"
    if isinstance(value, float):
        return None if math.isfinite(value) else f"the number{where} is {value!r}, which JSON cannot hold"
    if isinstance(value, str):
        budget[0] -= len(value)
        if len(value) > MAX_STORED_TEXT:
            return f"the text{where} has {len(value):,} characters (limit {MAX_STORED_TEXT:,})"
        return None if budget[0] >= 0 else f"it has more than {MAX_VALUE_SIZE:,} items"
    if isinstance(value, list | tuple | dict):
        if depth >= MAX_DEPTH:
            return f"it is nested more than {MAX_DEPTH} levels deep"
        return _container_problem(value, path, depth, budget)
    return f"the value{where} is a {type(value).__name__}; only JSON values can be stored ({JSON_VALUES})"


def _container_problem(value: list[Any] | tuple[Any, ...] | dict[Any, Any], path: str, depth: int,
                       budget: list[int]) -> str | None:
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"the key {key!r} at {path or 'top level'} is not text; object keys must be text"
            problem = _problem(item, f"{path}[{key!r}]", depth + 1, budget)
            if problem is not None:
                return problem
        return None
    for index, item in enumerate(value):
        problem = _problem(item, f"{path}[{index}]", depth + 1, budget)
        if problem is not None:
            return problem
    return None
