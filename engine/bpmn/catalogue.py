"""The catalogue of a diagram: each flow node's type, role, form and cited requirements.

Deploy stores it with the definition; the engine reads roles, forms and the
``spiffworkflow:property`` values (e.g. responsibleDuty) from it, and designers see the
requirement ids (``OOS-nn``) cited in each element's documentation.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from lxml import etree

from engine.bpmn.documents import BPMN_NS, NS, Document, Inputs
from engine.bpmn.errors import BpmnProblem

FORM_PROPERTY = "formJsonSchemaFilename"
REQUIREMENT_ID = re.compile(r"\bOOS-\d\d\b")

# fmt: off
FLOW_NODE_TAGS = frozenset({
    "startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent",
    "task", "userTask", "manualTask", "scriptTask", "serviceTask", "businessRuleTask", "sendTask",
    "receiveTask", "callActivity", "subProcess", "transaction", "adHocSubProcess",
    "exclusiveGateway", "inclusiveGateway", "parallelGateway", "eventBasedGateway", "complexGateway",
})
# fmt: on


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



def catalogue(document: Document) -> dict[str, dict[str, ElementInfo]]:
    """Flow nodes of every top-level process of a BPMN file (nested ones included)."""
    roles = _roles_by_node(document.tree)
    return {
        process.get("id"): {
            node.get("id"): _element_info(node, roles)
            for node in process.iter(f"{{{BPMN_NS}}}*")
            if is_flow_node(node)
        }
        for process in document.tree.getroot().iterfind("bpmn:process", NS)
    }


def is_flow_node(element: etree._Element) -> bool:
    return etree.QName(element).localname in FLOW_NODE_TAGS and bool(element.get("id"))


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


def form_problems(
    inputs: Inputs, elements: Mapping[str, Mapping[str, ElementInfo]]
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


def process_names(inputs: Inputs) -> dict[str, str]:
    return {
        process.get("id"): process.get("name") or process.get("id")
        for document in inputs.bpmn.values()
        for process in document.tree.getroot().iterfind("bpmn:process", NS)
    }
