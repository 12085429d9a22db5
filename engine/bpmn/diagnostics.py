"""Turning what lxml's schema check and SpiffWorkflow say into what a designer can act on.

Every refusal names the element (id and type) and says what to change. Library text is
never passed through: known messages are rewritten by :data:`LIBRARY_MESSAGES`, schema
messages by :data:`_SCHEMA_REWRITES`, and anything else gets :func:`fallback_reason`, a
safe sentence naming the element; the library's own text goes to the server log only.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.spiff.parser.process import VALIDATOR

from engine.bpmn.documents import Document, Inputs, prefix
from engine.bpmn.errors import BpmnLoadError, BpmnProblem

log = logging.getLogger(__name__)

_EVENT_REFERENCE = (
    "an event refers to a <message>, <signal>, <error> or <escalation> that is missing or has no name; "
    "define it at the top of the file with an id and a name"
)
# (library message, designer-facing reason); a reason may use the pattern's groups.
LIBRARY_MESSAGES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"raise_validation_exception\(\) got an unexpected keyword argument 'node'"), _EVENT_REFERENCE),
    (re.compile(r"^KeyError\('([^']*)'\)$"),
     r"required attribute '\1' is missing (on this element or one of its extension elements): add it"),
    (re.compile(r"When looking for a task spec, we found two items, perhaps a form has the same ID\? \((.*)\)"),
     r"a sequence flow leads to '\1', which is not an element of this process: connect it to one that is"),
    (re.compile(r"^A Service Task must have an operator"),
     "a service task needs a <spiffworkflow:serviceTaskOperator> naming the worker operation: add one"),
    (re.compile(r"Time Specification Error\. Unknown Time Specification", re.S),
     "the timer has no <timeDuration>, <timeDate> or <timeCycle>: add one, e.g. <timeDuration>P7D</timeDuration>"),
    (re.compile(r"Time Specification Error", re.S),
     "the timer's value cannot be read: write an ISO 8601 duration (P7D), date (2026-01-01T00:00:00Z) "
     "or cycle (R3/PT10S)"),
    (re.compile(r"^Multiple outgoing flows are not supported for tasks of type", re.S),
     "a task of this type may have only one outgoing sequence flow: add a gateway after it to split the flow"),
    (re.compile(r"^No start event found"),
     "the process has no start event: add a <startEvent>"),
    (re.compile(r"^Intermediate Catch Event has no incoming sequences", re.S),
     "this catch event has no incoming sequence flow: connect one to it"),
    (re.compile(r"^Multiple outgoing flows are not supported", re.S),
     "only a gateway may have several outgoing sequence flows: add a gateway to split the flow"),
    (re.compile(r"^Only one default flow is allowed", re.S),
     "only one outgoing sequence flow may be the default: mark just one"),
    (re.compile(r"^Non-default exclusive outgoing sequence flow without condition", re.S),
     "an outgoing sequence flow of this gateway has no condition: give it a <conditionExpression> "
     "or make it the gateway's default flow"),
    (re.compile(r"^The process '(.*)' was not found", re.S),
     r"the called process '\1' is not in the bundle: deploy its .bpmn file together with this one"),
    (re.compile(r"^No BPMN process with id '?(.*?)'? found", re.S),
     r"the called process '\1' is not in the bundle: deploy its .bpmn file together with this one"),
    (re.compile(r'^No DMN Diagram available with id "([^"]*)"'),
     r"the business rule task calls decision '\1', which is not in the bundle: deploy its .dmn file too"),
    (re.compile(r"^Unable to locate a decision with id (.*)", re.S),
     r"the business rule task calls decision \1, which is not in the bundle: deploy its .dmn file too"),
    (re.compile(r"^Cannot resolve data(Input|Output)Association", re.S),
     r"a <data\1Association> refers to a data object that is not defined in this process: define it or remove "
     r"the association"),
    (re.compile(r"^Data object (.*) is not defined", re.S),
     r"data object \1 is not defined in this process: add a <dataObject> or remove the reference"),
    (re.compile(r"^Exactly one start event is required in a SubWorkflow Task; found (\d+)"),
     r"a sub-process needs exactly one <startEvent> (found \1): give it one start event"),
    (re.compile(r'^No "calledElement" attribute for Call Activity'),
     "the call activity names no process: set its calledElement to the id of a process in the bundle"),
    (re.compile(r"^A multiinstance task must specify a cardinality or a loop input data reference"),
     "a multi-instance activity needs a <loopCardinality> or a loopDataInputRef: add one"),
    (re.compile(r"^A loopMaximum or loopCondition must be specified for Loop Tasks"),
     "a loop task needs a <loopCondition> or a loopMaximum in its <standardLoopCharacteristics>: add one"),
    (re.compile(r"^Unable to find a spec with id (.*)", re.S),
     r"nothing in the bundle has id \1: correct the reference or add the element"),
)
_SCHEMA_REWRITES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^Element '([^']+)', attribute '([^']+)': "), r"<\1> attribute '\2': "),
    (re.compile(r"^Element '([^']+)': "), r"<\1>: "),
    (re.compile(r"This element is not expected\. Expected is one of \( (.*) \)\."),
     r"this element is not allowed here; expected one of: \1."),
    (re.compile(r"This element is not expected\. Expected is \( (.*) \)\."),
     r"this element is not allowed here; expected: \1."),
    (re.compile(r"This element is not expected\."), "this element is not allowed here: move or remove it."),
    (re.compile(r"is not a valid value of the atomic type 'xs:ID'\."),
     "is not a valid id (an id starts with a letter or '_' and has no spaces or ':')."),
    (re.compile(r"attribute '([^']+)': '' is not a valid value of the atomic type 'xs:QName'\."),
     r"attribute '\1' is empty: set it to the id of the element it refers to."),
    (re.compile(r"'([^']*)' is not a valid value of the atomic type 'xs:QName'\."),
     r"'\1' is not a valid reference: use the id of the element it refers to."),
    (re.compile(r"Missing child element\(s\)\. Expected is one of \( (.*) \)\."),
     r"a required child element is missing: add one of \1."),
    (re.compile(r"Missing child element\(s\)\. Expected is \( (.*) \)\."),
     r"a required child element is missing: add \1."),
    (re.compile(r"The attribute '([^']+)' is required but missing\."), r"attribute '\1' is required: add it."),
)
_SCHEMA_LOCK = threading.Lock()  # an XMLSchema's error log belongs to the validator instance


def schema_problems(document: Document) -> list[BpmnProblem]:
    """Every BPMN 2.0 (+ spiffworkflow extension) schema violation, with line and element."""
    with _SCHEMA_LOCK:
        VALIDATOR.preprocess(document.tree)  # as SpiffWorkflow does before validating
        valid = VALIDATOR.validator.validate(document.tree)
        entries = list(VALIDATOR.validator.error_log)
    if valid:
        return []
    problems = []
    for entry in entries:
        element_id = _nearest_id(_element_of(document.tree, entry))
        problems.append(document.located(
            BpmnProblem(document.name, entry.line or None, element_id, _schema_reason(entry.message))
        ))
    return problems


def guarded(filename: str, inputs: Inputs, action: Callable[[], object]) -> list[BpmnProblem]:
    """Run a SpiffWorkflow step; any exception becomes a designer-facing problem located in ``filename``."""
    try:
        action()
    except BpmnLoadError as error:
        return error.problems
    except ValidationException as error:
        return [_validation_problem(error, filename, inputs)]
    except Exception as error:  # the library raises TypeError, KeyError, ... on bad input
        return [BpmnProblem(filename, None, None, designer_reason(_library_text(error), None))]
    return []


def designer_reason(message: str, element_type: str | None) -> str:
    """The designer-facing sentence for a library ``message`` (known ones mapped, others a safe fallback)."""
    for pattern, reason in LIBRARY_MESSAGES:
        match = pattern.search(message)
        if match is not None:
            return match.expand(reason)
    log.info("unmapped library message while loading a diagram: %.2000s", message)
    return fallback_reason(element_type)


def fallback_reason(element_type: str | None) -> str:
    what = f"this <{element_type}>" if element_type else "this file"
    return (f"oospath cannot build {what} into an executable process: check that its attributes and the "
            f"elements it refers to (sequence flows, messages, data objects, called processes) are complete "
            f"and defined in the bundle")


def _validation_problem(error: ValidationException, filename: str, inputs: Inputs) -> BpmnProblem:
    file = error.file_name or filename
    element_id = error.id or None
    line = error.line_number if isinstance(error.line_number, int) else None
    message = str(error.args[0]) if error.args else _library_text(error)
    tag = (error.tag or "").removeprefix("bpmn:") or None
    problem = BpmnProblem(file, line, element_id, designer_reason(message, tag), tag)
    document = inputs.document(file)
    return document.located(problem) if document is not None else problem


def _library_text(error: BaseException) -> str:
    return repr(error) if isinstance(error, KeyError) else f"{type(error).__name__}: {error}"


def _element_of(tree: etree._ElementTree, entry: Any) -> etree._Element | None:
    """The element a schema error is about: by its XPath, else the first one on its line."""
    namespaces = {key: uri for key, uri in tree.getroot().nsmap.items() if key}
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
    text = re.sub(r"\{([^}]*)\}", lambda match: prefix(match[1]), message)
    for pattern, replacement in _SCHEMA_REWRITES:
        text = pattern.sub(replacement, text)
    return f"BPMN schema: {text}"
