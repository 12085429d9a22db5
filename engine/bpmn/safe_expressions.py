"""The only way diagram expressions run: an AST allow-list in front of ``eval``/``exec``.

SpiffWorkflow evaluates every condition, script, timer expression, DMN cell, service-task
parameter and message payload with plain ``eval``/``exec`` and full builtins, so
``import os`` works in a script task, and swapping builtins alone (the RestrictedPython
recipe) is escaped through ``().__class__.__base__.__subclasses__()``. Every escape of
that family needs attribute access or a dunder name, so we refuse both outright, accept
only the small set of constructs a process designer needs, and run what passes with
builtins reduced to :data:`ALLOWED_FUNCTIONS`.

The same check runs twice: at deploy (``engine.bpmn.loader``), so a designer learns about
a bad expression before anything runs, and at run time (:class:`SafeEnvironment`), so
code that reached the engine some other way (an old stored spec, a bug in the loader's
walk) is still refused.

Resource exhaustion (``10 ** 10 ** 10``, ``"x" * 10 ** 10``) is not something an
allow-list can see, so what passes is also bounded (:mod:`engine.bpmn.expression_budget`):
constants are folded at deploy with checked operations, so a visible ``9 ** 9 ** 9`` is
refused then; at run time the source is rewritten so that every operation that can grow a
value goes through a checked one, within a per-evaluation deadline and allocation budget;
and a script's results must be storable JSON values (:mod:`engine.bpmn.storable`).
"""

from __future__ import annotations

import ast
import builtins
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from types import CodeType
from typing import Any, Literal

from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment

from engine.bpmn.bounded_code import CHECKS, bounded_code, fold_constants
from engine.bpmn.expression_budget import (
    BudgetExceeded,
    check_format_spec,
    checked_builtins,
    evaluation_budget,
)
from engine.bpmn.storable import check_storable

Mode = Literal["eval", "exec"]

def add_hours(iso_time: str, hours: float) -> str:
    """A deadline from a recorded time: ``add_hours(supplied_at, 48)`` (ISO 8601, time zone required).

    Deadlines (OOS-13) are computed in the diagram from recorded times, so the process
    needs date arithmetic; this one pure function gives it without opening ``datetime``.
    """
    moment = datetime.fromisoformat(str(iso_time).replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"add_hours: '{iso_time}' has no time zone")
    return (moment + timedelta(hours=float(hours))).astimezone(UTC).isoformat()


# Functions provided by oospath itself, beside the Python builtins below.
DOMAIN_FUNCTIONS: dict[str, Any] = {"add_hours": add_hours}

# fmt: off
ALLOWED_FUNCTIONS: frozenset[str] = frozenset({
    "len", "min", "max", "sum", "any", "all", "abs", "round",
    "str", "int", "float", "bool", "sorted", "list", "dict", "set", "tuple",
    *DOMAIN_FUNCTIONS,
})
# fmt: on

SAFE_BUILTINS: dict[str, Any] = {
    **checked_builtins({name: getattr(builtins, name) for name in sorted(ALLOWED_FUNCTIONS - set(DOMAIN_FUNCTIONS))}),
    **DOMAIN_FUNCTIONS,
    "True": True,
    "False": False,
    "None": None,
}

# What every expression runs with: the builtins and the checked operations rewritten code calls
# (user code cannot name those: names starting with '_' are refused).
RUN_GLOBALS: dict[str, Any] = {"__builtins__": SAFE_BUILTINS, **CHECKS}

# Node types accepted without further inspection; anything absent is refused.
_ALLOWED_NODES: tuple[type[ast.AST], ...] = (
    ast.Expression,
    ast.Module,
    ast.Expr,
    ast.Assign,
    ast.AugAssign,
    ast.If,
    ast.Pass,
    ast.Constant,
    ast.Compare,
    ast.BoolOp,
    ast.BinOp,
    ast.UnaryOp,
    ast.IfExp,
    ast.Subscript,
    ast.Slice,
    ast.List,
    ast.Tuple,
    ast.Dict,
    ast.Set,
    ast.Starred,
    ast.JoinedStr,
    ast.FormattedValue,
    ast.keyword,
    ast.expr_context,
    ast.operator,
    ast.unaryop,
    ast.cmpop,
    ast.boolop,
)

# Why a refused construct is refused, in words a process designer can act on.
_REFUSALS: dict[type[ast.AST], str] = {
    ast.Import: "import is not allowed",
    ast.ImportFrom: "import is not allowed",
    ast.Lambda: "lambda is not allowed",
    ast.FunctionDef: "function definition (def) is not allowed",
    ast.AsyncFunctionDef: "function definition (async def) is not allowed",
    ast.ClassDef: "class definition is not allowed",
    ast.ListComp: "comprehensions are not allowed (they create their own scope)",
    ast.SetComp: "comprehensions are not allowed (they create their own scope)",
    ast.DictComp: "comprehensions are not allowed (they create their own scope)",
    ast.GeneratorExp: "generator expressions are not allowed (they create their own scope)",
    ast.Global: "global declarations are not allowed",
    ast.Nonlocal: "nonlocal declarations are not allowed",
    ast.While: "while loops are not allowed (they may never end)",
    ast.For: "for loops are not allowed",
    ast.AsyncFor: "for loops are not allowed",
    ast.Delete: "del is not allowed",
    ast.Try: "try is not allowed",
    ast.TryStar: "try is not allowed",
    ast.Raise: "raise is not allowed",
    ast.Assert: "assert is not allowed",
    ast.With: "with is not allowed",
    ast.AsyncWith: "with is not allowed",
    ast.Yield: "yield is not allowed",
    ast.YieldFrom: "yield is not allowed",
    ast.Await: "await is not allowed",
    ast.NamedExpr: "assignment expressions (:=) are not allowed",
    ast.Match: "match statements are not allowed",
    ast.AnnAssign: "annotated assignments are not allowed",
}


class UnsafeExpressionError(ValueError):
    """An expression uses a construct outside the allow-list (or is not valid Python)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _AllowListChecker(ast.NodeVisitor):
    """Raises :class:`UnsafeExpressionError` at the first construct outside the allow-list."""

    def generic_visit(self, node: ast.AST) -> None:
        if not isinstance(node, _ALLOWED_NODES):
            raise UnsafeExpressionError(_refusal(node))
        super().generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        _check_identifier(node.id)

    def visit_keyword(self, node: ast.keyword) -> None:
        if node.arg is not None:
            _check_identifier(node.arg)
        self.visit(node.value)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        raise UnsafeExpressionError(f"attribute access '.{node.attr}' is not allowed")

    def visit_Call(self, node: ast.Call) -> None:
        if not isinstance(node.func, ast.Name):
            self.visit(node.func)  # reports the attribute access or call inside it
            raise UnsafeExpressionError("calling the result of an expression is not allowed")
        if node.func.id not in ALLOWED_FUNCTIONS:
            raise UnsafeExpressionError(
                f"call of '{node.func.id}' is not allowed (allowed: {', '.join(sorted(ALLOWED_FUNCTIONS))})"
            )
        for child in [*node.args, *node.keywords]:
            self.visit(child)

    def visit_Assign(self, node: ast.Assign) -> None:
        self.generic_visit(node)
        for target in node.targets:
            _check_target(target)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self.generic_visit(node)
        _check_target(node.target)

    def visit_FormattedValue(self, node: ast.FormattedValue) -> None:
        self.visit(node.value)
        spec = node.format_spec
        if spec is None:
            return
        if not all(isinstance(part, ast.Constant) for part in spec.values):  # type: ignore[attr-defined]
            raise UnsafeExpressionError("format specifications must be written out (no {...} inside them)")
        try:
            check_format_spec("".join(str(part.value) for part in spec.values))  # type: ignore[attr-defined]
        except BudgetExceeded as error:
            raise UnsafeExpressionError(error.reason) from None


def _refusal(node: ast.AST) -> str:
    return _REFUSALS.get(type(node), f"{type(node).__name__} is not allowed")


def _check_identifier(name: str) -> None:
    if name.startswith("_"):
        raise UnsafeExpressionError(f"name '{name}' is not allowed (names starting with '_' are reserved)")


def _check_target(target: ast.expr) -> None:
    """Assignments may bind names, subscripts, or tuples/lists of those."""
    if isinstance(target, ast.Tuple | ast.List):
        for element in target.elts:
            _check_target(element)
    elif not isinstance(target, ast.Name | ast.Subscript):
        raise UnsafeExpressionError(f"assignment to `{ast.unparse(target)}` is not allowed")


@lru_cache(maxsize=4096)
def _checked(source: str, mode: Mode) -> CodeType | str:
    """The bounded code of ``source``, or the reason it is refused (cached: sources repeat)."""
    try:
        tree = ast.parse(source, mode=mode)
        _AllowListChecker().visit(tree)
        fold_constants(tree)
        return bounded_code(tree)
    except (UnsafeExpressionError, BudgetExceeded) as error:
        return error.reason
    except SyntaxError as error:
        return f"not valid Python: {error.msg}"
    except ValueError as error:  # e.g. NUL bytes in the source
        return f"not valid Python: {error}"
    except (RecursionError, MemoryError):  # the parser or the walk ran out of stack
        return "the expression is nested too deeply"


def _code(source: str, mode: Mode) -> CodeType:
    checked = _checked(source, mode)
    if isinstance(checked, str):
        raise UnsafeExpressionError(checked)
    return checked


def check_expression(source: str, mode: Mode) -> None:
    """Raise :class:`UnsafeExpressionError` unless ``source`` is in the safe subset.

    ``mode`` is ``'eval'`` for expressions (conditions, cells, parameters, timers) and
    ``'exec'`` for scripts, which may also assign and use ``if`` statements.
    """
    _code(source, mode)


class SafeEnvironment(TaskDataEnvironment):
    """A script environment that runs only allow-listed, bounded code with reduced builtins.

    Every evaluation runs within :func:`evaluation_budget`; a script's results must be
    storable JSON values (checked here, so the refusal belongs to the script's element).
    """

    def __init__(self) -> None:
        super().__init__(dict(RUN_GLOBALS))

    def evaluate(self, expression: str, context: dict[str, Any], external_context: Any = None) -> Any:
        code = _code(expression, "eval")
        namespace = {**(external_context or {}), **context}
        # Set last so that task data can never replace the builtins or the checked operations.
        namespace.update(RUN_GLOBALS)
        with evaluation_budget():
            return eval(code, namespace)

    def execute(self, script: str, context: dict[str, Any], external_context: Any = None) -> bool:
        code = _code(script, "exec")
        self.check_for_overwrite(context, external_context or {})
        before = {name: id(value) for name, value in context.items()}
        context.update(external_context or {})
        context.update(RUN_GLOBALS)
        try:
            with evaluation_budget():
                exec(code, context)
        finally:
            self._remove_globals_and_functions_from_context(context, external_context)
        check_storable(context, [name for name, value in context.items()
                                 if before.get(name) != id(value) or isinstance(value, list | dict)])
        return True


def safe_script_engine() -> PythonScriptEngine:
    """The script engine every oospath workflow must use."""
    return PythonScriptEngine(environment=SafeEnvironment())
