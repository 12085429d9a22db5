"""A parsed diagram file with the indexes that put a line and an element type on each problem."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from engine.bpmn.errors import BpmnProblem, BpmnWarning

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
NS = {"bpmn": BPMN_NS, "spiffworkflow": SPIFF_NS}
PREFIXES = {
    BPMN_NS: "bpmn",
    SPIFF_NS: "spiffworkflow",
    "http://www.omg.org/spec/BPMN/20100524/DI": "bpmndi",
    "http://www.omg.org/spec/DD/20100524/DC": "dc",
    "http://www.omg.org/spec/DD/20100524/DI": "di",
    "https://www.omg.org/spec/DMN/20191111/MODEL/": "dmn",
    "http://www.omg.org/spec/DMN/20151101/dmn.xsd": "dmn",
}


def prefix(namespace: str) -> str:
    """``bpmn:`` for the BPMN namespace and so on; empty for an unknown namespace."""
    known = PREFIXES.get(namespace)
    return f"{known}:" if known else ""


def element_type(element: etree._Element) -> str:
    """How a designer's tool names an element: ``userTask``, ``spiffworkflow:serviceTaskOperator``."""
    qname = etree.QName(element)
    return qname.localname if qname.namespace == BPMN_NS else f"{prefix(qname.namespace or '')}{qname.localname}"


@dataclass
class Document:
    """A parsed XML file: line and type of each element id, sequence flows by their ends."""

    name: str
    tree: etree._ElementTree
    lines: dict[str, int] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)
    flows: dict[tuple[str, str], str] = field(default_factory=dict)

    @classmethod
    def of(cls, name: str, tree: etree._ElementTree) -> Document:
        document = cls(name, tree)
        for element in tree.iter():
            element_id = element.get("id") if isinstance(element.tag, str) else None
            if element_id is not None and element_id not in document.lines:
                document.lines[element_id] = element.sourceline
                document.types[element_id] = element_type(element)
        for flow in tree.iter(f"{{{BPMN_NS}}}sequenceFlow"):
            document.flows[(flow.get("sourceRef"), flow.get("targetRef"))] = flow.get("id")
        return document

    def problem(self, element_id: str | None, reason: str) -> BpmnProblem:
        key = element_id or ""
        return BpmnProblem(self.name, self.lines.get(key), element_id, reason, self.types.get(key))

    def warning(self, element: etree._Element, reason: str) -> BpmnWarning:
        """A warning on ``element``, or on its nearest ancestor with an id (a timer on its event)."""
        named = element
        while named.get("id") is None and named.getparent() is not None:
            named = named.getparent()
        return BpmnWarning(self.name, element.sourceline, named.get("id"), element_type(named), reason)

    def located(self, problem: BpmnProblem) -> BpmnProblem:
        """``problem`` with the line and type of its element filled in where they were missing."""
        key = problem.element_id or ""
        return BpmnProblem(
            problem.file,
            problem.line if problem.line is not None else self.lines.get(key),
            problem.element_id,
            problem.reason,
            problem.element_type or self.types.get(key),
        )


@dataclass
class Inputs:
    """The files of a bundle after reading; forms are keyed by base name, as diagrams cite them."""

    bpmn: dict[str, Document] = field(default_factory=dict)
    dmn: dict[str, Document] = field(default_factory=dict)
    forms: dict[str, dict[str, Any]] = field(default_factory=dict)
    warnings: list[BpmnWarning] = field(default_factory=list)

    def document(self, filename: str) -> Document | None:
        return self.bpmn.get(filename) or self.dmn.get(filename)
