"""The pathway's regulatory rules that need the database, enforced when a user task completes.

Rules that are tables live in DMN; rules about data live in the forms; these are the
ones that must look beyond the task: the risk evaluation version the physician saw
(OOS-06), the written agreement in force (OOS-15), the NCA's recorded answer (OOS-14),
the records a case needs before it closes (OOS-16). Each refusal names its rule.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.domain import pathway_elements as pe
from engine.services import agreements, plausible_times
from engine.services.errors import InvalidData, RuleViolation
from engine.services.identity import Actor
from engine.store.evidence_models import RecordRow
from engine.store.models import Administration, CaseRow, NcaAnswer, RiskEvaluation, TaskRow

CAPTURED_REQUEST = "capture_physician_request_record_result"  # the records worker's result (resultVariable)
REQUIRED_RECORDS = {
    "batch_manufacture_record": "batch manufacture records",
    "testing_records": "all testing records",
    "transport_storage_records": "transport and storage records",
    "physician_request": "the treating physician's request",
    "risk_analysis": "the risk analysis provided to the physician",
    "oos_investigation": "the OOS investigation and its risk assessment (impact on product quality)",
}


@dataclass
class Completion:
    """A user task about to be (or just) completed, with the data the user submitted."""

    session: Session
    at: datetime
    task: TaskRow
    data: dict[str, Any]
    process_data: dict[str, Any]
    actor: Actor

    @property
    def case(self) -> CaseRow | None:
        return self.session.get(CaseRow, self.task.case_id) if self.task.case_id else None


def canonical_sha256(content: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def latest_risk_evaluation(session: Session, case_id: str) -> RiskEvaluation | None:
    return session.scalars(select(RiskEvaluation).where(RiskEvaluation.case_id == case_id)
                           .order_by(RiskEvaluation.version.desc())).first()


def risk_evaluation_versions(session: Session, case_id: str) -> list[RiskEvaluation]:
    return list(session.scalars(select(RiskEvaluation).where(RiskEvaluation.case_id == case_id)
                                .order_by(RiskEvaluation.version)))


def diff_risk_evaluations(versions: list[RiskEvaluation], spec: str) -> dict[str, Any]:
    """Field-by-field changes between two versions, ``spec`` = "1,2" (OOS-05: diffable)."""
    try:
        old_number, new_number = (int(part) for part in spec.split(","))
    except ValueError as exc:
        raise InvalidData(f"diff takes two version numbers like '1,2', not '{spec}'") from exc
    by_number = {v.version: v for v in versions}
    if old_number not in by_number or new_number not in by_number:
        raise InvalidData(f"versions {spec} do not both exist (have: {sorted(by_number)})")
    old, new = by_number[old_number].content, by_number[new_number].content
    return {"from": old_number, "to": new_number, "changes": {
        key: {"from": old.get(key), "to": new.get(key)}
        for key in sorted(set(old) | set(new)) if old.get(key) != new.get(key)}}


def version_risk_evaluation(c: Completion) -> None:
    """OOS-05: every risk evaluation is a new version with its SHA-256, handed on to the physician's task."""
    case = c.case
    if case is None:
        return
    previous = latest_risk_evaluation(c.session, case.id)
    evaluation = RiskEvaluation(case_id=case.id, version=(previous.version + 1) if previous else 1,
                                content=dict(c.data), sha256=canonical_sha256(c.data), author=c.actor.user,
                                approved_by=c.data.get("approved_by"), created_at=c.at)
    c.session.add(evaluation)
    c.data.update(risk_evaluation_version=evaluation.version, risk_evaluation_sha256=evaluation.sha256)


def check_physician_request(c: Completion) -> None:
    """OOS-03 and OOS-06: a request carries both attestations and names the risk evaluation version seen."""
    if c.data.get("request_batch") is not True:
        return
    missing = [name for name in ("attest_immediate_significant_hazard", "attest_no_suitable_alternative")
               if c.data.get(name) is not True]
    if missing:
        raise RuleViolation("OOS-03", "the batch can only be requested when withholding it is an immediate and "
                                      "significant hazard and no suitable alternative exists; not attested: "
                                      + ", ".join(missing))
    case = c.case
    current = latest_risk_evaluation(c.session, case.id) if case else None
    if current is not None and c.data.get("risk_evaluation_version_seen") != current.sha256:
        raise RuleViolation("OOS-06", f"the request must name the risk evaluation it was based on: the current "
                                      f"version is {current.version} (SHA-256 {current.sha256}); read it and "
                                      f"attest that version")


def require_agreement_in_force(c: Completion) -> None:
    """OOS-15: distinct legal entities communicate only under a written agreement in force."""
    case = c.case
    if case is None:
        return
    parties = case.parties
    agreement = agreements.agreement_in_force(c.session, c.at, parties["manufacturer"], parties.get("importer"),
                                              parties.get("mah"))
    if agreement is None:
        names = ", ".join(p for p in (parties["manufacturer"], parties.get("importer"), parties.get("mah")) if p)
        raise RuleViolation("OOS-15", f"no written agreement between {names} is in force; run the "
                                      f"'written_agreement' process to put one in force first")
    quoted = c.data.get("agreement_reference")
    if quoted and quoted != agreement.reference:
        raise RuleViolation("OOS-15", f"the agreement in force between these parties is '{agreement.reference}' "
                                      f"(version {agreement.version}), not '{quoted}': name the agreement in force")
    c.data.update(agreement_in_force=True, agreement_reference=agreement.reference,
                  agreement_version=agreement.version, responsibilities=agreement.responsibilities)


def record_nca_answer(c: Completion) -> None:
    """OOS-14: the NCA's answer is stored per country and reused by later cases."""
    case = c.case
    country = c.process_data.get("treating_country") or (case.parties.get("treating_country") if case else None)
    c.session.add(NcaAnswer(country=str(country).upper(), must_be_informed=bool(c.data["nca_must_be_informed"]),
                            reference=c.data["nca_contact_reference"], case_id=c.task.case_id,
                            recorded_by=c.actor.user, recorded_at=c.at))


def missing_records(session: Session, case_id: str) -> list[str]:
    present = set(session.scalars(select(RecordRow.record_type).where(RecordRow.case_id == case_id)))
    return [label for record_type, label in REQUIRED_RECORDS.items() if record_type not in present]


def require_records(c: Completion) -> None:
    """OOS-16: a supplied batch's case closes only with every required record captured."""
    missing = missing_records(c.session, c.task.case_id) if c.task.case_id else []
    if missing:
        raise RuleViolation("OOS-16", "the case cannot close while records are missing: " + "; ".join(missing))


def request_in_force(c: Completion, case: CaseRow) -> RecordRow | None:
    """The record of the physician's request the supply followed: the one captured last in this pathway
    (a request voided by a revised risk evaluation was captured before it, OOS-06)."""
    captured = c.process_data.get(CAPTURED_REQUEST) or {}
    record = c.session.get(RecordRow, captured["record_id"]) if captured.get("record_id") else None
    if record is not None:
        return record
    return c.session.scalars(select(RecordRow).where(RecordRow.case_id == case.id,
                                                     RecordRow.record_type == "physician_request")
                             .order_by(RecordRow.captured_at.desc())).first()


def link_administration(c: Completion) -> None:
    """OOS-19: the administered dose is linked to the OOS decision record in force and the PV case reference."""
    case = c.case
    if case is None:
        return
    administered_at = plausible_times.check_administration(c, case)
    decision = request_in_force(c, case)
    c.session.add(Administration(
        case_id=case.id, batch_id=case.batch_id,
        administered_at=administered_at,
        dose=c.data["dose"], patient_pseudonym=c.data["patient_pseudonym"],
        chain_of_identity_id=c.data["chain_of_identity_id"], pv_case_reference=c.data["pv_case_reference"],
        decision_record_sha256=decision.sha256 if decision else None, recorded_by=c.actor.user))


Rule = Callable[[Completion], None]
BEFORE_COMPLETION: dict[str, list[Rule]] = {
    pe.EVALUATE_RISKS: [version_risk_evaluation],
    pe.PHYSICIAN_DECISION: [check_physician_request],
    pe.CONFIRM_WRITTEN_AGREEMENT_IN_FORCE: [require_agreement_in_force],
    pe.CONFIRM_NCA_REQUIREMENT: [record_nca_answer],
    pe.SUPPLY_BATCH: [plausible_times.check_supply],
    pe.RECORD_SPONSOR_CA_NOTIFICATION: [plausible_times.check_sponsor_notification],
    pe.REVIEW_RECORDS_AND_CLOSE: [require_records],
    pe.CONFIRM_PATIENT_INFORMED_AND_ADMINISTRATION: [link_administration],
}


def apply_rules(c: Completion) -> None:
    for rule in BEFORE_COMPLETION.get(c.task.element_id, []):
        rule(c)

