"""Revising a case's risk evaluation (OOS-05, OOS-06).

A revision is a new version with its own SHA-256. If the treating physician has already
requested the batch on an earlier version, that request is void: the pathway goes back
to the physician's decision, who reads the new version and asks again. A batch already
supplied cannot be un-supplied, so a revision after supply is refused with the reason.
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.domain import pathway_elements as pe
from engine.services import audit, cases, signatures
from engine.services.audit import AuditEvent
from engine.services.errors import Conflict, Forbidden, RuleViolation
from engine.services.identity import Actor
from engine.services.pathway_rules import Completion, version_risk_evaluation
from engine.services.runtime import Runtime, json_clean, lock_instance
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
    workflow = loaded.workflow
    if any(t.task_spec.bpmn_id == pe.SUPPLY_BATCH for t in workflow.get_tasks(state=TaskState.COMPLETED)):
        raise RuleViolation("OOS-06", f"batch {case.batch_id} is already supplied: record the revision in the "
                                      "investigation and inform the physician; the request cannot be voided")
    decisions = [t for t in workflow.get_tasks(state=TaskState.COMPLETED | TaskState.READY)
                 if t.task_spec.bpmn_id == DECISION]
    if not decisions:
        raise Conflict("the risk evaluation is still being prepared: complete the 'Evaluate risks' task instead")
    now = runtime.clock.now()
    data = dict(content)
    version_risk_evaluation(Completion(session, now, _decision_row(session, decisions[0]), data, {}, actor))
    decision = decisions[0]
    voided = decision.state == TaskState.COMPLETED
    # The decision inherits its data from the task before it, so the new version goes there.
    decision.parent.data.update(data)
    merged = {**json_clean(decision.parent.data)}
    if voided:
        workflow.reset_from_task_id(decision.id, merged)
        row = _decision_row(session, decision)
        row.state, row.completed_at, row.completed_by, row.assignee, row.created_at = "ready", None, None, None, now
    else:
        decision.data.update(merged)
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


def _decision_row(session: Session, task: Any) -> TaskRow:
    row = session.get(TaskRow, str(task.id))
    assert row is not None
    return row
