"""The allow-list every diagram expression passes before it runs (security).

Each refused case is something a hostile or careless diagram could contain; each allowed
case is something a process designer needs. Refusal reasons must name the construct.
"""

from __future__ import annotations

from typing import Any

import pytest

from engine.bpmn.safe_expressions import (
    ALLOWED_FUNCTIONS,
    SafeEnvironment,
    UnsafeExpressionError,
    check_expression,
)

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
