"""The allow-list every diagram expression passes before it runs (security).

Each refused case is something a hostile or careless diagram could contain; each allowed
case is something a process designer needs. Refusal reasons must name the construct.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest

from engine.bpmn.expression_budget import BudgetExceeded, step_budget
from engine.bpmn.safe_expressions import (
    ALLOWED_FUNCTIONS,
    SafeEnvironment,
    UnsafeExpressionError,
    check_expression,
)
from engine.bpmn.storable import NotStorable

ESCAPE = "().__class__.__base__.__subclasses__()"


# security
@pytest.mark.parametrize(
    ("source", "mode", "reason"),
    [
        ("import os", "exec", "import is not allowed"),
        ("from os import system", "exec", "import is not allowed"),
        (ESCAPE, "eval", "attribute access '.__subclasses__' is not allowed"),
        ("x = " + ESCAPE, "exec", "attribute access '.__subclasses__' is not allowed"),
        ("'abc'.upper()", "eval", "attribute access '.upper' is not allowed"),
        ("open('/etc/passwd')", "eval", "call of 'open' is not allowed"),
        ("getattr(x, 'y')", "eval", "call of 'getattr' is not allowed"),
        ("x[0]()", "eval", "calling the result of an expression is not allowed"),
        ("__builtins__", "eval", "name '__builtins__' is not allowed"),
        ("_secret + 1", "eval", "name '_secret' is not allowed"),
        ("sorted(x, __key=1)", "eval", "name '__key' is not allowed"),
        ("(lambda: 1)()", "eval", "lambda is not allowed"),
        ("[y for y in x]", "eval", "comprehensions are not allowed"),
        ("{y: 1 for y in x}", "eval", "comprehensions are not allowed"),
        ("sum(y for y in x)", "eval", "generator expressions are not allowed"),
        ("def f():\n    return 1", "exec", "function definition (def) is not allowed"),
        ("class C:\n    pass", "exec", "class definition is not allowed"),
        ("while True:\n    pass", "exec", "while loops are not allowed"),
        ("for y in x:\n    pass", "exec", "for loops are not allowed"),
        ("global x", "exec", "global declarations are not allowed"),
        ("del x", "exec", "del is not allowed"),
        ("try:\n    x = 1\nexcept Exception:\n    pass", "exec", "try is not allowed"),
        ("raise ValueError", "exec", "raise is not allowed"),
        ("with x:\n    pass", "exec", "with is not allowed"),
        ("(y := 1)", "eval", "assignment expressions (:=) are not allowed"),
        ("a, *b = x", "exec", "assignment to `*b` is not allowed"),
        ("x ==", "eval", "not valid Python"),
        ("x = 1", "eval", "not valid Python"),
    ],
)
def test_unsafe_sources_are_refused_with_a_reason_naming_the_construct(
    source: str, mode: Any, reason: str
) -> None:
    with pytest.raises(UnsafeExpressionError) as refused:
        check_expression(source, mode)
    assert reason in str(refused.value)


@pytest.mark.parametrize(
    ("source", "data", "expected"),
    [
        ('risk == "high"', {"risk": "high"}, True),
        ("score >= 4 and not urgent or category in (1, 2)", {"score": 1, "urgent": 1, "category": 2}, True),
        ('"PT48H"', {}, "PT48H"),
        ("'treating_physician'", {}, "treating_physician"),
        ('"Risk " + risk', {"risk": "high"}, "Risk high"),
        ("items[1:][0]['n'] * 2", {"items": [{"n": 0}, {"n": 3}]}, 6),
        ("len(a) if a else max(b, default=0)", {"a": [], "b": [4, 9]}, 9),
        ("sorted(set(a), reverse=True)", {"a": [1, 3, 1]}, [3, 1]),
        ("round(abs(x), 1)", {"x": -2.345}, 2.3),
        ("{'k': [1, 2], **extra}", {"extra": {"z": None}}, {"k": [1, 2], "z": None}),
        ('f"{n:03d}-{name!r}"', {"n": 7, "name": "a"}, "007-'a'"),
        ('(dmninputexpr) == ("authorised")', {"dmninputexpr": "authorised"}, True),
    ],
)
def test_allowed_expressions_evaluate(source: str, data: dict[str, Any], expected: Any) -> None:
    assert SafeEnvironment().evaluate(source, dict(data)) == expected


def test_allowed_script_assigns_into_task_data() -> None:
    data: dict[str, Any] = {"x": 1, "record": {}}
    script = (
        "x = x + 1\nrecord['kind'] = 'batch'\nif x > 1:\n    flag = True\nelse:\n    flag = False\nx += 10\n"
    )
    SafeEnvironment().execute(script, data)
    assert data == {"x": 12, "record": {"kind": "batch"}, "flag": True}


# security: defence in depth, the environment refuses even when the loader was bypassed
def test_environment_refuses_unsafe_code_at_run_time() -> None:
    environment = SafeEnvironment()
    with pytest.raises(UnsafeExpressionError, match="import is not allowed"):
        environment.execute("import os", {})
    with pytest.raises(UnsafeExpressionError, match="attribute access"):
        environment.evaluate(ESCAPE, {})


# security
def test_only_the_allowed_functions_exist_as_builtins() -> None:
    environment = SafeEnvironment()
    with pytest.raises(NameError):
        environment.evaluate("open", {})  # a bare name passes the check but is not defined
    for name in ALLOWED_FUNCTIONS:
        assert callable(environment.evaluate(name, {}))


# security
def test_task_data_cannot_replace_the_builtins() -> None:
    data = {"__builtins__": __builtins__, "x": [1, 2]}
    environment = SafeEnvironment()
    assert environment.evaluate("len(x)", data) == 2
    with pytest.raises(NameError):
        environment.evaluate("open", data)


def test_script_leaves_no_builtins_or_functions_in_task_data() -> None:
    data: dict[str, Any] = {"x": [3, 1]}
    SafeEnvironment().execute("y = sorted(x)\nf = len", data)
    assert data == {"x": [3, 1], "y": [1, 3]}


def test_repeated_checks_give_the_same_answer() -> None:
    # the check is cached: a refused source stays refused, an allowed one stays allowed
    for _ in range(2):
        check_expression("x + 1", "eval")
        with pytest.raises(UnsafeExpressionError):
            check_expression("import os", "exec")


# security
def test_deeply_nested_source_is_refused_not_crashed() -> None:
    with pytest.raises(UnsafeExpressionError):
        check_expression("-" * 100_000 + "1", "eval")


# ---------------------------------------------------------------- bounded expressions (issue 9 item 2)


# resource exhaustion: what a designer can see is refused at deploy, with the reason the run time would give
@pytest.mark.parametrize(
    ("source", "mode", "reason"),
    [
        ("y = 9**9**9", "exec", "exponent too large: the result would have about 369,693,100 digits (limit 1,233"),
        ("10**10**7", "eval", "exponent too large: the result would have about 10,000,001 digits"),
        ("2**100000", "eval", "exponent too large: the result would have about 30,103 digits"),
        ("x * 2**100000", "eval", "exponent too large"),  # a constant part of a larger expression
        ("'x' * 10**10", "eval", "repetition too large: the result would have 10,000,000,000 items (limit 1,000,000)"),
        ("10**10 * 'x'", "eval", "repetition too large"),
        ("[0] * 10**9", "eval", "repetition too large: the result would have 1,000,000,000 items"),
        ("x = 1 << 10**6", "exec", "shift too large"),
        ("x = 1\nx **= 10**5000", "exec", "exponent too large"),
        ("'%0999999d' % 1", "eval", "%-format width or precision too large (limit 999)"),
        ("f'{x:>99999}'", "eval", "format width or precision 99999 too large (limit 999)"),
        ("f'{x:>{n}}'", "eval", "format specifications must be written out"),
        ("f = lambda n: f(n)", "exec", "lambda is not allowed"),  # recursion needs a function: none can be made
    ],
)
def test_visible_exhaustion_is_refused_before_anything_runs(source: str, mode: Any, reason: str) -> None:
    with pytest.raises(UnsafeExpressionError) as refused:
        check_expression(source, mode)
    assert reason in refused.value.reason


# resource exhaustion: what evades the deploy check is stopped by the run-time budget, quickly
@pytest.mark.parametrize(
    ("script", "reason"),
    [
        ("n = 9\ny = n**n**n", "exponent too large"),
        ("s = 'x'\nt = s * (10**9)", "repetition too large"),
        ("s = 'x' * 10**6\nt = s + s", "concatenation too large"),
        ("n = 10**6\nx = 1 << n", "shift too large"),
        ("n = 10**700\nx = n * n", "product too large"),
        ("w = 10**9\ns = '%*d' % (w, 1)", "%-format width or precision too large"),
        ("a = [1, 2]\n" + "a = [a, a]\n" * 25, "value too large"),  # shared parts count each time
        ("a = [1, 2]\n" + "b = [0, 0]\nb[0] = a\nb[1] = a\na = b\n" * 25, "value too large"),
        ("x = [1]\nx[0] = x", "nested more than 32 levels"),
        ("x = sum([[1], [2]], [])", "sum() adds numbers"),
        ("n = 10**6\nx = round(1, -n)", "round() to -1000000 digits"),
        ("\n".join(f"s{i} = 'x' * 900000" for i in range(20)), "(memory budget)"),
        ("a = [1] * 900000\nb = [1] * 900000\n" + "c = a == b\n" * 3000, "(time budget)"),
    ],
)
def test_exhaustion_through_variables_is_stopped_by_the_budget(script: str, reason: str) -> None:
    check_expression(script, "exec")  # passes the deploy check: only the run time can see it
    started = time.monotonic()
    with pytest.raises(BudgetExceeded) as stopped:
        SafeEnvironment().execute(script, {})
    assert reason in stopped.value.reason
    assert time.monotonic() - started < 5  # liveness bound, generous; speed: python -m bench.expressions


def test_large_task_data_is_not_multiplied_by_builtins() -> None:
    data: dict[str, Any] = {"big": ["x" * 600_000, "x" * 600_000]}  # e.g. two long texts from forms
    with pytest.raises(BudgetExceeded, match=r"argument of str\(\) too large"):
        SafeEnvironment().execute("t = str(big)", data)
    with pytest.raises(BudgetExceeded, match=r"argument of sorted\(\) too large"):
        SafeEnvironment().evaluate("sorted(big)", data)


def test_budget_applies_to_conditions_and_dmn_cells_too() -> None:
    environment = SafeEnvironment()
    with pytest.raises(BudgetExceeded, match="exponent too large"):
        environment.evaluate("n ** n ** n > 0", {"n": 9})
    with pytest.raises(BudgetExceeded, match="repetition too large"):
        environment.evaluate("(dmninputexpr) == ('x' * n)", {"n": 10**10}, {"dmninputexpr": "x"})


def test_bounded_values_a_pathway_needs_still_run() -> None:
    data: dict[str, Any] = {"n": 2**62, "hours": 48}
    SafeEnvironment().execute(
        "big = n * 1\nlabel = f'{n:>20}' + 'x' * 1000\nitems = [[1, 2]] * 1000\nk = 2 ** 4000 > 0\n"
        "text = str(items)\nhalf = hours * 0.5\nd = {'a': [1, 2], 'b': {'c': None}}\nd['a'] += [3]", data)
    assert data["big"] == 2**62 and data["k"] is True and data["half"] == 24.0
    assert len(data["label"]) == 1020 and len(data["items"]) == 1000 and data["d"]["a"] == [1, 2, 3]


# only JSON values are stored: refused at the script, naming the variable
@pytest.mark.parametrize(
    ("script", "reason"),
    [
        ("y = {1, 2}", "variable 'y' cannot be stored: the value is a set"),
        ("y = 1j", "the value is a complex"),
        ("y = b'x'", "the value is a bytes"),
        ("y = 2**63", "the integer is outside -2**63 .. 2**63-1"),
        ("y = [1, float('inf')]", "the number at [1] is inf"),
        ("y = {'a': {'b': float('nan')}}", "the number at ['a']['b'] is nan"),
        ("y = {}\ny[1] = 'one'", "the key 1 at top level is not text"),
        ("record['k'] = {1}", "variable 'record' cannot be stored"),  # changed in place
        ("y = [1]\n" + "y = [y]\n" * 40, "nested more than 32 levels"),
    ],
)
def test_a_script_result_json_cannot_hold_is_refused_naming_the_variable(script: str, reason: str) -> None:
    with pytest.raises((NotStorable, BudgetExceeded)) as refused:
        SafeEnvironment().execute(script, {"record": {}})
    assert reason in refused.value.reason  # type: ignore[union-attr]


def test_values_already_in_task_data_are_not_judged_by_a_later_script() -> None:
    started_at = datetime(2026, 1, 1, tzinfo=UTC)  # e.g. given at start by a service, not by the script
    data: dict[str, Any] = {"started_at": started_at}
    SafeEnvironment().execute("y = 1", data)
    assert data == {"started_at": started_at, "y": 1}


def test_an_engine_step_bounds_its_evaluations_together() -> None:
    """A DMN table evaluates each cell separately: each within its own budget, all within the step's."""
    data = {"a": [1] * 900_000, "b": [1] * 900_000}  # large data, e.g. from earlier steps
    cell = " and ".join(["a == b"] * 40)  # well within one evaluation's time budget
    environment = SafeEnvironment()
    started = time.monotonic()
    overrun = r"the engine step's expressions together took longer than 2.0 s"
    with pytest.raises(BudgetExceeded, match=overrun), step_budget():
        for _ in range(1000):
            environment.evaluate(cell, data)
    assert time.monotonic() - started < 10  # liveness bound, generous
