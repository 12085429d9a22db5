"""Diagram expressions as bounded code: constants folded at deploy, growth checked at run time.

Works on a tree that has already passed the allow-list of
:mod:`engine.bpmn.safe_expressions` (no loops, no functions, no attribute access).

- :func:`fold_constants` computes every constant part of an expression with the checked
  operations of :mod:`engine.bpmn.expression_budget`, so ``9 ** 9 ** 9`` or
  ``"x" * 10 ** 10`` is refused at deploy with the reason the run time would give.
- :func:`bounded_code` compiles the tree rewritten so that ``**``, ``*``, ``<<``, ``+`` and
  ``%`` call :data:`BINOP` (which estimates the result before computing it) and every
  value built from parts (displays, f-string parts, assignments into a container) passes
  through :data:`SIZED`; every statement, comparison and call passes :data:`TICK`, which
  checks the deadline. These names start with ``_``, which user code cannot name.
"""

from __future__ import annotations

import ast
import operator
from types import CodeType
from typing import Any

from engine.bpmn.expression_budget import CHECKED_OPERATORS, BudgetExceeded, checked_binop, sized, tick

BINOP, SIZED, TICK = "_oos_binop", "_oos_sized", "_oos_tick"
CHECKS: dict[str, Any] = {BINOP: checked_binop, SIZED: sized, TICK: tick}

_UNKNOWN = object()
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_, ast.Invert: operator.invert}
_OTHER_BINARY = {
    ast.Sub: operator.sub, ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv,
    ast.RShift: operator.rshift, ast.BitAnd: operator.and_, ast.BitOr: operator.or_, ast.BitXor: operator.xor,
}
_NOT_CONSTANT = (TypeError, ValueError, ZeroDivisionError, OverflowError, ArithmeticError)


class _ConstantFolder(ast.NodeVisitor):
    """Computes what is constant in an expression; :class:`BudgetExceeded` when it would be too large."""

    def generic_visit(self, node: ast.AST) -> Any:
        super().generic_visit(node)
        return _UNKNOWN

    def visit_Constant(self, node: ast.Constant) -> Any:
        return node.value

    def visit_UnaryOp(self, node: ast.UnaryOp) -> Any:
        operand = self.visit(node.operand)
        if operand is _UNKNOWN:
            return _UNKNOWN
        return _computed(lambda: _UNARY[type(node.op)](operand))

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        left, right = self.visit(node.left), self.visit(node.right)
        if left is _UNKNOWN or right is _UNKNOWN:
            return _UNKNOWN
        name = type(node.op).__name__
        if name in CHECKED_OPERATORS:
            return _computed(lambda: checked_binop(name, left, right))
        if type(node.op) in _OTHER_BINARY:
            return _computed(lambda: _OTHER_BINARY[type(node.op)](left, right))
        return _UNKNOWN

    def _display(self, node: ast.List | ast.Tuple | ast.Set) -> Any:
        items = [self.visit(element) for element in node.elts]
        if _UNKNOWN in items or not isinstance(getattr(node, "ctx", ast.Load()), ast.Load):
            return _UNKNOWN
        return _computed(lambda: sized({ast.List: list, ast.Tuple: tuple, ast.Set: set}[type(node)](items)))

    def visit_List(self, node: ast.List) -> Any:
        return self._display(node)

    def visit_Tuple(self, node: ast.Tuple) -> Any:
        return self._display(node)

    def visit_Set(self, node: ast.Set) -> Any:
        return self._display(node)


def _computed(compute: Any) -> Any:
    try:
        return compute()
    except BudgetExceeded:
        raise
    except _NOT_CONSTANT:
        return _UNKNOWN  # e.g. 1 / 0: an ordinary error at run time, not a budget question


def fold_constants(tree: ast.AST) -> None:
    """Raise :class:`BudgetExceeded` if a constant part of ``tree`` would exceed the budget."""
    _ConstantFolder().visit(tree)


class _BudgetRewriter(ast.NodeTransformer):
    """Routes every operation that can grow a value through the checked ones."""

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        name = type(node.op).__name__
        if name not in CHECKED_OPERATORS:
            return node
        return _call(BINOP, ast.Constant(name), node.left, node.right)

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST | list[ast.stmt]:
        self.generic_visit(node)
        name = type(node.op).__name__
        if name not in CHECKED_OPERATORS:
            return node
        current = _as_load(node.target)
        assign = ast.Assign(targets=[node.target], value=_call(BINOP, ast.Constant(name), current, node.value))
        return [_tick(), assign, *_container_checks([node.target])]

    def visit_Assign(self, node: ast.Assign) -> list[ast.stmt]:
        self.generic_visit(node)
        return [_tick(), node, *_container_checks(node.targets)]

    def visit_Expr(self, node: ast.Expr) -> list[ast.stmt]:
        self.generic_visit(node)
        return [_tick(), node]

    def visit_If(self, node: ast.If) -> list[ast.stmt]:
        self.generic_visit(node)
        return [_tick(), node]

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        return _call(TICK, node)

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        return _call(TICK, node)

    def visit_FormattedValue(self, node: ast.FormattedValue) -> ast.AST:
        self.generic_visit(node)
        node.value = _call(SIZED, node.value)
        return node

    def _display(self, node: ast.AST) -> ast.AST:
        self.generic_visit(node)
        if not isinstance(getattr(node, "ctx", ast.Load()), ast.Load):
            return node
        return _call(SIZED, node)

    def visit_List(self, node: ast.List) -> ast.AST:
        return self._display(node)

    def visit_Tuple(self, node: ast.Tuple) -> ast.AST:
        return self._display(node)

    def visit_Set(self, node: ast.Set) -> ast.AST:
        return self._display(node)

    def visit_Dict(self, node: ast.Dict) -> ast.AST:
        return self._display(node)


def _call(name: str, *args: ast.expr) -> ast.Call:
    return ast.Call(func=ast.Name(id=name, ctx=ast.Load()), args=list(args), keywords=[])


def _tick() -> ast.stmt:
    return ast.Expr(_call(TICK))


def _as_load(target: ast.expr) -> ast.expr:
    copied = ast.parse(ast.unparse(target), mode="eval").body
    return copied


def _container_checks(targets: list[ast.expr]) -> list[ast.stmt]:
    """After ``x[k] = v`` the container ``x`` has grown: measure it again."""
    checks: list[ast.stmt] = []
    for target in targets:
        if isinstance(target, ast.Tuple | ast.List):
            checks.extend(_container_checks(list(target.elts)))
        elif isinstance(target, ast.Subscript):
            root = target.value
            while isinstance(root, ast.Subscript):
                root = root.value
            checks.append(ast.Expr(_call(SIZED, _as_load(root))))
    return checks


def bounded_code(tree: ast.Module | ast.Expression, filename: str = "<expression>") -> CodeType:
    """Compile ``tree`` (already allow-listed) with every growing operation checked."""
    rewritten = ast.fix_missing_locations(_BudgetRewriter().visit(tree))
    return compile(rewritten, filename, "eval" if isinstance(tree, ast.Expression) else "exec")
