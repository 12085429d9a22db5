"""What a user of the API sees when something is refused: problem+json that says what is wrong.

Each test names the requirement it proves where one applies (`# REQ:`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from api.access import USER_HEADER
from engine.clock import FrozenClock
from engine.domain import catalogue
from engine.services.definitions import bundle_from_directory
from oospath.scenarios import EXCEPTIONAL_USE_REASON, form_data
from tests.e2e.conftest import Api
from tests.integration.conftest import FIXTURES

REPO = Path(__file__).resolve().parents[2]
BPMN_FIXTURES = REPO / "tests" / "fixtures" / "bpmn"
PROBLEM = "application/problem+json"
OOS_BATCH = catalogue.BATCH_VIABILITY_OOS  # CART19-25-0102: viability 74 % vs >= 80 %


def assert_problem(response: Any, status: int, *, path: str | None = None) -> dict[str, Any]:
    """An RFC 9457 problem with the status, a title and a detail a user can act on."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.json
    assert body["status"] == status
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and len(body["detail"]) > 10
    assert body["type"] == "about:blank"
    if path is not None:
        assert body["instance"] == path
    return body


def open_case(api: Api, batch_id: str = OOS_BATCH) -> str:
    response = api.post("/api/v1/cases", {"batch_id": batch_id, "exceptional_use_reason": EXCEPTIONAL_USE_REASON})
    assert response.status_code == 201, response.json
    return response.json["id"]


def ready_task(api: Api, case_id: str, role: str, element_id: str | None = None) -> dict[str, Any]:
    items = api.get(f"/api/v1/tasks?case_id={case_id}", api.persona(role)).json["items"]
    matching = [t for t in items if element_id is None or t["element_id"] == element_id]
    assert matching, f"no ready {element_id or 'task'} for {role}: {[t['element_id'] for t in items]}"
    return matching[0]


def complete(api: Api, task: dict[str, Any], role: str, data: dict[str, Any]) -> Any:
    return api.post(f"/api/v1/tasks/{task['id']}/complete", {"data": data}, api.persona(role))


def physician_decision(api: Api, clock: FrozenClock) -> tuple[str, dict[str, Any]]:
    """A case whose QA work is done: the physician's request task is ready."""
    case_id = open_case(api)
    for element_id in ("investigate_oos", "evaluate_risks"):
        task = ready_task(api, case_id, "qa", element_id)
        assert complete(api, task, "qa", form_data(element_id, "authorised", clock.now())).status_code == 200
    return case_id, ready_task(api, case_id, "physician", "physician_decision")


def definitions_state(api: Api) -> list[dict[str, Any]]:
    return api.get("/api/v1/process-definitions").json["items"]


def cart19_batch(batch_id: str, viability: float, viability_unit: str = catalogue.PERCENT) -> dict[str, Any]:
    """A full anti-CD19 release panel as an integration (LIMS) would post it."""
    numeric = [(catalogue.VIABILITY, viability, viability_unit), (catalogue.CAR_T_DOSE, 2.4, catalogue.DOSE_UNIT),
               (catalogue.TRANSDUCTION_EFFICIENCY, 28.5, catalogue.PERCENT),
               (catalogue.VECTOR_COPY_NUMBER, 1.8, catalogue.VCN_UNIT),
               (catalogue.IFN_GAMMA_RELEASE, 1850.0, catalogue.PG_PER_ML),
               (catalogue.ENDOTOXIN, 0.5, catalogue.EU_PER_ML)]
    texts = [(catalogue.STERILITY, "no growth"), (catalogue.MYCOPLASMA, "not detected"),
             (catalogue.RCL, "not detected")]
    return {
        "batch_id": batch_id, "product_code": catalogue.CART19_AUTH, "manufactured_at": "2025-12-15T10:00:00Z",
        "imported": False, "manufacturer": catalogue.HELIX, "mah": catalogue.NORDLICHT,
        "treating_site": "Universitätsklinikum Rheinland (demo), Köln", "treating_country": "DE",
        "results": [{"attribute": a, "value": v, "unit": u} for a, v, u in numeric]
                   + [{"attribute": a, "text": t} for a, t in texts],
    }


# ---- every error is problem+json -----------------------------------------------------------------------
@pytest.mark.parametrize(("method", "path", "body", "status"), [
    ("get", "/api/v1/no-such-resource", None, 404),
    ("delete", "/api/v1/cases", None, 405),
    ("get", "/api/v1/cases/no-such-case", None, 404),
    ("get", "/api/v1/tasks/no-such-task", None, 404),
    ("get", "/api/v1/batches/NO-SUCH-BATCH", None, 404),
    ("get", "/api/v1/process-instances/no-such-instance", None, 404),
    ("get", "/api/v1/process-definitions/no_such_process/versions/1", None, 404),
    ("post", "/api/v1/cases", {"batch_id": "NO-SUCH-BATCH", "exceptional_use_reason": "x"}, 404),
    ("post", "/api/v1/cases", {"batch_id": 7}, 422),
    ("post", "/api/v1/products", {"code": "X"}, 422),
    ("post", "/api/v1/tasks/no-such-task/complete", {"data": {}}, 404),
])
def test_every_error_is_problem_json_with_status_title_and_detail(
    api: Api, method: str, path: str, body: Any, status: int
) -> None:
    response = api.client.open(path, method=method.upper(), json=body, headers=api.as_("anna.keller", "qa"))
    assert_problem(response, status, path=path)


def test_unknown_case_is_404_naming_the_id(api: Api) -> None:
    body = assert_problem(api.get("/api/v1/cases/OOS-2099-0042"), 404)
    assert "OOS-2099-0042" in body["detail"]
    assert "OOS-2099-0042" in assert_problem(api.get("/api/v1/cases/OOS-2099-0042/audit"), 404)["detail"]


def test_a_case_is_found_by_its_reference_as_well_as_its_id(api: Api) -> None:
    case_id = open_case(api)
    reference = api.get(f"/api/v1/cases/{case_id}").json["reference"]
    assert api.get(f"/api/v1/cases/{reference}").json["id"] == case_id


@pytest.mark.parametrize(("method", "path", "body"), [
    ("post", "/api/v1/cases", {"batch_id": OOS_BATCH, "exceptional_use_reason": "x"}),
    ("get", "/api/v1/tasks", None),
    ("post", "/api/v1/process-definitions", {"files": {}}),
    ("post", "/api/v1/batches", {}),
])
def test_missing_identity_is_401_naming_the_header(api: Api, method: str, path: str, body: Any) -> None:
    # REQ: OOS-24 (every action is attributable: no anonymous writes)
    response = api.client.open(path, method=method.upper(), json=body)
    assert USER_HEADER in assert_problem(response, 401, path=path)["detail"]
    blank = api.client.open(path, method=method.upper(), json=body, headers={USER_HEADER: "   "})
    assert_problem(blank, 401)
    assert api.get("/api/v1/cases").json["items"] == []


@pytest.mark.parametrize(("data", "content_type"), [
    ("batch_id=CART19-25-0102", "application/x-www-form-urlencoded"),
    ("{not json", "application/json"),
    ('["CART19-25-0102"]', "application/json"),
    ("", "application/json"),
])
def test_a_body_that_is_not_a_json_object_is_400(api: Api, data: str, content_type: str) -> None:
    response = api.client.post("/api/v1/cases", data=data, content_type=content_type,
                               headers=api.as_("anna.keller", "qa"))
    assert "JSON object" in assert_problem(response, 400)["detail"]


# ---- tasks: form validation, roles, state --------------------------------------------------------------
def test_completing_a_task_with_wrong_data_lists_each_invalid_field(api: Api, clock: FrozenClock) -> None:
    # REQ: OOS-06 OOS-03 (the physician's request records the patient's condition and both attestations)
    case_id, task = physician_decision(api, clock)
    response = complete(api, task, "physician", {"request_batch": "yes", "attest_no_suitable_alternative": True})
    body = assert_problem(response, 422)
    fields = {error["field"]: error["message"] for error in body["errors"]}
    assert "patient_condition_considerations" in fields
    assert "required" in fields["patient_condition_considerations"]
    assert "request_batch" in fields and "boolean" in fields["request_batch"]
    assert str(len(body["errors"])) in body["detail"]
    assert ready_task(api, case_id, "physician", "physician_decision")["id"] == task["id"], "nothing was applied"
    trail = api.every(f"/api/v1/cases/{case_id}/audit")
    assert not [e for e in trail if e["action"] == "task.completed" and e["element_id"] == "physician_decision"]


def test_a_request_without_the_oos03_attestations_is_refused(api: Api, clock: FrozenClock) -> None:
    # REQ: OOS-03 (a case lacking either attestation cannot reach supply)
    _, task = physician_decision(api, clock)
    response = complete(api, task, "physician", {"request_batch": True,
                                                 "patient_condition_considerations": "relapsed DLBCL"})
    fields = {error["field"] for error in assert_problem(response, 422)["errors"]}
    assert {"attest_immediate_significant_hazard", "attest_no_suitable_alternative"} <= fields


def test_the_complete_body_itself_is_validated(api: Api) -> None:
    task = ready_task(api, open_case(api), "qa")
    body = assert_problem(api.post(f"/api/v1/tasks/{task['id']}/complete", {"payload": {}}, api.persona("qa")), 422)
    assert {e["field"] for e in body["errors"]} >= {"data", ""}  # missing `data`, unknown `payload`


def test_a_user_without_the_tasks_role_gets_403_naming_oos25_and_the_role(api: Api, clock: FrozenClock) -> None:
    # REQ: OOS-25
    case_id, task = physician_decision(api, clock)
    shown = api.get(f"/api/v1/tasks/{task['id']}", api.persona("physician")).json["data"]
    data = form_data("physician_decision", "authorised", clock.now(), shown)
    for response in (api.get(f"/api/v1/tasks/{task['id']}", api.persona("qa")),
                     complete(api, task, "qa", data),
                     api.post(f"/api/v1/tasks/{task['id']}/claim", None, api.persona("qa")),
                     api.post(f"/api/v1/tasks/{task['id']}/complete", {"data": data}, api.as_("nobody", "qp"))):
        detail = assert_problem(response, 403)["detail"]
        assert "OOS-25" in detail and "'physician'" in detail
    assert ready_task(api, case_id, "physician", "physician_decision")["assignee"] is None
    assert complete(api, task, "physician", data).status_code == 200


def test_a_task_list_only_shows_tasks_of_roles_the_user_holds(api: Api) -> None:
    # REQ: OOS-25
    case_id = open_case(api)
    url = f"/api/v1/tasks?case_id={case_id}"
    qa_tasks = api.get(url, api.persona("qa")).json["items"]
    assert [t["element_id"] for t in qa_tasks] == ["investigate_oos"] and qa_tasks[0]["role"] == "qa"
    for role in ("physician", "qp", "mah_ra", "sponsor"):
        assert api.get(url, api.persona(role)).json["items"] == [], role
    assert api.get(url, api.as_("no.roles")).status_code == 403  # OOS-25: no role, no task list
    assert api.get(url, api.as_("lead", "qp", "qa")).json["items"] == qa_tasks
    assert api.get(f"{url}&role=qa", api.as_("lead", "qp", "qa")).json["items"] == qa_tasks
    assert api.get(f"{url}&role=qp", api.as_("lead", "qp", "qa")).json["items"] == []
    detail = assert_problem(api.get(f"{url}&role=qa", api.persona("physician")), 403)["detail"]
    assert "OOS-25" in detail and "'qa'" in detail


def test_completing_the_same_task_twice_is_409(api: Api, clock: FrozenClock) -> None:
    # REQ: OOS-24 (one attributable completion per decision)
    case_id = open_case(api)
    task = ready_task(api, case_id, "qa", "investigate_oos")
    data = form_data("investigate_oos", "authorised", clock.now())
    assert complete(api, task, "qa", data).status_code == 200
    again = assert_problem(complete(api, task, "qa", data), 409)
    assert "completed" in again["detail"]
    assert_problem(api.post(f"/api/v1/tasks/{task['id']}/claim", None, api.persona("qa")), 409)
    trail = api.every(f"/api/v1/cases/{case_id}/audit")
    assert len([e for e in trail if e["action"] == "task.completed" and e["task_id"] == task["id"]]) == 1


def test_a_task_claimed_by_someone_else_cannot_be_completed(api: Api, clock: FrozenClock) -> None:
    # REQ: OOS-25
    task = ready_task(api, open_case(api), "qa")
    assert api.post(f"/api/v1/tasks/{task['id']}/claim", None, api.as_("other.qa", "qa")).status_code == 200
    body = assert_problem(complete(api, task, "qa", form_data("investigate_oos", "authorised", clock.now())), 409)
    assert "other.qa" in body["detail"]


# ---- opening cases: entry conditions -------------------------------------------------------------------
def test_a_batch_within_specification_cannot_open_a_case(api: Api) -> None:
    # REQ: OOS-01
    response = api.post("/api/v1/cases", {"batch_id": catalogue.BATCH_IN_SPEC,
                                          "exceptional_use_reason": EXCEPTIONAL_USE_REASON})
    body = assert_problem(response, 422, path="/api/v1/cases")
    assert body["requirement"] == "OOS-01" and body["detail"].startswith("OOS-01")
    assert catalogue.BATCH_IN_SPEC in body["detail"]
    assert api.get("/api/v1/cases").json["items"] == []
    assert api.get(f"/api/v1/batches/{catalogue.BATCH_IN_SPEC}").json["status"] == "within_specification"


def test_a_batch_of_a_non_cell_tissue_product_cannot_open_a_case(api: Api) -> None:
    # REQ: OOS-02
    response = api.post("/api/v1/cases", {"batch_id": catalogue.BATCH_NON_CELL_OOS,
                                          "exceptional_use_reason": EXCEPTIONAL_USE_REASON})
    body = assert_problem(response, 422)
    assert body["requirement"] == "OOS-02" and "cell/tissue" in body["detail"]
    assert api.get("/api/v1/cases").json["items"] == []


@pytest.mark.parametrize("body", [{"batch_id": OOS_BATCH}, {"batch_id": OOS_BATCH, "exceptional_use_reason": ""}])
def test_a_case_without_an_exceptional_use_reason_is_422(api: Api, body: dict[str, Any]) -> None:
    # REQ: OOS-02 (every case records why it is exceptional)
    problem = assert_problem(api.post("/api/v1/cases", body), 422)
    assert [e["field"] for e in problem["errors"]] == ["exceptional_use_reason"]
    assert api.get("/api/v1/cases").json["items"] == []


def test_a_blank_exceptional_use_reason_is_refused_naming_oos02(api: Api) -> None:
    # REQ: OOS-02
    problem = assert_problem(api.post("/api/v1/cases", {"batch_id": OOS_BATCH, "exceptional_use_reason": "  "}), 422)
    assert problem["requirement"] == "OOS-02"


def test_a_second_open_case_for_the_same_batch_is_409(api: Api) -> None:
    # REQ: OOS-01
    open_case(api)
    response = api.post("/api/v1/cases", {"batch_id": OOS_BATCH, "exceptional_use_reason": EXCEPTIONAL_USE_REASON})
    assert OOS_BATCH in assert_problem(response, 409)["detail"]
    assert len(api.get("/api/v1/cases").json["items"]) == 1


# ---- process definitions: deploy refuses a broken bundle whole -----------------------------------------
def _unsafe_bundle() -> dict[str, str]:
    flow = (BPMN_FIXTURES / "safe_flow.bpmn").read_text().replace("x = x + 1", "import os")
    return {"unsafe.bpmn": flow, "risk_level.dmn": (BPMN_FIXTURES / "risk_level.dmn").read_text(),
            "review.schema.json": (BPMN_FIXTURES / "review.schema.json").read_text()}


BROKEN_BUNDLES = {
    "malformed XML": ({"broken.bpmn": (BPMN_FIXTURES / "malformed.bpmn").read_text()},
                      "broken.bpmn", 6, None, "malformed XML"),
    "not BPMN schema-valid": ({"schema_violation.bpmn": (BPMN_FIXTURES / "schema_violation.bpmn").read_text()},
                              "schema_violation.bpmn", 9, "prepare", "BPMN schema"),
    "unsafe script": (_unsafe_bundle(), "unsafe.bpmn", 15, "count", "import is not allowed"),
}


@pytest.mark.parametrize("case", list(BROKEN_BUNDLES), ids=list(BROKEN_BUNDLES))
def test_a_broken_bpmn_upload_is_422_naming_file_line_and_element(api: Api, case: str) -> None:
    files, filename, line, element_id, reason = BROKEN_BUNDLES[case]
    before = definitions_state(api)
    body = assert_problem(api.post("/api/v1/process-definitions", {"files": files}, api.designer()),
                          422)
    assert body["title"] == "Invalid process definition"
    first = body["problems"][0]
    assert (first["file"], first["line"], first["element_id"]) == (filename, line, element_id)
    assert reason in first["reason"]
    assert f"{filename}:{line}" in body["detail"]
    if element_id is not None:
        assert f"'{element_id}'" in body["detail"]
    assert definitions_state(api) == before, "a refused bundle must leave nothing half-written"


def test_a_schema_invalid_bpmn_reports_every_problem_at_once(api: Api) -> None:
    files = {"schema_violation.bpmn": (BPMN_FIXTURES / "schema_violation.bpmn").read_text()}
    body = assert_problem(api.post("/api/v1/process-definitions", {"files": files}, api.designer()), 422)
    assert [(p["line"], p["element_id"]) for p in body["problems"]] == [(9, "prepare"), (12, "end")]


def test_a_bundle_that_is_partly_valid_is_refused_whole(api: Api) -> None:
    shipped = {name: content.decode() for name, content in bundle_from_directory(REPO / "processes").items()}
    unsafe = _unsafe_bundle()
    shipped.update({"unsafe.bpmn": unsafe["unsafe.bpmn"], "review.schema.json": unsafe["review.schema.json"]})
    before = definitions_state(api)
    body = assert_problem(api.post("/api/v1/process-definitions", {"files": shipped}, api.designer()), 422)
    assert "unsafe.bpmn" in {p["file"] for p in body["problems"]}
    assert definitions_state(api) == before, "the valid oos_case.bpmn of the bundle got no new version"
    assert_problem(api.get("/api/v1/process-definitions/safe_flow/versions/1"), 404)


def test_a_deploy_without_files_is_400(api: Api) -> None:
    refused = api.post("/api/v1/process-definitions", {"bpmn": "<x/>"}, api.designer())
    assert "files" in assert_problem(refused, 400)["detail"]


def test_redeploying_the_shipped_processes_unchanged_is_200_with_created_false(api: Api) -> None:
    before = definitions_state(api)
    shipped = {name: content.decode() for name, content in bundle_from_directory(REPO / "processes").items()}
    response = api.post("/api/v1/process-definitions", {"files": shipped}, api.designer())
    assert response.status_code == 200, response.json
    assert response.json["items"] and all(item["created"] is False for item in response.json["items"])
    assert [item["version"] for item in response.json["items"]] == [d["version"] for d in before]
    assert definitions_state(api) == before


def test_a_definition_version_returns_its_xml_files(api: Api) -> None:
    response = api.get("/api/v1/process-definitions/oos_case/versions/1")
    assert response.status_code == 200
    files = {f["filename"]: f["content"] for f in response.json["files"]}
    shipped = bundle_from_directory(REPO / "processes")
    assert set(files) == set(shipped)
    assert files["oos_case.bpmn"].lstrip().startswith("<?xml") and "<bpmn:process" in files["oos_case.bpmn"]
    assert files["oos_case.bpmn"] == shipped["oos_case.bpmn"].decode()
    assert "physician_decision" in response.json["elements"]
    assert_problem(api.get("/api/v1/process-definitions/oos_case/versions/99"), 404)


# ---- batches: OOS detection on registration ------------------------------------------------------------
def test_a_result_in_the_wrong_unit_is_422_with_a_clear_detail(api: Api) -> None:
    # REQ: OOS-01 (units are never converted: a silent conversion could hide an OOS result)
    response = api.post("/api/v1/batches", cart19_batch("CART19-25-0901", 0.91, viability_unit="fraction"))
    detail = assert_problem(response, 422, path="/api/v1/batches")["detail"]
    assert "unit mismatch" in detail and "viability" in detail and "'fraction'" in detail and "'%'" in detail
    assert_problem(api.get("/api/v1/batches/CART19-25-0901"), 404)


def test_registered_batches_are_classified_against_the_specification_in_force(api: Api) -> None:
    # REQ: OOS-01
    in_spec = api.post("/api/v1/batches", cart19_batch("CART19-25-0801", 91.0))
    assert in_spec.status_code == 201, in_spec.json
    assert in_spec.json["status"] == "within_specification" and in_spec.json["findings"] == []
    assert in_spec.json["out_of_specification"] is False and in_spec.json["specification_version"] == 2
    oos = api.post("/api/v1/batches", cart19_batch("CART19-25-0802", 72.5))
    assert oos.status_code == 201, oos.json
    assert oos.json["status"] == "out_of_specification" and oos.json["out_of_specification"] is True
    assert oos.json["findings"] == [{"attribute": "viability", "measured": "72.5", "limit": "≥ 80 %", "unit": "%",
                                     "reason": "below lower limit"}]
    listed = {b["batch_id"] for b in api.get("/api/v1/batches?status=out_of_specification").json["items"]}
    assert "CART19-25-0802" in listed and "CART19-25-0801" not in listed
    refused = api.post("/api/v1/cases", {"batch_id": "CART19-25-0801", "exceptional_use_reason": "x"})
    assert assert_problem(refused, 422)["requirement"] == "OOS-01"
    assert open_case(api, "CART19-25-0802")
    assert_problem(api.post("/api/v1/batches", cart19_batch("CART19-25-0802", 72.5)), 409)


# ---- engine failures and the generic surface ---------------------------------------------------------
def test_a_failing_process_expression_is_422_naming_the_element_and_nothing_is_saved(api: Api) -> None:
    bpmn = (FIXTURES / "approval.bpmn").read_text().replace("stamped_by_version = 1",
                                                            "stamped_by_version = undefined_variable + 1")
    deployed = api.post("/api/v1/process-definitions", {"files": {
        "approval.bpmn": bpmn, "approve.schema.json": (FIXTURES / "approve.schema.json").read_text()}},
        api.designer())
    assert deployed.status_code == 201, deployed.json
    api.approve("approval", deployed.json["items"][0]["version"])
    started = api.post("/api/v1/process-instances", {"key": "approval", "data": {}}, api.persona("qa"))
    assert started.status_code == 201
    (task,) = api.get(f"/api/v1/process-instances/{started.json['id']}").json["open_tasks"]
    response = api.post(f"/api/v1/tasks/{task['id']}/complete", {"data": {"approved": True}})
    problem = assert_problem(response, 422)
    assert "'stamp'" in problem["detail"] and "undefined_variable" in problem["detail"]
    again = api.get(f"/api/v1/tasks/{task['id']}", api.persona("qa"))
    assert again.json["state"] == "ready"  # the failed step left nothing half-written


def test_the_generic_surface_cannot_start_the_pathway_for_a_batch_within_specification(api: Api) -> None:
    # REQ: OOS-01 OOS-02
    data = {"case_reference": "X", "batch_id": catalogue.BATCH_IN_SPEC, "product_code": catalogue.CART19_AUTH,
            "product_kind": "authorised", "parties_same_legal_entity": True, "imported": False,
            "treating_country": "DE", "nca_notification_required": False, "nca_requirement_source": "x",
            "exceptional_use_reason": "x", "oos_findings": []}
    response = api.post("/api/v1/process-instances", {"key": "oos_case", "data": data}, api.persona("qa"))
    assert assert_problem(response, 422)["requirement"] == "OOS-01"
    assert "POST /api/v1/cases" in response.json["detail"]
