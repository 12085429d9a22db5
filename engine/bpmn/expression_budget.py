"""The budget every diagram expression runs within: one expression can never stop the server.

The allow-list of :mod:`engine.bpmn.safe_expressions` leaves no loop, comprehension,
function definition or recursion, so an expression runs a bounded number of steps; what
it can still do is make one step enormous (``9 ** 9 ** 9``, ``"x" * 10 ** 10``). A single
such step is one call into C that holds the interpreter: no deadline or other request
gets a turn until it ends. So every operation that can make a value much larger than its
operands is rewritten (by ``safe_expressions``) into a call of :func:`checked_binop` or of
a checked builtin here, which *estimates the size of the result before computing it* and
refuses what would exceed the limits below. Every value built from parts (list, tuple,
set and dict displays, assignments into a container, f-string parts) is measured by
:func:`sized`. Each checked call also counts against the evaluation's allocation budget
and its wall-clock deadline (:func:`evaluation_budget`), so no evaluation runs long or
fills memory, and each step between two checks is small.

The same checked operations fold the constants of an expression at deploy, so what can
be seen in the diagram (``10 ** 10 ** 7``) is refused before anything runs, with the same
reason the run-time budget would give.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# An integer of at most this many bits (about 1,233 decimal digits).
MAX_INT_BITS = 4096
MAX_INT_DIGITS = int(MAX_INT_BITS * math.log10(2))
# A value (string length, or items of a structure counted through every level) of at most this size.
MAX_VALUE_SIZE = 1_000_000
# What one evaluation may build in total, in the same units.
MAX_EVALUATION_SIZE = 16 * MAX_VALUE_SIZE
# Wall-clock time one evaluation (one script, condition or DMN cell) may take, and all the
# evaluations of one engine step together (a DMN table evaluates each of its cells separately).
EVALUATION_SECONDS = 0.5
STEP_SECONDS = 2.0
# Structures nested deeper than this are refused.
MAX_DEPTH = 32
# Widths and precisions in format specifications and %-formatting.
MAX_FORMAT_WIDTH = 999
MAX_ROUND_DIGITS = 400

_SEQUENCES = (str, bytes, list, tuple)
_ONE_ITEM = frozenset({bool, float, type(None)})
_PERCENT_FIELD = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")


class BudgetExceeded(ValueError):
    """An expression would exceed its budget; ``reason`` says which limit, in a designer's words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Budget(threading.local):
    deadline: float | None = None
    overrun: str = ""
    spent: int = 0


_budget = _Budget()


@contextmanager
def evaluation_budget(seconds: float = EVALUATION_SECONDS, what: str = "the evaluation") -> Iterator[None]:
    """Run one evaluation within a deadline and an allocation budget of its own; inside an engine step
    (:func:`step_budget`) the step's deadline holds as well, whichever comes first."""
    saved = (_budget.deadline, _budget.overrun, _budget.spent)
    deadline = time.monotonic() + seconds
    if saved[0] is None or deadline < saved[0]:
        _budget.deadline, _budget.overrun = deadline, f"{what} took longer than {seconds} s (time budget)"
    _budget.spent = 0
    try:
        yield
    finally:
        _budget.deadline, _budget.overrun, _budget.spent = saved


def step_budget() -> Any:
    """The deadline of all the evaluations of one engine step together."""
    return evaluation_budget(STEP_SECONDS, "the engine step's expressions together")


def _charge(size: int) -> None:
    """Count a built value against the evaluation, and stop an evaluation past its deadline."""
    if _budget.deadline is None:
        return  # folding constants at deploy: only the per-value limits apply
    _budget.spent += size
    if _budget.spent > MAX_EVALUATION_SIZE:
        raise BudgetExceeded(
            f"the evaluation built more than {MAX_EVALUATION_SIZE:,} items in total (memory budget)")
    if time.monotonic() > _budget.deadline:
        raise BudgetExceeded(_budget.overrun)


def tick(value: Any = None) -> Any:
    """``value`` unchanged, once the evaluation is known to be within its deadline."""
    if _budget.deadline is not None and time.monotonic() > _budget.deadline:
        raise BudgetExceeded(_budget.overrun)
    return value


def size_of(value: Any, limit: int = MAX_VALUE_SIZE) -> int:
    """The size of ``value`` in items: characters of a text, 8-byte words of an integer, the items of a
    structure counted through every level (a shared part counts each time it appears, but is walked once).
    Stops counting past ``limit``."""
    return _size(value, limit, 0, {})


def _size(value: Any, limit: int, depth: int, walked: dict[int, int]) -> int:
    if isinstance(value, str | bytes):
        return len(value)
    if isinstance(value, int):
        return 1 + value.bit_length() // 64
    if not isinstance(value, list | tuple | set | frozenset | dict):
        return 1
    if id(value) in walked:
        return walked[id(value)]
    if depth >= MAX_DEPTH:
        raise BudgetExceeded(f"the value is nested more than {MAX_DEPTH} levels deep")
    parts: Any = (part for pair in value.items() for part in pair) if isinstance(value, dict) else value
    total = 2 * len(value) if isinstance(value, dict) else len(value)
    for part in parts:
        if part.__class__ in _ONE_ITEM:
            continue
        total += max(1, _size(part, limit - total, depth + 1, walked)) - 1
        if total > limit:
            break
    walked[id(value)] = total
    return total


def _refuse_if_too_large(size: int, what: str) -> None:
    if size > MAX_VALUE_SIZE:
        raise BudgetExceeded(f"{what} too large: the result would have {size:,} items (limit {MAX_VALUE_SIZE:,})")


def sized(value: Any) -> Any:
    """``value`` unchanged, once it is known to be within the limits (and counted)."""
    if isinstance(value, int) and not isinstance(value, bool):
        _check_int_bits(value.bit_length(), "integer")
        return value
    size = size_of(value)
    _refuse_if_too_large(size, "value")
    _charge(size)
    return value


def _check_int_bits(bits: float, what: str) -> None:
    if bits > MAX_INT_BITS:
        digits = int(bits * math.log10(2)) + 1
        raise BudgetExceeded(
            f"{what} too large: the result would have about {digits:,} digits (limit {MAX_INT_DIGITS:,} digits)")
    _charge(1 + int(bits) // 64)


def _is_int(value: Any) -> bool:
    return isinstance(value, int)


def _power(left: Any, right: Any) -> Any:
    if _is_int(left) and _is_int(right) and right > 0 and abs(left) > 1:
        _check_int_bits(right * math.log2(abs(left)), "exponent")
    return left**right


def _product(left: Any, right: Any) -> Any:
    if _is_int(left) and _is_int(right):
        _check_int_bits(left.bit_length() + right.bit_length(), "product")
        return left * right
    sequence, count = (left, right) if _is_int(right) else (right, left)
    if isinstance(sequence, _SEQUENCES) and _is_int(count) and count > 0:
        size = size_of(sequence) * count
        _refuse_if_too_large(size, "repetition")
        _charge(size)
    return left * right


def _shift(left: Any, right: Any) -> Any:
    if _is_int(left) and _is_int(right) and left and right > 0:
        _check_int_bits(left.bit_length() + right, "shift")
    return left << right


def _sum(left: Any, right: Any) -> Any:
    if isinstance(left, _SEQUENCES) and isinstance(right, _SEQUENCES):
        size = size_of(left) + size_of(right)
        _refuse_if_too_large(size, "concatenation")
        _charge(size)
        return left + right
    result = left + right
    if _is_int(result):
        _check_int_bits(result.bit_length(), "sum")
    return result


def _remainder(left: Any, right: Any) -> Any:
    if isinstance(left, str | bytes):
        text = left if isinstance(left, str) else left.decode("latin-1")
        for width, precision in _PERCENT_FIELD.findall(text):
            if "*" in (width, precision) or int(width or 0) > MAX_FORMAT_WIDTH \
                    or int(precision or 0) > MAX_FORMAT_WIDTH:
                raise BudgetExceeded(f"%-format width or precision too large (limit {MAX_FORMAT_WIDTH})")
        size_of(right)
        return sized(left % right)
    return left % right


_CHECKED = {"Pow": _power, "Mult": _product, "LShift": _shift, "Add": _sum, "Mod": _remainder}
CHECKED_OPERATORS = frozenset(_CHECKED)


def checked_binop(operator: str, left: Any, right: Any) -> Any:
    """``left <operator> right`` (operator named as in :mod:`ast`), refused before computing if too large."""
    return _CHECKED[operator](left, right)


def check_format_spec(spec: str) -> None:
    """Refuse an f-string format specification whose width or precision exceeds the limit."""
    for number in re.findall(r"\d+", spec):
        if int(number) > MAX_FORMAT_WIDTH:
            raise BudgetExceeded(f"format width or precision {number} too large (limit {MAX_FORMAT_WIDTH})")


def _measured_input(function: Any) -> Any:
    def checked(*args: Any, **kwargs: Any) -> Any:
        for argument in (*args, *kwargs.values()):
            _refuse_if_too_large(size_of(argument), f"argument of {function.__name__}()")
        return sized(function(*args, **kwargs))

    checked.__name__ = function.__name__
    checked.__doc__ = function.__doc__
    return checked


def _checked_sum(iterable: Any, /, start: Any = 0) -> Any:
    if not isinstance(start, int | float):
        raise BudgetExceeded("sum() adds numbers; join texts or lists with +")
    _refuse_if_too_large(size_of(iterable), "argument of sum()")
    return sized(sum(iterable, start))


def _checked_round(number: Any, ndigits: Any = None) -> Any:
    if ndigits is not None and _is_int(ndigits) and abs(ndigits) > MAX_ROUND_DIGITS:
        raise BudgetExceeded(f"round() to {ndigits} digits is too many (limit {MAX_ROUND_DIGITS})")
    return round(number, ndigits)


def checked_builtins(functions: dict[str, Any]) -> dict[str, Any]:
    """The allowed builtins, those that build values from their arguments replaced by checked ones."""
    replaced: dict[str, Any] = {"sum": _checked_sum, "round": _checked_round}
    for name in ("str", "int", "list", "tuple", "set", "dict", "sorted"):
        if name in functions:
            replaced[name] = _measured_input(functions[name])
    return {**functions, **{name: fn for name, fn in replaced.items() if name in functions}}
