"""A specification version over HTTP: proposed, shown awaiting approval, approved or rejected by QA with a signature.

REQ: OOS-01 (the version in force judges a batch), OOS-24 (signed change control), OOS-25 (segregation of duties).
"""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import Api
from tests.e2e.test_api_errors import assert_problem

VERSION = "/api/v1/specifications/TIL-DEMO/versions/1"
AUTHOR = ("ben.schmidt", "qa")  # prepares the version; the approver is the QA persona


def propose(api: Api, version: int = 1, effective_from: str = "2025-01-01T00:00:00Z") -> dict[str, Any]:
    if version == 1:
        product = api.post("/api/v1/products", {"code": "TIL-DEMO", "name": "TIL therapy (demo)",
                                                "kind": "investigational", "cell_tissue_based": True})
        assert product.status_code == 201, product.json
    spec = api.post("/api/v1/specifications", {
        "product_code": "TIL-DEMO", "version": version, "effective_from": effective_from,
        "limits": [{"attribute": "viability", "unit": "%", "lower": 70 + 10 * (version - 1)}]}, api.as_(*AUTHOR))
    assert spec.status_code == 201, spec.json
    return dict(spec.json)


def batch(api: Api, batch_id: str, viability: float, manufactured_at: str = "2025-06-01T08:00:00Z") -> Any:
    return api.post("/api/v1/batches", {
        "batch_id": batch_id, "product_code": "TIL-DEMO", "manufactured_at": manufactured_at,
        "manufacturer": "Helix", "treating_site": "Demo hospital", "treating_country": "DE",
        "results": [{"attribute": "viability", "value": viability, "unit": "%"}]})


def test_a_version_judges_batches_only_once_another_qa_user_approved_it_with_a_signature(api: Api) -> None:
    # REQ: OOS-01, OOS-24
    proposed = propose(api)
    assert proposed["status"] == "awaiting_approval" and proposed["signature"] is None
    assert proposed["created_by"] == "ben.schmidt" and proposed["links"]["self"] == VERSION
    refused = assert_problem(batch(api, "TIL-25-0001", 65.0), 422)
    assert "no specification of TIL-DEMO is in force" in refused["detail"]
    approved = api.post(f"{VERSION}/approval", {"signature": api.signature("qa")}, api.persona("qa"))
    assert approved.status_code == 200, approved.json
    assert approved.json["status"] == "approved" and approved.json["approved_by"] == "anna.keller"
    shown = api.get(VERSION).json
    assert shown["signature"]["printed_name"] == "Anna Keller" and shown["signature"]["meaning"] == "approval"
    assert shown["signature"]["subject_id"] == "TIL-DEMO:1" and len(shown["signature"]["sha256"]) == 64
    listed = api.get("/api/v1/specifications?product_code=TIL-DEMO").json["items"]
    assert [(s["version"], s["status"]) for s in listed] == [(1, "approved")]
    judged = batch(api, "TIL-25-0001", 65.0)
    assert judged.status_code == 201 and judged.json["out_of_specification"] is True
    assert_problem(api.post(f"{VERSION}/approval", {"signature": api.signature("qa")}, api.persona("qa")), 409)


def test_approval_without_or_with_a_wrong_password_is_401_oos_24_and_changes_nothing(api: Api) -> None:
    # REQ: OOS-24
    propose(api)
    missing = assert_problem(api.post(f"{VERSION}/approval", {}, api.persona("qa")), 422)
    assert missing["errors"][0]["field"] == "signature" and missing["requirement"] == "OOS-24"
    no_password = api.post(f"{VERSION}/approval", {"signature": {"username": "anna.keller", "id_token": "x"}},
                           api.persona("qa"))
    assert assert_problem(no_password, 401)["requirement"] == "OOS-24"
    wrong = api.post(f"{VERSION}/approval", {"signature": {"username": "anna.keller", "password": "wrong"}},
                     api.persona("qa"))
    assert assert_problem(wrong, 401)["requirement"] == "OOS-24"
    assert api.get(VERSION).json["status"] == "awaiting_approval"


def test_the_creator_cannot_approve_their_own_version(api: Api) -> None:
    # REQ: OOS-25
    spec = api.post("/api/v1/products", {"code": "TIL-DEMO", "name": "TIL", "kind": "investigational",
                                         "cell_tissue_based": True})
    assert spec.status_code == 201
    created = api.post("/api/v1/specifications", {
        "product_code": "TIL-DEMO", "version": 1, "effective_from": "2025-01-01T00:00:00Z",
        "limits": [{"attribute": "viability", "unit": "%", "lower": 70}]}, api.persona("qa"))
    assert created.status_code == 201 and created.json["created_by"] == "anna.keller"
    own = api.post(f"{VERSION}/approval", {"signature": api.signature("qa")}, api.persona("qa"))
    problem = assert_problem(own, 403)
    assert problem["requirement"] == "OOS-25" and "segregation of duties" in problem["detail"]
    assert api.get(VERSION).json["status"] == "awaiting_approval"


def test_a_rejected_version_never_takes_effect(api: Api) -> None:
    # REQ: OOS-01, OOS-24
    propose(api)
    api.post(f"{VERSION}/approval", {"signature": api.signature("qa")}, api.persona("qa"))
    propose(api, version=2, effective_from="2025-05-01T00:00:00Z")
    no_reason = api.post("/api/v1/specifications/TIL-DEMO/versions/2/rejection", {"signature": api.signature("qa")},
                         api.persona("qa"))
    assert assert_problem(no_reason, 422)["errors"][0]["field"] == "reason"
    rejected = api.post("/api/v1/specifications/TIL-DEMO/versions/2/rejection",
                        {"signature": api.signature("qa"), "reason": "viability limit not justified"},
                        api.persona("qa"))
    assert rejected.status_code == 200 and rejected.json["status"] == "rejected"
    assert rejected.json["signature"]["meaning"] == "rejection"
    judged = batch(api, "TIL-25-0002", 75.0)  # v2 (>= 80 %) would find it out of specification
    assert judged.status_code == 201 and judged.json["specification_version"] == 1
    assert judged.json["out_of_specification"] is False


def test_only_qa_decides_on_a_version(api: Api) -> None:
    # REQ: OOS-25
    propose(api)
    refused = api.post(f"{VERSION}/approval", {"signature": api.signature("qp")}, api.persona("qp"))
    assert refused.status_code == 403
    assert_problem(api.post("/api/v1/specifications/TIL-DEMO/versions/9/approval",
                            {"signature": api.signature("qa")}, api.persona("qa")), 404)
