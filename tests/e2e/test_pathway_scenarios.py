"""The three demo scenarios driven end to end through the HTTP API.

# REQ: OOS-01 OOS-03 OOS-04 OOS-06 OOS-07 OOS-09 OOS-10 OOS-11 OOS-12 OOS-13 OOS-16
"""

from __future__ import annotations

from engine.clock import FrozenClock
from oospath.scenarios import EXCEPTIONAL_USE_REASON, PERSONAS, SCENARIOS
from tests.e2e.conftest import Api


def drive(api: Api, clock: FrozenClock, scenario: str) -> tuple[dict, list[str]]:
    """Open the scenario's case and let each persona complete the tasks of its role until none is left."""
    response = api.post("/api/v1/cases", {"batch_id": SCENARIOS[scenario],
                                          "exceptional_use_reason": EXCEPTIONAL_USE_REASON})
    assert response.status_code == 201, response.json
    completed = api.work_case(clock, response.json["id"], scenario)
    return api.get(f"/api/v1/cases/{response.json['id']}").json, completed


def parties_notified(case: dict) -> list[str]:
    return [n["party"] for n in case["notifications"]]


def test_authorised_product_case_runs_to_closure_with_supply(api: Api, clock: FrozenClock) -> None:
    # REQ: OOS-12 OOS-13 OOS-09 OOS-16
    case, completed = drive(api, clock, "authorised")
    assert case["status"] == "closed" and case["outcome"] == "supplied"
    assert completed[:2] == ["investigate_oos", "evaluate_risks"]
    assert {"verify_batch_verifications", "verify_import_procedures", "supply_batch",
            "approve_sa_notification"} <= set(completed)
    assert completed.index("verify_batch_verifications") < completed.index("supply_batch")
    notified = parties_notified(case)
    assert notified[0] == "treating_physician"  # OOS-04/OOS-10: the physician is told first
    assert {"mah", "supervisory_authority"} <= set(notified)
    assert "sponsor" not in notified
    assert {r["record_type"] for r in case["records"]} == {  # REQ: OOS-16 OOS-18
        "oos_investigation", "risk_analysis", "physician_request", "patient_information", "oos_case_file",
        "batch_manufacture_record", "testing_records", "transport_storage_records"}
    assert case["open_tasks"] == [] and case["waiting_for_workers"] == []


def test_clinical_trial_case_informs_the_sponsor_and_never_the_mah(api: Api, clock: FrozenClock) -> None:
    # REQ: OOS-11
    case, completed = drive(api, clock, "clinical-trial")
    assert case["status"] == "closed" and case["outcome"] == "supplied"
    assert "sponsor" in parties_notified(case)
    assert not {"mah", "supervisory_authority"} & set(parties_notified(case))
    assert "record_sponsor_ca_notification" in completed
    assert "approve_sa_notification" not in completed


def test_declined_case_is_not_supplied_and_records_disposition(api: Api, clock: FrozenClock) -> None:
    # REQ: OOS-07
    case, completed = drive(api, clock, "declined")
    assert case["status"] == "closed" and case["outcome"] == "not_supplied"
    assert "supply_batch" not in completed and "record_batch_disposition" in completed
    assert {r["record_type"] for r in case["records"]} == {
        "oos_investigation", "risk_analysis", "physician_request", "batch_disposition"}
    batch = api.get(f"/api/v1/batches/{case['batch_id']}").json
    assert batch["status"] == "oos_not_supplied"


def test_case_audit_trail_is_attributable_and_chained(api: Api, clock: FrozenClock) -> None:
    # REQ: OOS-24
    case, _ = drive(api, clock, "authorised")
    trail = api.get(f"/api/v1/cases/{case['id']}/audit").json
    assert trail["chain_intact"] is True
    completions = [e for e in api.every(f"/api/v1/cases/{case['id']}/audit") if e["action"] == "task.completed"]
    assert completions and all(e["actor"] and e["role"] and e["at"] for e in completions)
    physician = next(e for e in completions if e["element_id"] == "physician_decision")
    assert physician["actor"] == PERSONAS["physician"].user
    assert physician["data_after"]["attest_no_suitable_alternative"] is True
