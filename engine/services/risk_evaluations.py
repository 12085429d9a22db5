"""Revising a case's risk evaluation (OOS-05, OOS-06).

A revision is a new version with its own SHA-256. If the treating physician has already
requested the batch on an earlier version, that request is void: the pathway goes back
to the physician's decision, who reads the new version and asks again. A batch already
supplied cannot be un-supplied, so a revision after supply is refused with the reason.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.domain import pathway_elements as pe
from engine.services import audit, cases, signatures
from engine.services.audit import AuditEvent
from engine.services.errors import Conflict, Forbidden, RuleViolation
from engine.services.identity import Actor
from engine.services.pathway_rules import Completion, version_risk_evaluation
from engine.services.runtime import Runtime, lock_instance
from engine.services.validation import validate_against
from engine.store.models import ProcessDefinition, RiskEvaluation, TaskRow

EVALUATION_FORM = "risk_evaluation.schema.json"
DECISION = pe.PHYSICIAN_DECISION


def revise_risk_evaluation(
    session: Session, runtime: Runtime, case_id: str, content: dict[str, Any], actor: Actor,
    signature: signatures.Credentials | None = None,
) -> RiskEvaluation:
    """A new, signed version (OOS-24: risk-evaluation approval is an electronic signature)."""
    if not actor.has_role("qa"):
        raise Forbidden("OOS-05: the manufacturer's QA (role qa) evaluates the risks")
    case = cases.get_case(session, case_id)
    if case.status != "open":
        raise Conflict(f"case {case.reference} is {case.status}")
    lock_instance(session, case.instance_id)  # one step at a time per instance (exactly once)
    loaded = runtime.load(session, case.instance_id)
    definition = session.get(ProcessDefinition, loaded.row.definition_id)
    assert definition is not None
    validate_against(definition.forms.get(EVALUATION_FORM), content)
    if loaded.process.element_completed(pe.SUPPLY_BATCH):
        raise RuleViolation("OOS-06", f"batch {case.batch_id} is already supplied: record the revision in the "
                                      "investigation and inform the physician; the request cannot be voided")
    decision_row = _decision_row(session, loaded.row.id)
    now = runtime.clock.now()
    data = dict(content)
    version_risk_evaluation(Completion(session, now, decision_row, data, {}, actor))
    reopened = loaded.process.revise_decision_basis(DECISION, data)
    assert reopened is not None and reopened.task_id == decision_row.id
    voided = reopened.voided
    if voided:
        decision_row.state, decision_row.completed_at, decision_row.completed_by = "ready", None, None
        decision_row.assignee, decision_row.created_at = None, now
    evaluation = session.scalars(select(RiskEvaluation).where(RiskEvaluation.case_id == case.id)
                                 .order_by(RiskEvaluation.version.desc())).first()
    assert evaluation is not None
    signed = signatures.sign(
        session, now, actor, signature, meaning="approval", statement="I approve this revised ICH Q9 risk evaluation",
        subject_type="risk_evaluation", subject_id=f"{case.id}:v{evaluation.version}",
        content={"case_id": case.id, "version": evaluation.version, "sha256": evaluation.sha256, "content": data},
        case_id=case.id, instance_id=case.instance_id, element_id=pe.EVALUATE_RISKS)
    audit.append(session, now, actor, AuditEvent(
        "risk_evaluation.revised", instance_id=case.instance_id, case_id=case.id, element_id=pe.EVALUATE_RISKS,
        data_after={"version": evaluation.version, "sha256": evaluation.sha256, "request_voided": voided,
                    "e_signature": signatures.manifestation(signed)}),
        role="qa")
    runtime.advance(session, loaded, actor)
    return evaluation


def _decision_row(session: Session, instance_id: str) -> TaskRow:
    """The physician's decision task (open, or taken and about to be voided)."""
    row = session.scalars(select(TaskRow).where(
        TaskRow.instance_id == instance_id, TaskRow.element_id == DECISION,
        TaskRow.state.in_(("ready", "completed"))).order_by(TaskRow.created_at.desc())).first()
    if row is None:
        raise Conflict("the risk evaluation is still being prepared: complete the 'Evaluate risks' task instead")
    return row
