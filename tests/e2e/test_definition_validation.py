"""The designer's "Validate": POST /api/v1/process-definitions/validation runs deploy's checks, storing nothing."""

from __future__ import annotations

from lxml import etree

from engine.services.definitions import bundle_from_directory
from tests.conftest import REPO
from tests.e2e.conftest import Api

VALIDATION = "/api/v1/process-definitions/validation"
BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
QP_VERIFICATION = "verify_batch_verifications"


def shipped() -> dict[str, str]:
    return {name: content.decode() for name, content in bundle_from_directory(REPO / "processes").items()}


def definitions_state(api: Api) -> list[tuple[str, int, str]]:
    items = api.get("/api/v1/process-definitions", api.designer()).json["items"]
    return [(d["key"], d["version"], d["status"]) for d in items]


def without_qp_verification(bpmn: str) -> str:
    """oos_case as a designer would leave it after deleting the QP's verification task and reconnecting
    its incoming flow to the next gateway: a diagram that still runs, but without that legal control."""
    root = etree.fromstring(bpmn.encode())
    by_id = {e.get("id"): e for e in root.iter() if e.get("id")}
    outgoing = "flow_verify_batch_verifications_to_is_imported"
    by_id["flow_batch_requested_to_verify_batch_verifications"].set("targetRef", "is_imported")
    for incoming in by_id["is_imported"].findall(f"{{{BPMN}}}incoming"):
        if incoming.text == outgoing:
            incoming.text = "flow_batch_requested_to_verify_batch_verifications"
    drawn = {e.get("bpmnElement"): e for e in root.iter() if e.get("bpmnElement")}
    for gone in (by_id[QP_VERIFICATION], by_id[outgoing], drawn[QP_VERIFICATION], drawn[outgoing]):
        gone.getparent().remove(gone)
    for ref in list(root.iter(f"{{{BPMN}}}flowNodeRef")):
        if ref.text == QP_VERIFICATION:
            ref.getparent().remove(ref)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8").decode()


def with_a_task_without_role(bpmn: str) -> str:
    """A user task outside every lane and without a role property."""
    task = ('<bpmn:process id="side_process" isExecutable="true"><bpmn:startEvent id="side_start"/>'
            '<bpmn:sequenceFlow id="side_flow" sourceRef="side_start" targetRef="review_anything"/>'
            '<bpmn:userTask id="review_anything" name="Review anything"/>'
            '<bpmn:sequenceFlow id="side_end_flow" sourceRef="review_anything" targetRef="side_end"/>'
            '<bpmn:endEvent id="side_end"/></bpmn:process>')
    return bpmn.replace("<bpmndi:BPMNDiagram", task + "<bpmndi:BPMNDiagram", 1)


def test_the_shipped_bundle_is_valid_and_validating_deploys_nothing(api: Api) -> None:
    # REQ: OOS-25
    before = definitions_state(api)
    response = api.post(VALIDATION, {"files": shipped()}, api.designer())
    assert response.status_code == 200, response.json
    assert response.json == {"valid": True, "problems": []}
    assert definitions_state(api) == before


def test_dropping_the_qp_verification_is_a_problem_naming_oos_08_and_the_element(api: Api) -> None:
    # REQ: OOS-08 OOS-09 OOS-25
    files = shipped()
    files["oos_case.bpmn"] = without_qp_verification(files["oos_case.bpmn"])
    before = definitions_state(api)
    response = api.post(VALIDATION, {"files": files}, api.designer())
    assert response.status_code == 200, response.json
    assert response.json["valid"] is False
    (problem,) = [p for p in response.json["problems"] if p["element_id"] == QP_VERIFICATION]
    assert problem["file"] == "oos_case.bpmn" and "OOS-08" in problem["requirement"].split(", ")
    assert "missing" in problem["reason"]
    assert definitions_state(api) == before, "validating stored nothing"
    # deploy refuses the same bundle for the same reasons: one code path
    refused = api.post("/api/v1/process-definitions", {"files": files}, api.designer())
    assert refused.status_code == 422
    assert {p["reason"] for p in refused.json["problems"]} == {p["reason"] for p in response.json["problems"]}
    assert definitions_state(api) == before


def test_a_user_task_without_a_role_is_located_on_its_element(api: Api) -> None:
    # REQ: OOS-25
    files = shipped()
    files["oos_case.bpmn"] = with_a_task_without_role(files["oos_case.bpmn"])
    before = definitions_state(api)
    response = api.post(VALIDATION, {"files": files}, api.designer())
    assert response.status_code == 200, response.json
    (problem,) = response.json["problems"]
    assert problem["element_id"] == "review_anything" and problem["element_type"] == "userTask"
    assert problem["requirement"] == "OOS-25" and "has no role" in problem["reason"]
    assert isinstance(problem["line"], int)
    assert definitions_state(api) == before


def test_a_bundle_that_does_not_load_is_invalid_not_an_error(api: Api) -> None:
    # REQ: OOS-25
    response = api.post(VALIDATION, {"files": {"broken.bpmn": "<bpmn:definitions"}}, api.designer())
    assert response.status_code == 200, response.json
    assert response.json["valid"] is False and response.json["problems"][0]["file"] == "broken.bpmn"
    assert response.json["problems"][0]["requirement"] is None


def test_validating_needs_the_process_designer_role(api: Api) -> None:
    # REQ: OOS-25
    response = api.post(VALIDATION, {"files": shipped()}, api.persona("qa"))
    assert response.status_code == 403 and response.content_type == "application/problem+json"
    missing = api.post(VALIDATION, {"bpmn": "<x/>"}, api.designer())
    assert missing.status_code == 400 and "files" in missing.json["detail"]
