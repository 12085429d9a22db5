"""Decisions made inside oospath brought into the periodic review as batch outcomes (OOS-20, OOS-21).

:func:`map_case_outcomes`: a QP-certified batch is ``released`` when it was
certified; the batch of a closed OOS case is ``oos_administered`` when the case
recorded its administration and ``oos_not_administered`` otherwise, decided
when the physician decided (or the case closed), with the case's findings as
its categories (severity from the case's risk evaluation: ICH Q9 severity of
harm 1-2 minor, 3 major, 4-5 critical).
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.domain import pathway_elements as pe
from engine.store.models import Administration, AuditEntry, BatchRow, CaseRow, RiskEvaluation, TaskRow
from engine.store.review_models import OosCategoryRow

#: Severity of an OOS category from a case's ICH Q9 risk evaluation (OOS-05): severity of harm 1-5, else risk level.
SEVERITY_OF_HARM = {1: "minor", 2: "minor", 3: "major", 4: "critical", 5: "critical"}
SEVERITY_OF_RISK = {"low": "minor", "medium": "major", "high": "critical"}


def severity_of_evaluation(evaluation: RiskEvaluation | None) -> str:
    """minor, major or critical from the case's latest risk evaluation; ``unclassified`` without one."""
    if evaluation is None:
        return "unclassified"
    harm = evaluation.content.get("severity")
    if isinstance(harm, int) and harm in SEVERITY_OF_HARM:
        return SEVERITY_OF_HARM[harm]
    return SEVERITY_OF_RISK.get(evaluation.risk_level or "", "unclassified")


def _certified_batches(session: Session) -> int:
    """QP-certified batches without an outcome: ``released`` at their certification; returns how many."""
    changed = 0
    certified = session.scalars(select(BatchRow).where(BatchRow.status == "certified", BatchRow.outcome.is_(None)))
    for batch in certified:
        moment = session.scalar(select(AuditEntry.at).where(
            AuditEntry.action == "qp.certified", AuditEntry.data_after["batch_id"].as_string() == batch.batch_id)
            .order_by(AuditEntry.id.desc()).limit(1))
        if moment is not None:
            batch.decided_at, batch.outcome = moment, "released"
            changed += 1
    return changed


def _categorise_from_case(session: Session, case: CaseRow, batch: BatchRow) -> None:
    """The case's findings as the batch's OOS categories, the severity from its latest risk evaluation."""
    evaluation = session.scalar(select(RiskEvaluation).where(RiskEvaluation.case_id == case.id)
                                .order_by(RiskEvaluation.version.desc()).limit(1))
    severity = severity_of_evaluation(evaluation)
    findings = [f for f in case.findings if f.get("reason") != "no result reported"] or case.findings
    for finding in findings:
        session.add(OosCategoryRow(batch_id=batch.batch_id, type=finding.get("reason") or "out of limits",
                                   attribute=finding["attribute"], severity=severity))


def map_case_outcomes(session: Session) -> int:
    """Give QP-certified batches and batches of closed OOS cases their review outcome; returns how many changed."""
    changed = _certified_batches(session)
    closed = session.execute(select(CaseRow, BatchRow).join(BatchRow, BatchRow.batch_id == CaseRow.batch_id)
                             .where(CaseRow.status == "closed", BatchRow.outcome.is_(None))
                             .order_by(CaseRow.closed_at)).all()
    for case, batch in closed:
        administered = session.get(Administration, case.id) is not None
        decided = session.scalar(select(TaskRow.completed_at).where(
            TaskRow.instance_id == case.instance_id, TaskRow.element_id == pe.PHYSICIAN_DECISION,
            TaskRow.state == "completed"))
        batch.decided_at = decided or case.closed_at or case.opened_at
        batch.outcome = "oos_administered" if administered else "oos_not_administered"
        has_categories = session.scalar(select(func.count()).select_from(OosCategoryRow)
                                        .where(OosCategoryRow.batch_id == batch.batch_id))
        if not has_categories:
            _categorise_from_case(session, case, batch)
        changed += 1
    session.flush()
    return changed


__all__ = ["SEVERITY_OF_HARM", "SEVERITY_OF_RISK", "map_case_outcomes", "severity_of_evaluation"]
