"""Stage 3 of loading: every expression in the built specs, checked before anything runs.

Scripts, conditions, service parameters, correlations, DMN cells and timers are Python
that SpiffWorkflow evaluates; each is checked against the allow-list of
:mod:`engine.bpmn.safe_expressions`. A timer that is a string literal (as written, or
translated from bare ISO 8601 by :mod:`engine.bpmn.iso8601_timers`) must also be a value
the engine can schedule.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Literal

from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.bpmn.specs.event_definitions.conditional import ConditionalEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.specs.MultiChoice import MultiChoice

from engine.bpmn.documents import Document, Inputs
from engine.bpmn.errors import BpmnProblem
from engine.bpmn.iso8601_timers import EXAMPLES, LOOKS_ISO8601, literal_value, timer_kind, value_problem
from engine.bpmn.safe_expressions import Mode, UnsafeExpressionError, check_expression

# How an expression runs: eval, exec, or eval of a timer value of a kind (duration, date, cycle).
_Kind = Literal["eval", "exec", "duration", "date", "cycle"]

# (spec attribute, what to call it, how it runs) for expressions held directly by task specs.
_TASK_EXPRESSIONS: tuple[tuple[str, str, Mode], ...] = (
    ("script", "script", "exec"),
    ("prescript", "pre-script", "exec"),
    ("postscript", "post-script", "exec"),
    ("condition", "loop condition", "eval"),
    ("cardinality", "loop cardinality", "eval"),
)

# The DMN engine's own pattern for a '?' outside quotes (SpiffWorkflow/dmn/engine/DMNEngine.py).
_DMN_INPUT_MARK = re.compile(r"(\?)(?=(?:[^'\"]|['\"][^'\"]*['\"])*$)")
_DMN_INPUT_NAME = "dmninputexpr"
# Cells are short; the '?' pattern above is quadratic on long text with unbalanced quotes.
_MAX_DMN_CELL_CHARS = 1000



def unique_specs(
    specs: Mapping[str, BpmnProcessSpec], subprocess_specs: Mapping[str, Mapping[str, Any]]
) -> list[BpmnProcessSpec]:
    found: dict[int, BpmnProcessSpec] = {id(spec): spec for spec in specs.values()}
    for subprocesses in subprocess_specs.values():
        found.update({id(spec): spec for spec in subprocesses.values() if spec is not None})
    return list(found.values())


def spec_expression_problems(specs: Iterable[BpmnProcessSpec], inputs: Inputs) -> Iterator[BpmnProblem]:
    for spec in specs:
        document = inputs.bpmn[spec.file]
        for element_id, what, source, kind in _spec_expressions(spec, document):
            reason = _expression_reason(source, kind)
            if reason is not None:
                yield document.problem(element_id, f"{_describe(source, what)}: {reason}")


def _spec_expressions(
    spec: BpmnProcessSpec, document: Document
) -> Iterator[tuple[str, str, str | None, _Kind]]:
    """Every expression SpiffWorkflow will evaluate for ``spec``: (element id, what, source, kind)."""
    completion = getattr(spec, "completion_condition", None)  # ad hoc subprocesses
    if isinstance(completion, str):
        yield spec.name, "completion condition", completion, "eval"
    for task_spec in spec.task_specs.values():
        element_id = task_spec.bpmn_id or task_spec.name
        for attribute, what, mode in _TASK_EXPRESSIONS:
            source = getattr(task_spec, attribute, None)
            if isinstance(source, str):
                yield element_id, what, source, mode
        for name, parameter in (getattr(task_spec, "operation_params", None) or {}).items():
            yield element_id, f"service parameter '{name}'", parameter["value"], "eval"
        for what, source, kind in _event_expressions(getattr(task_spec, "event_definition", None)):
            yield element_id, what, source, kind
        if isinstance(task_spec, MultiChoice):
            for condition, target in task_spec.cond_task_specs:
                if condition is not None:
                    flow_id = _flow_id(document, element_id, spec.task_specs[target])
                    yield flow_id, "sequence flow condition", condition.args[0], "eval"


def _event_expressions(definition: Any) -> Iterator[tuple[str, str | None, _Kind]]:
    if isinstance(definition, TimerEventDefinition):
        yield "timer", definition.expression, timer_kind(definition)
    elif isinstance(definition, ConditionalEventDefinition):
        yield "event condition", definition.expression, "eval"
    elif isinstance(getattr(definition, "expression", None), str):
        yield "event payload", definition.expression, "eval"
    correlations = [
        *getattr(definition, "correlation_properties", []),
        *getattr(definition, "process_correlations", []),
    ]
    for correlation in correlations:
        yield f"correlation '{correlation.name}'", correlation.retrieval_expression, "eval"
    for inner in getattr(definition, "event_definitions", []):
        yield from _event_expressions(inner)


def _flow_id(document: Document, source_id: str, target: Any) -> str:
    """The sequence flow from a gateway to ``target`` (a boundary-event split stands for its task)."""
    target_id = target.bpmn_id or target.name.removesuffix(".BoundaryEventSplit")
    return document.flows.get((source_id, target_id), source_id)


def _expression_reason(source: str | None, kind: _Kind) -> str | None:
    """Why ``source`` cannot run, or None. A timer must also give a value the engine can schedule."""
    if source is None or not source.strip():
        return "the expression is empty" if kind in ("eval", "exec") else f"the timer is empty: write {EXAMPLES[kind]}"
    if kind in ("eval", "exec"):
        return _unsafe_reason(source, kind)
    if LOOKS_ISO8601.match(source.strip()):  # bare, yet not translated: not valid ISO 8601
        return value_problem(source.strip(), kind) or f"write {EXAMPLES[kind]}"
    value = literal_value(source)
    if value is not None:
        return value_problem(value, kind)
    return _unsafe_reason(source, "eval")


def _unsafe_reason(source: str, mode: Mode) -> str | None:
    try:
        check_expression(source, mode)
    except UnsafeExpressionError as error:
        return error.reason
    return None


def _describe(source: str | None, what: str) -> str:
    return f"expression `{_shorten(source)}` in {what}" if source and source.strip() else what


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split())


def _shorten(source: str, limit: int = 120) -> str:
    flat = _one_line(source)
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def dmn_problems(parser: Any, inputs: Inputs) -> Iterator[BpmnProblem]:
    for dmn_parser in parser.dmn_parsers.values():
        document = inputs.dmn[dmn_parser.filename]
        for table in dmn_parser.decision.decisionTables:
            yield from _table_problems(table, document)


def _table_problems(table: Any, document: Document) -> Iterator[BpmnProblem]:
    for column in table.inputs:
        if not column.expression:
            yield document.problem(column.id, f"DMN input '{column.label}' has no input expression")
    for element_id, what, shown, checked in _table_expressions(table):
        reason = _length_reason(shown) or _expression_reason(checked, "eval")
        if reason is not None:
            yield document.problem(element_id, f"{_describe(shown, what)}: {reason}")


def _length_reason(text: str) -> str | None:
    return f"longer than {_MAX_DMN_CELL_CHARS} characters" if len(text) > _MAX_DMN_CELL_CHARS else None


def _table_expressions(table: Any) -> Iterator[tuple[str, str, str, str]]:
    """(element id, what, text as written, expression as the DMN engine will evaluate it)."""
    for column in table.inputs:
        if column.expression:
            yield column.id, "DMN input expression", column.expression, column.expression
    for rule in table.rules:
        for entry in rule.inputEntries:
            for cell in entry.lhs:
                if cell is not None:
                    yield entry.id, f"DMN input entry of rule {rule.row_number}", cell, _cell_expression(cell)
        for entry in rule.outputEntries:
            if entry.text:
                yield entry.id, f"DMN output entry of rule {rule.row_number}", entry.text, entry.text


def _cell_expression(cell: str) -> str:
    """The input-entry test as DMNEngine builds it, the input standing in as a name."""
    if _length_reason(cell):
        return cell  # refused for its length; the '?' pattern must not run on it
    normalised = _normalise_cell(cell)
    if _DMN_INPUT_MARK.search(normalised):
        return _DMN_INPUT_MARK.sub(_DMN_INPUT_NAME, normalised)
    return f"({_DMN_INPUT_NAME}) == ({normalised})"


def _normalise_cell(cell: str) -> str:
    """Turn an operator cell such as ``in (1, 2)`` into ``? in (1, 2)``.

    DMNEngine glues input and operator cells together without a space, so ``in (1, 2)``
    on input ``category`` becomes ``categoryin (1, 2)``; with ``?`` it evaluates the input
    separately. Comparisons (``>= 4``) gain nothing but keep their meaning.
    """
    if _DMN_INPUT_MARK.search(cell) or _parses(cell) or not _parses(f"v {cell}"):
        return cell
    return f"? {cell}"


def _parses(source: str) -> bool:
    try:
        ast.parse(source)  # as DMNEngine.needs_eq does
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def normalise_decision_cells(spec: BpmnProcessSpec) -> None:
    for task_spec in spec.task_specs.values():
        engine = getattr(task_spec, "dmnEngine", None)
        if engine is None:
            continue
        for rule in engine.decision_table.rules:
            for entry in rule.inputEntries:
                entry.lhs = [None if cell is None else _normalise_cell(cell) for cell in entry.lhs]
