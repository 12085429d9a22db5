"""Stage 1 of loading: read each file of a bundle, validate it, and prepare it for the engine.

A BPMN file is parsed safely (:mod:`engine.bpmn.xml_safety`), checked against the BPMN 2.0
schema, checked for constructs the engine would mishandle, and then adapted, in the
engine's copy of the tree only (the stored file stays as uploaded), for two things other
tools write that are valid BPMN:

* a ``<message>`` without a name is named by its id (messages are matched by name);
* a ``<dataStore>`` / ``<dataStoreReference>`` and its data associations are kept in
  the diagram but not executed, with a warning.

A cycle timer is accepted with a warning too: oospath schedules duration and date timers
by the injected clock (engine.bpmn.running_process, for engine.services.runtime), not cycles.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import PurePath
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from lxml import etree

from engine.bpmn.catalogue import is_flow_node
from engine.bpmn.diagnostics import schema_problems
from engine.bpmn.documents import BPMN_NS, NS, Document, Inputs, element_type
from engine.bpmn.errors import BpmnLoadError, BpmnProblem
from engine.bpmn.xml_safety import check_size, parse_xml, raise_if, refusal

DATA_STORE_WARNING = (
    "data stores are kept in the diagram but not executed: oospath neither reads nor writes them "
    "(use process variables for data the process needs)"
)

CYCLE_WARNING = (
    "a cycle timer (timeCycle) is accepted, but the scheduler does not fire cycle timers yet: "
    "use a timeDuration or timeDate for a deadline that must fire"
)


def read_inputs(files: Mapping[str, bytes]) -> Inputs:
    """Every file read and checked; all problems of all files reported at once."""
    inputs = Inputs()
    problems: list[BpmnProblem] = []
    for name, content in files.items():
        try:
            _read_file(name, content, inputs)
        except BpmnLoadError as error:
            problems.extend(error.problems)
    raise_if(problems)
    return inputs


def _read_file(name: str, content: bytes, inputs: Inputs) -> None:
    suffix = PurePath(name).suffix.lower()
    if suffix == ".bpmn":
        inputs.bpmn[name] = _read_bpmn(name, content, inputs)
    elif suffix == ".dmn":
        inputs.dmn[name] = Document.of(name, parse_xml(name, content))
    elif suffix == ".json":
        inputs.forms[PurePath(name).name] = _read_form(name, content)
    else:
        raise refusal(name, None, "unsupported file type: upload .bpmn, .dmn or .json (form) files")


def _read_bpmn(name: str, content: bytes, inputs: Inputs) -> Document:
    document = Document.of(name, parse_xml(name, content))
    raise_if(schema_problems(document) or list(_shadowed_ids(document)))
    _name_nameless_messages(document)
    inputs.warnings.extend(_set_aside_data_stores(document))
    inputs.warnings.extend(document.warning(cycle, CYCLE_WARNING) for cycle in document.tree.iterfind(
        ".//bpmn:timeCycle", NS))
    return document


def _read_form(name: str, content: bytes) -> dict[str, Any]:
    """A form is a JSON Schema (draft 2020-12) object."""
    check_size(name, content)
    try:
        schema = json.loads(content)
    except json.JSONDecodeError as error:
        raise refusal(name, error.lineno, f"not valid JSON: {error.msg}") from None
    except (UnicodeDecodeError, RecursionError) as error:
        raise refusal(name, None, f"not valid JSON: {type(error).__name__}") from None
    if not isinstance(schema, dict):
        raise refusal(name, None, "a form must be a JSON Schema object")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as error:
        where = "/".join(str(part) for part in error.absolute_path) or "top level"
        raise refusal(name, None, f"not a valid JSON Schema (draft 2020-12) at {where}: {error.message}") from None
    except RecursionError:
        raise refusal(name, None, "not a valid JSON Schema: nested too deeply") from None
    return schema


def _shadowed_ids(document: Document) -> Iterator[BpmnProblem]:
    """SpiffWorkflow indexes every element with an id, so an extension id can hide a flow node."""
    for process in document.tree.iterfind(".//bpmn:process", NS):
        flow_nodes = {node.get("id"): node for node in process.iter(f"{{{BPMN_NS}}}*") if is_flow_node(node)}
        for element in process.iter():
            if not isinstance(element.tag, str) or etree.QName(element).namespace == BPMN_NS:
                continue
            shadowed = flow_nodes.get(element.get("id"))
            if shadowed is not None:
                yield BpmnProblem(
                    document.name,
                    shadowed.sourceline,
                    shadowed.get("id"),
                    f"id is also used by <{element_type(element)}> at line {element.sourceline}; "
                    f"the engine finds elements by id and would lose this "
                    f"<{etree.QName(shadowed).localname}>: rename one of them",
                    etree.QName(shadowed).localname,
                )


def _name_nameless_messages(document: Document) -> None:
    """BPMN makes a message's name optional; the engine matches messages by name, so use the id."""
    for message in document.tree.iterfind(".//bpmn:message", NS):
        if not message.get("name") and message.get("id"):
            message.set("name", message.get("id"))


def _set_aside_data_stores(document: Document) -> list[Any]:
    """Remove data stores, their references and associations from the engine's tree; warn once per store."""
    tree = document.tree
    stores = [*tree.iterfind(".//bpmn:dataStore", NS), *tree.iterfind(".//bpmn:dataStoreReference", NS)]
    references = {store.get("id") for store in stores if store.get("id")}
    associations = [
        association
        for tag in ("dataInputAssociation", "dataOutputAssociation")
        for association in tree.iterfind(f".//bpmn:{tag}", NS)
        if _association_ends(association) & references
    ]
    warnings = [document.warning(store, DATA_STORE_WARNING) for store in stores]
    for element in [*associations, *stores]:
        parent = element.getparent()
        if parent is not None:
            parent.remove(element)
    return warnings


def _association_ends(association: etree._Element) -> set[str]:
    ends = [*association.iterfind("bpmn:sourceRef", NS), *association.iterfind("bpmn:targetRef", NS)]
    return {(end.text or "").strip() for end in ends}
