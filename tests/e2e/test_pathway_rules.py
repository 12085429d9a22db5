"""One scenario per pathway rule, through the HTTP API; each fails if its rule is removed.

Named after the requirement each proves.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from email import message_from_bytes
from email.policy import default

import pytest
from sqlalchemy import text

from engine.bootstrap import Oospath
from engine.clock import FrozenClock
from engine.domain import catalogue
from engine.services.scheduling import fire_due
from oospath.scenarios import EXCEPTIONAL_USE_REASON, SCENARIOS
from tests.e2e.conftest import Api


def open_case(api: Api, scenario: str = "authorised") -> str:
    response = api.post("/api/v1/cases", {"batch_id": SCENARIOS[scenario],
                                          "exceptional_use_reason": EXCEPTIONAL_USE_REASON})
    assert response.status_code == 201, response.json
    return response.json["id"]


def test_oos_08_qp_certification_of_an_oos_batch_is_refused_and_the_attempt_audited(api: Api) -> None:
    # REQ: OOS-08
    case_id = open_case(api)
    qp = api.persona("qp")
    refused = api.post(f"/api/v1/batches/{catalogue.BATCH_VIABILITY_OOS}/certification", None, qp)
    assert refused.status_code == 422 and refused.json["requirement"] == "OOS-08"
    assert "cannot certify an OOS batch" in refused.json["detail"]
    trail = api.every(f"/api/v1/cases/{case_id}/audit")
    attempt = [e for e in trail if e["action"] == "qp.certification_refused"]
    assert len(attempt) == 1 and attempt[0]["actor"] == "jan.devries" and attempt[0]["role"] == "qp"
    # an OOS batch without a case is refused too; a batch within specification can be certified
    assert api.post(f"/api/v1/batches/{catalogue.BATCH_STERILITY_FAILURE}/certification", None, qp).json[
        "requirement"] == "OOS-08"
    certified = api.post(f"/api/v1/batches/{catalogue.BATCH_IN_SPEC}/certification", None, qp)
    assert certified.status_code == 200 and certified.json["status"] == "certified"
    assert api.post(f"/api/v1/batches/{catalogue.BATCH_IN_SPEC}/certification", None,
                    api.persona("qa")).status_code == 403


def test_oos_06_the_physician_must_attest_the_current_risk_evaluation_version(api: Api, clock: FrozenClock) -> None:
    # REQ: OOS-06 OOS-05
    case_id = open_case(api)
    api.work_case(clock, case_id, "authorised", stop_after="evaluate_risks")
    versions = api.get(f"/api/v1/cases/{case_id}/risk-evaluations").json["items"]
    assert [v["version"] for v in versions] == [1] and len(versions[0]["sha256"]) == 64
    (task,) = api.get(f"/api/v1/tasks?case_id={case_id}", api.persona("physician")).json["items"]
    detail = api.get(f"/api/v1/tasks/{task['id']}", api.persona("physician")).json
    assert detail["data"]["risk_evaluation_sha256"] == versions[0]["sha256"]  # shown to the physician
    request = {"request_batch": True, "attest_immediate_significant_hazard": True,
               "attest_no_suitable_alternative": True, "patient_condition_considerations": "progressive disease",
               "risk_evaluation_version_seen": "0" * 64}
    refused = api.post(f"/api/v1/tasks/{task['id']}/complete", {"data": request}, api.persona("physician"))
    assert refused.status_code == 422 and refused.json["requirement"] == "OOS-06"
    request["risk_evaluation_version_seen"] = versions[0]["sha256"]
    accepted = api.post(f"/api/v1/tasks/{task['id']}/complete", {"data": request}, api.persona("physician"))
    assert accepted.status_code == 200, accepted.json
    trail = api.every(f"/api/v1/cases/{case_id}/audit")
    recorded = next(e for e in trail if e["action"] == "task.completed" and e["element_id"] == "physician_decision")
    assert recorded["actor"] == "dr.lucas.moreau" and recorded["data_after"]["risk_evaluation_version_seen"] == \
        versions[0]["sha256"]


def test_oos_03_a_request_without_both_attestations_is_refused_and_never_reaches_supply(
    api: Api, clock: FrozenClock
) -> None:
    # REQ: OOS-03
    case_id = open_case(api)
    api.work_case(clock, case_id, "authorised", stop_after="evaluate_risks")
    (task,) = api.get(f"/api/v1/tasks?case_id={case_id}", api.persona("physician")).json["items"]
    seen = api.get(f"/api/v1/tasks/{task['id']}", api.persona("physician")).json["data"]["risk_evaluation_sha256"]
    request = {"request_batch": True, "attest_immediate_significant_hazard": True,
               "attest_no_suitable_alternative": False, "patient_condition_considerations": "stable",
               "risk_evaluation_version_seen": seen}
    refused = api.post(f"/api/v1/tasks/{task['id']}/complete", {"data": request}, api.persona("physician"))
    assert refused.status_code == 422 and refused.json["requirement"] == "OOS-03"
    assert "attest_no_suitable_alternative" in refused.json["detail"]
    case = api.get(f"/api/v1/cases/{case_id}").json
    assert [t["element_id"] for t in case["open_tasks"]] == ["physician_decision"]


def test_oos_09_qp_verifications_are_preconditions_of_supply(api: Api, clock: FrozenClock) -> None:
    # REQ: OOS-09
    case_id = open_case(api)  # an imported batch: batch verifications and import procedures
    completed = api.work_case(clock, case_id, "authorised", stop_after="physician_decision")
    assert "supply_batch" not in completed
    open_tasks = [t["element_id"] for t in api.get(f"/api/v1/cases/{case_id}").json["open_tasks"]]
    assert open_tasks == ["verify_batch_verifications"]
    completed = api.work_case(clock, case_id, "authorised", stop_after="supply_batch")
    assert completed.index("verify_import_procedures") < completed.index("supply_batch")


def closed_case(api: Api, clock: FrozenClock, scenario: str = "authorised") -> dict:
    case_id = open_case(api, scenario)
    api.work_case(clock, case_id, scenario)
    return api.get(f"/api/v1/cases/{case_id}").json


def test_oos_16_a_case_cannot_close_while_a_record_is_missing_and_the_refusal_lists_them(
    api: Api, clock: FrozenClock
) -> None:
    # REQ: OOS-16 OOS-17
    case_id = open_case(api)
    api.work_case(clock, case_id, "authorised", until_ready="review_records_and_close")
    (task,) = api.get(f"/api/v1/tasks?case_id={case_id}", api.persona("qa")).json["items"]
    assert task["element_id"] == "review_records_and_close"
    refused = api.post(f"/api/v1/tasks/{task['id']}/complete",
                       {"data": {"records_complete": True, "closure_summary": "done"}}, api.persona("qa"))
    assert refused.status_code == 422 and refused.json["requirement"] == "OOS-16"
    for label in ("batch manufacture records", "all testing records", "transport and storage records"):
        assert label in refused.json["detail"]
    assert "physician's request" not in refused.json["detail"]  # captured by the process itself
    upload = api.post(f"/api/v1/cases/{case_id}/records", {
        "record_type": "testing_records", "filename": "qc.pdf", "content_base64": "JVBERi0xLjcKJSBxYwo="})
    assert upload.status_code == 201 and len(upload.json["sha256"]) == 64
    assert api.post(f"/api/v1/cases/{case_id}/records", {
        "record_type": "testing_records", "filename": "qc.pdf", "content_base64": "JVBERi0xLjcKJSBxYwo="},
        api.persona("physician")).status_code == 403
    again = api.post(f"/api/v1/tasks/{task['id']}/complete",
                     {"data": {"records_complete": True, "closure_summary": "done"}}, api.persona("qa"))
    assert "all testing records" not in again.json["detail"] and "batch manufacture records" in again.json["detail"]


def test_oos_13_case_shows_its_deadline_met(api: Api, clock: FrozenClock) -> None:
    # REQ: OOS-13
    case = closed_case(api, clock)
    (sa,) = [d for d in case["deadlines"] if d["requirement"] == "OOS-13"]
    assert sa["status"] == "met" and sa["late_by_hours"] is None and sa["met_at"] <= sa["due_at"]
    assert not [n for n in case["notifications"] if n["subject"].startswith("[LATE]")]


def test_oos_13_the_48_hour_path_escalates_marks_overdue_and_sends_late_flagged_late(
    api: Api, app: Oospath, clock: FrozenClock
) -> None:
    # REQ: OOS-13 (the scheduler runs beside the API: here it is called as `oospath scheduler` would)
    case_id = open_case(api)
    api.work_case(clock, case_id, "authorised", stop_after="supply_batch")
    case = api.get(f"/api/v1/cases/{case_id}").json
    (deadline,) = [d for d in case["deadlines"] if d["requirement"] == "OOS-13"]
    assert deadline["status"] == "open"
    due = datetime.fromisoformat(deadline["due_at"])
    assert datetime.fromisoformat(deadline["escalates_at"]) == due - timedelta(hours=12)
    clock.set(due - timedelta(hours=11))
    assert fire_due(app) == 1  # escalation, 12 h before expiry
    clock.set(due + timedelta(hours=5))
    assert fire_due(app) == 1  # overdue
    api.pump()  # the workers deliver what the timers started
    case = api.get(f"/api/v1/cases/{case_id}").json
    (deadline,) = [d for d in case["deadlines"] if d["requirement"] == "OOS-13"]
    assert deadline["status"] == "overdue"
    qa_head = [n["subject"] for n in case["notifications"] if n["party"] == "qa_head"]
    assert len(qa_head) == 2 and "overdue" in qa_head[1]
    api.work_case(clock, case_id, "authorised", stop_after="approve_sa_notification")  # sent late, not blocked
    case = api.get(f"/api/v1/cases/{case_id}").json
    (deadline,) = [d for d in case["deadlines"] if d["requirement"] == "OOS-13"]
    assert deadline["status"] == "late" and deadline["late_by_hours"] >= 5
    (sa,) = [n for n in case["notifications"] if n["party"] == "supervisory_authority" and n["requirement"] == "OOS-13"]
    assert sa["subject"].startswith("[LATE]")


def test_oos_18_patient_information_is_rendered_for_the_treating_country_and_confirmed(
    api: Api, clock: FrozenClock
) -> None:
    # REQ: OOS-18
    case_id = open_case(api)  # treating site in France
    api.work_case(clock, case_id, "authorised", until_ready="confirm_patient_informed_and_administration")
    (task,) = api.get(f"/api/v1/tasks?case_id={case_id}", api.persona("physician")).json["items"]
    assert task["element_id"] == "confirm_patient_informed_and_administration"
    shown = api.get(f"/api/v1/tasks/{task['id']}", api.persona("physician")).json["data"]["patient_information"]
    assert shown["language"] == "fr" and "viability" in shown["text"]
    assert "CART19" in shown["text"] or "CAR-T" in shown["text"]
    records = api.get(f"/api/v1/cases/{case_id}").json["records"]
    assert "patient_information" in {r["record_type"] for r in records}
    refused = api.post(f"/api/v1/tasks/{task['id']}/complete", {"data": {"patient_informed": False}},
                       api.persona("physician"))
    assert refused.status_code == 422  # the physician must confirm the patient was informed


def test_oos_19_any_one_identifier_finds_the_dose_decision_and_pv_case(api: Api, clock: FrozenClock) -> None:
    # REQ: OOS-19
    case = closed_case(api, clock)
    for query in ("pv_case_reference=PV-2026-004211", "patient_pseudonym=PT-7F3A91",
                  "chain_of_identity_id=COI-DE-000731", f"case_id={case['id']}"):
        (found,) = api.get(f"/api/v1/pharmacovigilance/administrations?{query}").json["items"]
        assert found["case_reference"] == case["reference"] and found["dose"].startswith("2.1")
        assert found["oos_findings"][0]["attribute"] == "viability"
        assert found["decision_record_sha256"] == next(
            r["sha256"] for r in case["records"] if r["record_type"] == "physician_request")
    assert api.get("/api/v1/pharmacovigilance/administrations?pv_case_reference=none").json["items"] == []


def register_oos_batch(api: Api, batch_id: str, country: str, manufacturer: str, importer: str | None,
                       mah: str) -> None:
    results = [{"attribute": "viability", "value": 73.0, "unit": "%"},
               {"attribute": "car_t_dose", "value": 2.0, "unit": "x10^8 cells"},
               {"attribute": "transduction_efficiency", "value": 35.0, "unit": "%"},
               {"attribute": "vector_copy_number", "value": 2.1, "unit": "copies/transduced cell"},
               {"attribute": "ifn_gamma_release", "value": 1500.0, "unit": "pg/mL"},
               {"attribute": "endotoxin", "value": 0.5, "unit": "EU/mL"},
               {"attribute": "sterility", "text": "no growth"}, {"attribute": "mycoplasma", "text": "not detected"},
               {"attribute": "replication_competent_lentivirus", "text": "not detected"}]
    response = api.post("/api/v1/batches", {
        "batch_id": batch_id, "product_code": catalogue.CART19_AUTH, "manufactured_at": "2026-10-02T08:00:00Z",
        "imported": importer is not None, "manufacturer": manufacturer, "importer": importer, "mah": mah,
        "treating_site": "Site", "treating_country": country, "results": results})
    assert response.status_code == 201 and response.json["out_of_specification"], response.json


def open_case_for(api: Api, batch_id: str) -> str:
    response = api.post("/api/v1/cases", {"batch_id": batch_id, "exceptional_use_reason": EXCEPTIONAL_USE_REASON})
    assert response.status_code == 201, response.json
    return response.json["id"]


def test_oos_14_the_ncas_answer_is_recorded_and_reused_by_the_next_case(api: Api, clock: FrozenClock) -> None:
    # REQ: OOS-14
    first = open_case(api)  # France: not confirmed in the register
    completed = api.work_case(clock, first, "authorised")
    assert completed.index("supply_batch") < completed.index("confirm_nca_requirement")
    assert completed.index("physician_decision") < completed.index("supply_batch")  # the patient never waits
    case = api.get(f"/api/v1/cases/{first}").json
    sa_at = next(n["delivered_at"] for n in case["notifications"] if n["party"] == "supervisory_authority"
                 and n["requirement"] == "OOS-13")
    nca_at = next(n["delivered_at"] for n in case["notifications"] if n["party"] == "national_competent_authority")
    trail = api.every(f"/api/v1/cases/{first}/audit")
    answered_at = next(e["at"] for e in trail if e["action"] == "task.completed"
                       and e["element_id"] == "confirm_nca_requirement")
    # informed with the Supervisory Authority, or as soon as the NCA has said it must be
    assert nca_at == max(sa_at, answered_at)
    register_oos_batch(api, "CART19-26-0900", "FR", catalogue.CASCADIA, catalogue.LOWLANDS_IMPORT,
                       catalogue.NORDLICHT)
    second = open_case_for(api, "CART19-26-0900")
    completed = api.work_case(clock, second, "authorised")
    assert "confirm_nca_requirement" not in completed  # the recorded answer is reused
    parties = {n["party"] for n in api.get(f"/api/v1/cases/{second}").json["notifications"]}
    assert "national_competent_authority" in parties


def test_oos_15_distinct_legal_entities_communicate_only_under_an_agreement_in_force(
    api: Api, clock: FrozenClock
) -> None:
    # REQ: OOS-15
    register_oos_batch(api, "CART19-26-0901", "DE", catalogue.HELIX, None, catalogue.NORDLICHT)
    case_id = open_case_for(api, "CART19-26-0901")
    tasks = api.get(f"/api/v1/tasks?case_id={case_id}", api.persona("qa")).json["items"]
    gate = next(t for t in tasks if t["element_id"] == "confirm_written_agreement_in_force")
    refused = api.post(f"/api/v1/tasks/{gate['id']}/complete", {"data": {"agreement_reference": "AGR-HN"}})
    assert refused.status_code == 422 and refused.json["requirement"] == "OOS-15"
    assert catalogue.HELIX in refused.json["detail"]
    case = api.get(f"/api/v1/cases/{case_id}").json
    assert {n["party"] for n in case["notifications"]} == {"treating_physician"}  # the patient is not held up
    # the parties put an agreement in force that makes the manufacturer talk to the Supervisory Authority
    agreement = api.post("/api/v1/process-instances", {"key": "written_agreement", "data": {}},
                         api.persona("qa")).json
    forms = {
        "draft_agreement": {"agreement_reference": "AGR-HN", "manufacturer": catalogue.HELIX, "importer": None,
                            "mah": catalogue.NORDLICHT, "valid_from": "2025-01-01", "valid_to": "2030-12-31",
                            "responsibilities": {"treating_physician": "manufacturer",
                                                 "supervisory_authority": "manufacturer",
                                                 "national_competent_authority": "mah",
                                                 "sponsor_competent_authority": "manufacturer",
                                                 "ema_periodic_review": "mah"}},
        "review_agreement": {"approved": True},
        **{f"sign_for_{p}": {f"{p}_signatory_name": p.title(), f"{p}_signed": True,
                             f"{p}_signature_meaning": "I approve this written agreement and the responsibilities "
                                                       "it assigns"} for p in ("manufacturer", "mah")},
    }
    for _ in range(6):
        open_tasks = api.get(f"/api/v1/process-instances/{agreement['id']}").json["open_tasks"]
        if not open_tasks:
            break
        task = open_tasks[0]
        role = {"qa": "qa", "mah_ra": "mah_ra"}[task["role"]]
        done = api.post(f"/api/v1/tasks/{task['id']}/complete", {"data": forms[task["element_id"]]},
                        api.persona(role))
        assert done.status_code == 200, done.json
    accepted = api.post(f"/api/v1/tasks/{gate['id']}/complete", {"data": {"agreement_reference": "AGR-HN"}})
    assert accepted.status_code == 200, accepted.json
    api.work_case(clock, case_id, "authorised", stop_after="supply_batch")
    approval = [t for t in api.get(f"/api/v1/cases/{case_id}").json["open_tasks"]
                if t["element_id"] == "approve_sa_notification"]
    assert [t["role"] for t in approval] == ["qa"]  # assigned to the party the agreement names


def test_oos_06_a_revised_risk_evaluation_voids_the_request_and_asks_the_physician_again(
    api: Api, clock: FrozenClock
) -> None:
    # REQ: OOS-06 OOS-05
    case_id = open_case(api)
    api.work_case(clock, case_id, "authorised", stop_after="physician_decision")
    revised = dict(api.get(f"/api/v1/cases/{case_id}/risk-evaluations").json["items"][0]["content"])
    for key in ("risk_evaluation_version", "risk_evaluation_sha256"):
        revised.pop(key, None)
    revised["residual_risk"] = "Higher than first assessed: endotoxin trend on the shipper."
    response = api.post(f"/api/v1/cases/{case_id}/risk-evaluations", revised)
    assert response.status_code == 201, response.json
    assert response.json["version"] == 2
    open_tasks = [t["element_id"] for t in api.get(f"/api/v1/cases/{case_id}").json["open_tasks"]]
    assert open_tasks == ["physician_decision"]  # the QP's verification of the old request is gone
    diff = api.get(f"/api/v1/cases/{case_id}/risk-evaluations?diff=1,2").json["diff"]
    assert list(diff["changes"]) == ["residual_risk"]
    (task,) = api.get(f"/api/v1/tasks?case_id={case_id}", api.persona("physician")).json["items"]
    shown = api.get(f"/api/v1/tasks/{task['id']}", api.persona("physician")).json["data"]
    assert shown["risk_evaluation_sha256"] == response.json["sha256"] and shown["risk_evaluation_version"] == 2
    trail = [e["action"] for e in api.every(f"/api/v1/cases/{case_id}/audit")]
    assert "risk_evaluation.revised" in trail
    assert api.post(f"/api/v1/cases/{case_id}/risk-evaluations", revised, api.persona("physician")).status_code == 403
    completed = api.work_case(clock, case_id, "authorised")
    assert completed[0] == "physician_decision" and "supply_batch" in completed


def test_oos_01_only_a_batch_outside_its_specification_starts_a_case(api: Api) -> None:
    # REQ: OOS-01
    refused = api.post("/api/v1/cases", {"batch_id": catalogue.BATCH_IN_SPEC, "exceptional_use_reason": "x"})
    assert refused.status_code == 422 and refused.json["requirement"] == "OOS-01"
    assert api.get(f"/api/v1/batches/{catalogue.BATCH_BOUNDARY_IN_SPEC}").json["out_of_specification"] is False
    case = api.get(f"/api/v1/cases/{open_case(api)}").json
    assert case["findings"][0]["attribute"] == "viability" and case["specification_version"] == 2


def test_oos_02_only_cell_tissue_products_and_every_case_records_why_it_is_exceptional(api: Api) -> None:
    # REQ: OOS-02
    refused = api.post("/api/v1/cases", {"batch_id": catalogue.BATCH_NON_CELL_OOS, "exceptional_use_reason": "x"})
    assert refused.status_code == 422 and refused.json["requirement"] == "OOS-02"
    blank = api.post("/api/v1/cases", {"batch_id": catalogue.BATCH_VIABILITY_OOS, "exceptional_use_reason": " "})
    assert blank.status_code == 422 and blank.json["requirement"] == "OOS-02"
    case = api.get(f"/api/v1/cases/{open_case(api)}").json
    assert case["exceptional_use_reason"] == EXCEPTIONAL_USE_REASON


def test_oos_04_oos_10_the_physician_is_informed_first_with_attributes_values_and_limits(api: Api) -> None:
    # REQ: OOS-04 OOS-10
    case = api.get(f"/api/v1/cases/{open_case(api)}").json
    assert case["notifications"][0]["party"] == "treating_physician"
    assert [t["element_id"] for t in case["open_tasks"] if t["role"] == "qa"] == ["investigate_oos"]
    (physician,) = [d for d in case["deadlines"] if d["requirement"] == "OOS-04"]
    assert physician["status"] == "met"
    trail = api.every(f"/api/v1/cases/{case['id']}/audit")
    requested = next(e for e in trail if e["action"] == "work.requested")
    assert requested["element_id"] == "inform_treating_physician"  # the first work of the case


def test_oos_07_a_declined_batch_is_not_supplied_and_its_disposition_recorded(api: Api, clock: FrozenClock) -> None:
    # REQ: OOS-07
    case = closed_case(api, clock, "declined")
    assert case["outcome"] == "not_supplied"
    assert "batch_disposition" in {r["record_type"] for r in case["records"]}
    trail = api.every(f"/api/v1/cases/{case['id']}/audit")
    disposition = next(e for e in trail if e["element_id"] == "record_batch_disposition"
                       and e["action"] == "task.completed")
    assert disposition["data_after"]["disposition"] == "destroyed"


def test_oos_11_clinical_trial_sponsor_informed_promptly_and_its_authority_notification_tracked(
    api: Api, clock: FrozenClock
) -> None:
    # REQ: OOS-11
    case = closed_case(api, clock, "clinical-trial")
    assert {n["party"] for n in case["notifications"]} == {"treating_physician", "sponsor"}
    (sponsor,) = [d for d in case["deadlines"] if d["requirement"] == "OOS-11"]
    assert sponsor["status"] == "met"
    trail = api.every(f"/api/v1/cases/{case['id']}/audit")
    tracked = next(e for e in trail if e["element_id"] == "record_sponsor_ca_notification")
    assert tracked["data_after"]["reference"].startswith("CTIS") and tracked["role"] == "sponsor"


def test_oos_12_authorised_product_mah_and_supervisory_authority_are_informed(api: Api) -> None:
    # REQ: OOS-12
    case = api.get(f"/api/v1/cases/{open_case(api)}").json
    informed = [n for n in case["notifications"] if n["requirement"] == "OOS-12"]
    assert {n["party"] for n in informed} == {"mah", "supervisory_authority"}


def test_oos_17_records_are_hashed_attributed_and_cannot_be_deleted(api: Api, app: Oospath,
                                                                    clock: FrozenClock) -> None:
    # REQ: OOS-17
    case = closed_case(api, clock)
    assert app.settings.record_store is not None
    for record in case["records"]:
        content = (app.settings.record_store / record["sha256"][:2] / record["sha256"]).read_bytes()
        assert hashlib.sha256(content).hexdigest() == record["sha256"]
        assert record["captured_by"] and record["captured_at"]
    assert api.get(f"/api/v1/cases/{case['id']}/audit").json["chain_intact"] is True
    with pytest.raises(Exception, match="append-only"), app.db.begin() as conn:
        conn.execute(text("DELETE FROM records"))


def test_oos_14_a_dutch_case_informs_igj_with_the_risk_analysis_attached(
    api: Api, app: Oospath, clock: FrozenClock
) -> None:
    # REQ: OOS-14 (national overlay: the Dutch IGJ wants the risk analysis with the notification)
    register_oos_batch(api, "CART19-26-0902", "NL", catalogue.CASCADIA, catalogue.LOWLANDS_IMPORT,
                       catalogue.NORDLICHT)
    case_id = open_case_for(api, "CART19-26-0902")
    completed = api.work_case(clock, case_id, "authorised")
    assert "confirm_nca_requirement" not in completed  # the register says IGJ must be informed
    case = api.get(f"/api/v1/cases/{case_id}").json
    (igj,) = [n for n in case["notifications"] if n["party"] == "national_competent_authority"]
    assert app.settings.mail_outbox is not None
    eml = app.settings.mail_outbox / f"{igj['message_id'].strip('<>')}.eml"
    mail = message_from_bytes(eml.read_bytes(), policy=default)
    attachments = [part.get_filename() for part in mail.iter_attachments()]
    assert len(attachments) == 1 and attachments[0].startswith("risk_analysis-")
