"""processes/periodic_review.bpmn as a designer and the engine read it (OOS-20 .. OOS-23)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from lxml import etree

from engine.bpmn.loader import load_bundle
from engine.services import definitions

PROCESSES = Path(__file__).resolve().parents[2] / "processes"
NS = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
      "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
      "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core"}
TREE = etree.parse(str(PROCESSES / "periodic_review.bpmn"))
PROCESS = TREE.find("bpmn:process", NS)
FLOW_NODE_TAGS = ("startEvent", "endEvent", "userTask", "serviceTask", "exclusiveGateway", "parallelGateway")


def nodes() -> dict[str, etree._Element]:
    return {n.get("id"): n for tag in FLOW_NODE_TAGS for n in PROCESS.iterfind(f"bpmn:{tag}", NS)}


def role_of(element_id: str) -> str:
    (lane,) = [lane for lane in PROCESS.iterfind(".//bpmn:lane", NS)
               if element_id in {ref.text for ref in lane.iterfind("bpmn:flowNodeRef", NS)}]
    return lane.get("id").removeprefix("lane_")


def test_the_bundle_with_the_review_deploys_and_the_review_is_executable() -> None:
    # REQ: OOS-20
    bundle = load_bundle(definitions.bundle_from_directory(PROCESSES))
    assert "periodic_review" in bundle.specs and "oos_case" in bundle.specs


def test_every_element_documents_its_requirements_and_has_a_shape() -> None:
    # REQ: OOS-20, OOS-21, OOS-22, OOS-23
    shapes = {s.get("bpmnElement") for s in TREE.iterfind(".//bpmndi:BPMNShape", NS)}
    edges = {e.get("bpmnElement") for e in TREE.iterfind(".//bpmndi:BPMNEdge", NS)}
    cited: set[str] = set()
    for element_id, node in nodes().items():
        doc = node.findtext("bpmn:documentation", namespaces=NS) or ""
        found = re.findall(r"OOS-2[0-3]", doc)
        assert found, f"{element_id} cites no OOS-20..23 requirement"
        cited |= set(found)
        assert element_id in shapes
    assert cited == {"OOS-20", "OOS-21", "OOS-22", "OOS-23"}
    flows = {f.get("id") for f in PROCESS.iterfind("bpmn:sequenceFlow", NS)}
    assert flows == edges
    assert {lane.get("id") for lane in PROCESS.iterfind(".//bpmn:lane", NS)} <= shapes


def test_lanes_give_the_roles_and_every_user_task_a_form_that_exists() -> None:
    # REQ: OOS-20, OOS-22, OOS-23 — who does what
    expected = {"qa_review": "qa", "open_capa": "qa", "management_review": "management",
                "approve_review": "mah_ra", "record_ema_submission": "mah_ra", "record_cat_forwarding": "mah_ra",
                "record_ema_questions": "mah_ra", "answer_ema_questions": "mah_ra",
                "record_regulatory_actions": "mah_ra"}
    user_tasks = {n.get("id"): n for n in PROCESS.iterfind("bpmn:userTask", NS)}
    assert set(user_tasks) == set(expected)
    for element_id, role in expected.items():
        assert role_of(element_id) == role, element_id
        prop = user_tasks[element_id].find(".//spiffworkflow:property[@name='formJsonSchemaFilename']", NS)
        schema = json.loads((PROCESSES / "forms" / prop.get("value")).read_text())
        assert re.search(r"OOS-2[0-4]", schema["description"]), prop.get("value")


def test_the_mah_approval_is_a_signature_with_its_meaning() -> None:
    # REQ: OOS-20 (signed approval)
    schema = json.loads((PROCESSES / "forms" / "periodic_mah_approval.schema.json").read_text())
    assert schema["properties"]["review_signature_meaning"]["const"].startswith("I approve this periodic review")
    assert set(schema["required"]) == {"review_signatory_name", "review_signature_meaning", "review_approved"}


def test_the_start_is_a_timer_on_the_period_end_and_the_data_comes_from_the_reporting_worker() -> None:
    # REQ: OOS-20 — the six-monthly cycle is run by the scheduler, documented on the start event
    start = nodes()["review_period_ended"]
    assert start.findtext(".//bpmn:timeDate", namespaces=NS).strip() == "period_end"
    assert "R/2026-01-01T00:00:00Z/P6M" in start.findtext("bpmn:documentation", namespaces=NS)
    assert "oospath scheduler" in start.findtext("bpmn:documentation", namespaces=NS)
    operator = nodes()["assemble_review_data"].find(".//spiffworkflow:serviceTaskOperator", NS)
    assert (operator.get("id"), operator.get("resultVariable")) == ("report", "review_report")
    params = {p.get("id"): p.get("value") for p in operator.iterfind(".//spiffworkflow:parameter", NS)}
    assert params["report_type"] == "'periodic_review'" and params["period_end"] == "period_end"


def test_signals_open_capa_and_questions_loop_until_none_is_open() -> None:
    # REQ: OOS-22, OOS-23
    flows = {f.get("id"): f for f in PROCESS.iterfind("bpmn:sequenceFlow", NS)}

    def condition(flow_id: str) -> str:
        return flows[flow_id].findtext("bpmn:conditionExpression", namespaces=NS)

    assert condition("flow_signals_found_to_open_capa") == 'review_report["signals_count"] > 0'
    assert nodes()["signals_found"].get("default") == "flow_signals_found_to_escalation_merge"
    assert flows["flow_open_capa_to_management_review"] is not None
    assert condition("flow_questions_open_to_answer_ema_questions") == "questions_received == True"
    assert flows["flow_answer_ema_questions_to_questions_merge"].get("targetRef") == "questions_merge"
    assert nodes()["questions_open"].get("default") == "flow_questions_open_to_record_regulatory_actions"
