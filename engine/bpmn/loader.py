"""The hardened loader behind deploy and ``oospath validate``.

Diagrams are uploaded by people, so a bundle is treated as hostile until proven
otherwise: XML is parsed with entity expansion, DTDs and network access off (and any
DOCTYPE refused before parsing), BPMN is validated against SpiffWorkflow's bundled
BPMN 2.0 schema, every SpiffWorkflow exception becomes a :class:`BpmnProblem` with file,
line and element id, and every expression in the built specs is checked against the
allow-list of :mod:`engine.bpmn.safe_expressions` before anything runs.

Loading is staged (read and validate files, parse, build specs, check what was built)
and each stage reports all of its problems at once; a later stage runs only on a clean
earlier one, because its errors would mostly be echoes of the earlier ones.
"""

from __future__ import annotations

import ast
import json
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any, Literal

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.bpmn.specs.event_definitions.conditional import ConditionalEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.specs.MultiChoice import MultiChoice
from SpiffWorkflow.spiff.parser.process import VALIDATOR

from engine.bpmn.errors import BpmnLoadError, BpmnProblem
from engine.bpmn.parser import OospathParser
from engine.bpmn.safe_expressions import Mode, UnsafeExpressionError, check_expression

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
NS = {"bpmn": BPMN_NS, "spiffworkflow": SPIFF_NS}
_PREFIXES = {
    BPMN_NS: "bpmn",
    SPIFF_NS: "spiffworkflow",
    "http://www.omg.org/spec/BPMN/20100524/DI": "bpmndi",
    "http://www.omg.org/spec/DD/20100524/DC": "dc",
    "http://www.omg.org/spec/DD/20100524/DI": "di",
}

DEFAULT_MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_FILE_BYTES_ENV = "OOSPATH_MAX_BPMN_BYTES"
FORM_PROPERTY = "formJsonSchemaFilename"
REQUIREMENT_ID = re.compile(r"\bOOS-\d\d\b")

# fmt: off
_FLOW_NODE_TAGS = frozenset({
    "startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent",
    "task", "userTask", "manualTask", "scriptTask", "serviceTask", "businessRuleTask", "sendTask",
    "receiveTask", "callActivity", "subProcess", "transaction", "adHocSubProcess",
    "exclusiveGateway", "inclusiveGateway", "parallelGateway", "eventBasedGateway", "complexGateway",
})
# fmt: on

# How an expression runs: eval, exec, or eval of a timer value (an ISO 8601 string).
_Kind = Literal["eval", "exec", "timer"]
_UNQUOTED_ISO8601 = re.compile(r"^(R\d*/)?(P[\dYMWDTHS.,]+|\d{4}-\d\d-\d\d[\dT:.,+\-Z]*)(/\S+)?$")

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

# Library messages rewritten into something a designer can act on.
_REASON_REWRITES: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r".*raise_validation_exception\(\) got an unexpected keyword argument 'node'.*", re.S),
        "an event refers to a <message>, <signal>, <error> or <escalation> that is missing or "
        "has no name; define it at the top of the file with an id and a name",
    ),
    (
        re.compile(r"KeyError\('([^']*)'\)"),
        r"required attribute '\1' is missing (on this element or one of its extension elements)",
    ),
    (
        re.compile(
            r"When looking for a task spec, we found two items, perhaps a form has the same ID\? \((.*)\)"
        ),
        r"a sequence flow leads to '\1', which is not an element of this process",
    ),
    (
        re.compile(r"A Service Task must have an operator"),
        "a service task needs a <spiffworkflow:serviceTaskOperator> naming the worker operation",
    ),
    (re.compile(r"<Element \{[^}]*\}(\w+) at 0x[0-9a-f]+>"), r"<\1>"),
)
_SCHEMA_REWRITES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^Element '([^']+)', attribute '([^']+)': "), r"<\1> attribute '\2': "),
    (re.compile(r"^Element '([^']+)': "), r"<\1>: "),
    (
        re.compile(r"This element is not expected\. Expected is one of \( (.*) \)\."),
        r"this element is not allowed here; expected one of: \1.",
    ),
    (
        re.compile(r"This element is not expected\. Expected is \( (.*) \)\."),
        r"this element is not allowed here; expected: \1.",
    ),
    (re.compile(r"This element is not expected\."), "this element is not allowed here."),
    (
        re.compile(r"is not a valid value of the atomic type 'xs:ID'\."),
        "is not a valid id (an id starts with a letter or '_' and has no spaces or ':').",
    ),
)
_SCHEMA_LOCK = threading.Lock()  # an XMLSchema's error log belongs to the validator instance


@dataclass(frozen=True)
class ElementInfo:
    """What the rest of oospath needs to know about one flow node of a diagram."""

    element_id: str
    name: str | None
    bpmn_type: str
    role: str | None
    form: str | None
    documentation: str | None
    requirements: list[str]
    line: int | None
    properties: dict[str, str] = field(default_factory=dict)


@dataclass
class LoadedBundle:
    """Everything a deployment needs from a bundle that passed every check."""

    specs: dict[str, BpmnProcessSpec]
    subprocess_specs: dict[str, dict[str, Any]]
    elements: dict[str, dict[str, ElementInfo]]
    forms: dict[str, dict[str, Any]]
    decisions: list[str]
    process_names: dict[str, str]


@dataclass
class _Document:
    """A parsed XML file with the indexes used to put a line on each problem."""

    name: str
    tree: etree._ElementTree
    lines: dict[str, int] = field(default_factory=dict)
    flows: dict[tuple[str, str], str] = field(default_factory=dict)

    @classmethod
    def of(cls, name: str, tree: etree._ElementTree) -> _Document:
        document = cls(name, tree)
        for element in tree.iter():
            element_id = element.get("id") if isinstance(element.tag, str) else None
            if element_id is not None:
                document.lines.setdefault(element_id, element.sourceline)
        for flow in tree.iter(f"{{{BPMN_NS}}}sequenceFlow"):
            document.flows[(flow.get("sourceRef"), flow.get("targetRef"))] = flow.get("id")
        return document

    def problem(self, element_id: str | None, reason: str) -> BpmnProblem:
        return BpmnProblem(self.name, self.lines.get(element_id or ""), element_id, reason)


@dataclass
class _Inputs:
    """The files of a bundle after stage 1; forms are keyed by base name, as diagrams cite them."""

    bpmn: dict[str, _Document] = field(default_factory=dict)
    dmn: dict[str, _Document] = field(default_factory=dict)
    forms: dict[str, dict[str, Any]] = field(default_factory=dict)


# ---------------------------------------------------------------------------- public API


def max_file_bytes() -> int:
    """The size limit per file: ``OOSPATH_MAX_BPMN_BYTES`` if it is a positive integer."""
    value = os.environ.get(MAX_FILE_BYTES_ENV, "")
    return int(value) if value.isdigit() and int(value) > 0 else DEFAULT_MAX_FILE_BYTES


def parse_xml(filename: str, content: bytes) -> etree._ElementTree:
    """Parse untrusted XML: no DTD, no entity expansion, no network, bounded size.

    A DOCTYPE is refused before libxml2 sees the file, because entity expansion in
    attribute values happens even with ``resolve_entities=False``.
    """
    _check_size(filename, content)
    doctype_line = _doctype_line(content)
    if doctype_line is not None:
        raise _refusal(filename, doctype_line, "a DOCTYPE is not allowed (DTDs and entities are refused)")
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=False,
    )
    try:
        tree = etree.fromstring(content, parser).getroottree()
    except etree.XMLSyntaxError as error:
        raise _refusal(filename, error.lineno, f"malformed XML: {error.msg}") from None
    if tree.docinfo.internalDTD is not None or tree.docinfo.doctype:
        raise _refusal(filename, 1, "a DOCTYPE is not allowed (DTDs and entities are refused)")
    return tree


def load_bundle(files: Mapping[str, bytes]) -> LoadedBundle:
    """Validate, parse and build a bundle of ``.bpmn``, ``.dmn`` and ``.json`` form files.

    Raises :class:`BpmnLoadError` listing every problem; never any other exception.
    Only processes with ``isExecutable="true"`` are built.
    """
    inputs = _read_inputs(files)
    parser = _parse(inputs)
    specs, subprocess_specs = _build_specs(parser, inputs)
    elements = {
        process_id: info
        for document in inputs.bpmn.values()
        for process_id, info in _catalogue(document).items()
    }
    built = _unique_specs(specs, subprocess_specs)
    problems = [
        *_form_problems(inputs, elements),
        *_spec_expression_problems(built, inputs),
        *_dmn_problems(parser, inputs),
    ]
    _raise_if(problems)
    for spec in built:
        _normalise_decision_cells(spec)
    return LoadedBundle(
        specs=specs,
        subprocess_specs=subprocess_specs,
        elements=elements,
        forms=inputs.forms,
        decisions=sorted(parser.dmn_parsers),
        process_names=_process_names(inputs),
    )


def validate_paths(paths: Iterable[Path]) -> list[BpmnProblem]:
    """Problems of the bundle made of ``paths`` (empty when valid); never raises.

    Directories contribute their ``.bpmn``, ``.dmn`` and ``.json`` files; every BPMN file
    brings the forms in the ``forms/`` directory beside it, as deploy does.
    """
    files: dict[str, bytes] = {}
    problems: list[BpmnProblem] = []
    try:
        for path in _bundle_paths(paths):
            _read_path(path, files, problems)
        load_bundle(files)
    except BpmnLoadError as error:
        problems.extend(error.problems)
    except Exception as error:  # the CLI must report, not crash, whatever the input
        problems.append(BpmnProblem("<bundle>", None, None, f"internal error while validating: {error!r}"))
    return problems


# ------------------------------------------------------------------ stage 1: read files


def _read_inputs(files: Mapping[str, bytes]) -> _Inputs:
    inputs = _Inputs()
    problems: list[BpmnProblem] = []
    for name, content in files.items():
        try:
            _read_file(name, content, inputs)
        except BpmnLoadError as error:
            problems.extend(error.problems)
    _raise_if(problems)
    return inputs


def _read_file(name: str, content: bytes, inputs: _Inputs) -> None:
    suffix = PurePath(name).suffix.lower()
    if suffix == ".bpmn":
        inputs.bpmn[name] = _read_bpmn(name, content)
    elif suffix == ".dmn":
        inputs.dmn[name] = _Document.of(name, parse_xml(name, content))
    elif suffix == ".json":
        inputs.forms[PurePath(name).name] = _read_form(name, content)
    else:
        raise _refusal(name, None, "unsupported file type: expected .bpmn, .dmn or .json")


def _read_bpmn(name: str, content: bytes) -> _Document:
    document = _Document.of(name, parse_xml(name, content))
    _raise_if(_schema_problems(document) or _structure_problems(document))
    return document


def _read_form(name: str, content: bytes) -> dict[str, Any]:
    """A form is a JSON Schema (draft 2020-12) object."""
    _check_size(name, content)
    try:
        schema = json.loads(content)
    except json.JSONDecodeError as error:
        raise _refusal(name, error.lineno, f"not valid JSON: {error.msg}") from None
    except (UnicodeDecodeError, RecursionError) as error:
        raise _refusal(name, None, f"not valid JSON: {type(error).__name__}") from None
    if not isinstance(schema, dict):
        raise _refusal(name, None, "a form must be a JSON Schema object")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as error:
        where = "/".join(str(part) for part in error.absolute_path) or "top level"
        raise _refusal(
            name, None, f"not a valid JSON Schema (draft 2020-12) at {where}: {error.message}"
        ) from None
    except RecursionError:
        raise _refusal(name, None, "not a valid JSON Schema: nested too deeply") from None
    return schema


def _check_size(filename: str, content: bytes) -> None:
    if len(content) > max_file_bytes():
        raise _refusal(filename, None, _size_reason(len(content)))


def _size_reason(size: int) -> str:
    return f"file is {size} bytes, over the limit of {max_file_bytes()} bytes ({MAX_FILE_BYTES_ENV})"


def _doctype_line(content: bytes) -> int | None:
    """Line of a DOCTYPE, also in UTF-16/32 files (dropping NUL bytes exposes ASCII)."""
    ascii_view = content.replace(b"\x00", b"")
    position = ascii_view.find(b"<!DOCTYPE")
    return None if position < 0 else ascii_view.count(b"\n", 0, position) + 1


def _schema_problems(document: _Document) -> list[BpmnProblem]:
    """Every BPMN 2.0 (+ spiffworkflow extension) schema violation, with line and element."""
    with _SCHEMA_LOCK:
        VALIDATOR.preprocess(document.tree)  # as SpiffWorkflow does before validating
        valid = VALIDATOR.validator.validate(document.tree)
        entries = list(VALIDATOR.validator.error_log)
    if valid:
        return []
    return [
        BpmnProblem(
            document.name,
            entry.line or None,
            _nearest_id(_element_of(document.tree, entry)),
            _schema_reason(entry.message),
        )
        for entry in entries
    ]


def _element_of(tree: etree._ElementTree, entry: Any) -> etree._Element | None:
    """The element a schema error is about: by its XPath, else the first one on its line."""
    namespaces = {prefix: uri for prefix, uri in tree.getroot().nsmap.items() if prefix}
    try:
        found = tree.xpath(entry.path, namespaces=namespaces) if entry.path else []
    except etree.XPathError:
        found = []
    if len(found) == 1 and isinstance(found[0], etree._Element):
        return found[0]
    return next((element for element in tree.iter() if element.sourceline == entry.line), None)


def _nearest_id(element: etree._Element | None) -> str | None:
    while element is not None:
        if isinstance(element.tag, str) and element.get("id"):
            return element.get("id")
        element = element.getparent()
    return None


def _schema_reason(message: str) -> str:
    text = re.sub(r"\{([^}]*)\}", lambda match: _prefix(match[1]), message)
    for pattern, replacement in _SCHEMA_REWRITES:
        text = pattern.sub(replacement, text)
    return f"BPMN schema: {text}"


def _prefix(namespace: str) -> str:
    prefix = _PREFIXES.get(namespace)
    return f"{prefix}:" if prefix else ""


def _structure_problems(document: _Document) -> list[BpmnProblem]:
    """Schema-valid constructs that SpiffWorkflow mishandles or cannot run."""
    return [*_nameless_messages(document), *_data_stores(document), *_shadowed_ids(document)]


def _nameless_messages(document: _Document) -> Iterator[BpmnProblem]:
    for message in document.tree.iterfind(".//bpmn:message", NS):
        if not message.get("name"):
            yield document.problem(
                message.get("id"),
                "<message> has no name; messages are matched by name, so give it one",
            )


def _data_stores(document: _Document) -> Iterator[BpmnProblem]:
    for store in document.tree.iterfind(".//bpmn:dataStore", NS):
        yield document.problem(
            store.get("id"),
            f"<dataStore> '{_one_line(store.get('name'))}' is not supported; use process variables",
        )


def _shadowed_ids(document: _Document) -> Iterator[BpmnProblem]:
    """SpiffWorkflow indexes every element with an id, so an extension id can hide a flow node."""
    for process in document.tree.iterfind(".//bpmn:process", NS):
        flow_nodes = {node.get("id"): node for node in process.iter(f"{{{BPMN_NS}}}*") if _is_flow_node(node)}
        for element in process.iter():
            if not isinstance(element.tag, str) or etree.QName(element).namespace == BPMN_NS:
                continue
            shadowed = flow_nodes.get(element.get("id"))
            if shadowed is not None:
                yield BpmnProblem(
                    document.name,
                    shadowed.sourceline,
                    shadowed.get("id"),
                    f"id is also used by <{_qualified(element)}> at line {element.sourceline}; "
                    f"SpiffWorkflow finds elements by id and would lose this "
                    f"<{etree.QName(shadowed).localname}>: rename one of them",
                )


def _qualified(element: etree._Element) -> str:
    qname = etree.QName(element)
    return f"{_prefix(qname.namespace or '')}{qname.localname}"


# ---------------------------------------------------------- stage 2: parse, build specs


def _parse(inputs: _Inputs) -> OospathParser:
    parser = OospathParser()
    problems: list[BpmnProblem] = []
    for document in inputs.dmn.values():
        problems.extend(_guard(document.name, inputs, lambda d=document: _add_dmn(parser, d)))
    for document in inputs.bpmn.values():
        problems.extend(
            _guard(document.name, inputs, lambda d=document: parser.add_bpmn_xml(d.tree, filename=d.name))
        )
    _raise_if(problems)
    return parser


def _add_dmn(parser: OospathParser, document: _Document) -> None:
    earlier = {decision_id: dmn.filename for decision_id, dmn in parser.dmn_parsers.items()}
    parser.add_dmn_xml(document.tree.getroot(), filename=document.name)
    dmn_parser = next(dmn for dmn in parser.dmn_parsers.values() if dmn.filename == document.name)
    decision_id = dmn_parser.bpmn_id
    if decision_id in earlier:
        raise BpmnLoadError(
            [document.problem(decision_id, f"decision id is also defined in {earlier[decision_id]}")]
        )
    dmn_parser.parse()  # SpiffWorkflow parses decisions lazily; surface their errors now


def _build_specs(
    parser: OospathParser, inputs: _Inputs
) -> tuple[dict[str, BpmnProcessSpec], dict[str, dict[str, Any]]]:
    specs: dict[str, BpmnProcessSpec] = {}
    subprocess_specs: dict[str, dict[str, Any]] = {}
    problems: list[BpmnProblem] = []

    def build(process_id: str) -> None:
        specs[process_id] = parser.get_spec(process_id)
        subprocess_specs[process_id] = parser.get_subprocess_specs(process_id)

    executable = [
        (process_id, process_parser.filename)
        for process_id, process_parser in parser.process_parsers.items()
        if process_parser.node.get("isExecutable") == "true"
    ]
    for process_id, filename in executable:
        problems.extend(_guard(filename, inputs, lambda p=process_id: build(p)))
    _raise_if(problems)
    return specs, subprocess_specs


def _guard(filename: str, inputs: _Inputs, action: Callable[[], object]) -> list[BpmnProblem]:
    """Run a SpiffWorkflow step; any exception becomes a problem located in ``filename``."""
    try:
        action()
    except BpmnLoadError as error:
        return error.problems
    except ValidationException as error:
        return [_validation_problem(error, filename, inputs)]
    except Exception as error:  # the library raises TypeError, KeyError, ... on bad input
        return [BpmnProblem(filename, None, None, _designer_reason(repr(error)))]
    return []


def _validation_problem(error: ValidationException, filename: str, inputs: _Inputs) -> BpmnProblem:
    file = error.file_name or filename
    element_id = error.id or None
    document = inputs.bpmn.get(file) or inputs.dmn.get(file)
    line = error.line_number if isinstance(error.line_number, int) else None
    if line is None and document is not None:
        line = document.lines.get(element_id or "")
    message = str(error.args[0]) if error.args else str(error)
    return BpmnProblem(file, line, element_id, _designer_reason(message))


def _designer_reason(message: str) -> str:
    for pattern, replacement in _REASON_REWRITES:
        message = pattern.sub(replacement, message)
    return message.strip().rstrip(".")


# ------------------------------------------------------- stage 3: check what was built


def _unique_specs(
    specs: Mapping[str, BpmnProcessSpec], subprocess_specs: Mapping[str, Mapping[str, Any]]
) -> list[BpmnProcessSpec]:
    found: dict[int, BpmnProcessSpec] = {id(spec): spec for spec in specs.values()}
    for subprocesses in subprocess_specs.values():
        found.update({id(spec): spec for spec in subprocesses.values() if spec is not None})
    return list(found.values())


def _spec_expression_problems(specs: Iterable[BpmnProcessSpec], inputs: _Inputs) -> Iterator[BpmnProblem]:
    for spec in specs:
        document = inputs.bpmn[spec.file]
        for element_id, what, source, kind in _spec_expressions(spec, document):
            reason = _expression_reason(source, kind)
            if reason is not None:
                yield document.problem(element_id, f"{_describe(source, what)}: {reason}")


def _spec_expressions(
    spec: BpmnProcessSpec, document: _Document
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
        yield "timer", definition.expression, "timer"
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


def _flow_id(document: _Document, source_id: str, target: Any) -> str:
    """The sequence flow from a gateway to ``target`` (a boundary-event split stands for its task)."""
    target_id = target.bpmn_id or target.name.removesuffix(".BoundaryEventSplit")
    return document.flows.get((source_id, target_id), source_id)


def _expression_reason(source: str | None, kind: _Kind) -> str | None:
    """Why ``source`` cannot run, or None. Timers are Python too: ISO 8601 needs quotes."""
    if source is None or not source.strip():
        return "the expression is empty"
    if kind == "timer" and _UNQUOTED_ISO8601.match(source.strip()):
        return f'timer expressions are Python: put the ISO 8601 value in quotes, "{source.strip()}"'
    try:
        check_expression(source, "eval" if kind == "timer" else kind)
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


def _dmn_problems(parser: OospathParser, inputs: _Inputs) -> Iterator[BpmnProblem]:
    for dmn_parser in parser.dmn_parsers.values():
        document = inputs.dmn[dmn_parser.filename]
        for table in dmn_parser.decision.decisionTables:
            yield from _table_problems(table, document)


def _table_problems(table: Any, document: _Document) -> Iterator[BpmnProblem]:
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


def _normalise_decision_cells(spec: BpmnProcessSpec) -> None:
    for task_spec in spec.task_specs.values():
        engine = getattr(task_spec, "dmnEngine", None)
        if engine is None:
            continue
        for rule in engine.decision_table.rules:
            for entry in rule.inputEntries:
                entry.lhs = [None if cell is None else _normalise_cell(cell) for cell in entry.lhs]


# ------------------------------------------------------------ catalogue and forms


def _catalogue(document: _Document) -> dict[str, dict[str, ElementInfo]]:
    """Flow nodes of every top-level process of a BPMN file (nested ones included)."""
    roles = _roles_by_node(document.tree)
    return {
        process.get("id"): {
            node.get("id"): _element_info(node, roles)
            for node in process.iter(f"{{{BPMN_NS}}}*")
            if _is_flow_node(node)
        }
        for process in document.tree.getroot().iterfind("bpmn:process", NS)
    }


def _is_flow_node(element: etree._Element) -> bool:
    return etree.QName(element).localname in _FLOW_NODE_TAGS and bool(element.get("id"))


def _roles_by_node(tree: etree._ElementTree) -> dict[str, str | None]:
    """Role of each flow node from its innermost lane (``lane_<role>``); later lanes win."""
    roles: dict[str, str | None] = {}
    for lane in tree.iter(f"{{{BPMN_NS}}}lane"):
        lane_id = lane.get("id") or ""
        role = lane_id.removeprefix("lane_") if lane_id.startswith("lane_") else None
        for reference in lane.iterfind("bpmn:flowNodeRef", NS):
            if reference.text:
                roles[reference.text.strip()] = role
    return roles


def _element_info(node: etree._Element, roles: Mapping[str, str | None]) -> ElementInfo:
    texts = [doc.text for doc in node.iterfind("bpmn:documentation", NS) if doc.text]
    documentation = "\n".join(texts) if texts else None
    bpmn_type = etree.QName(node).localname
    return ElementInfo(
        element_id=node.get("id"),
        name=node.get("name"),
        bpmn_type=bpmn_type,
        role=roles.get(node.get("id")),
        form=_form_of(node) if bpmn_type == "userTask" else None,
        documentation=documentation,
        requirements=sorted(set(REQUIREMENT_ID.findall(documentation or ""))),
        line=node.sourceline,
        properties=_properties_of(node),
    )


def _properties_of(node: etree._Element) -> dict[str, str]:
    """``spiffworkflow:property`` name/value pairs (e.g. responsibleDuty) for the engine's rules."""
    found = node.xpath("./bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property", namespaces=NS)
    return {str(p.get("name")): str(p.get("value")) for p in found if p.get("name") is not None}


def _form_of(node: etree._Element) -> str | None:
    values = node.xpath(
        f"./bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property[@name='{FORM_PROPERTY}']/@value",
        namespaces=NS,
    )
    return str(values[0]) if values else None


def _form_problems(
    inputs: _Inputs, elements: Mapping[str, Mapping[str, ElementInfo]]
) -> Iterator[BpmnProblem]:
    for document in inputs.bpmn.values():
        for process in document.tree.getroot().iterfind("bpmn:process", NS):
            for info in elements[process.get("id")].values():
                if info.form is not None and info.form not in inputs.forms:
                    yield document.problem(
                        info.element_id,
                        f"user task uses form '{info.form}', which is not in the bundle "
                        f"(put it in processes/forms/)",
                    )


def _process_names(inputs: _Inputs) -> dict[str, str]:
    return {
        process.get("id"): process.get("name") or process.get("id")
        for document in inputs.bpmn.values()
        for process in document.tree.getroot().iterfind("bpmn:process", NS)
    }


# ---------------------------------------------------------------------- validate_paths


def _bundle_paths(paths: Iterable[Path]) -> list[Path]:
    chosen: dict[Path, None] = {}
    for path in paths:
        if path.is_dir():
            chosen.update(dict.fromkeys(sorted(_bundle_files(path))))
        else:
            chosen[path] = None
    for path in list(chosen):
        if path.suffix.lower() == ".bpmn" and (path.parent / "forms").is_dir():
            chosen.update(dict.fromkeys(sorted((path.parent / "forms").glob("*.json"))))
    return list(chosen)


def _bundle_files(directory: Path) -> Iterator[Path]:
    return (path for path in directory.iterdir() if path.suffix.lower() in {".bpmn", ".dmn", ".json"})


def _read_path(path: Path, files: dict[str, bytes], problems: list[BpmnProblem]) -> None:
    name = str(path)
    try:
        size = path.stat().st_size
        if size > max_file_bytes():  # refuse before reading a huge file into memory
            problems.append(BpmnProblem(name, None, None, _size_reason(size)))
        else:
            files[name] = path.read_bytes()
    except OSError as error:
        problems.append(BpmnProblem(name, None, None, f"cannot read file: {error.strerror or error}"))


# ----------------------------------------------------------------------------- helpers


def _refusal(filename: str, line: int | None, reason: str) -> BpmnLoadError:
    return BpmnLoadError([BpmnProblem(filename, line, None, reason)])


def _raise_if(problems: list[BpmnProblem]) -> None:
    if problems:
        raise BpmnLoadError(problems)
