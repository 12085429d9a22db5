"""What a worklist shows beside each task: its case's reference and whether its deadline escalated (OOS-13)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.domain import pathway_elements as pe
from engine.store.models import CaseRow, Timer


def references_of(session: Session, case_ids: set[str]) -> dict[str, str]:
    """Case id → the case reference users quote (OOS-YYYY-NNNN)."""
    if not case_ids:
        return {}
    rows = session.execute(select(CaseRow.id, CaseRow.reference).where(CaseRow.id.in_(sorted(case_ids))))
    return {case_id: reference for case_id, reference in rows}


def escalated_instances(session: Session, instance_ids: set[str], now: datetime) -> set[str]:
    """Instances whose Supervisory Authority escalation time has come while the deadline is still open."""
    if not instance_ids:
        return set()
    query = select(Timer.instance_id).where(
        Timer.instance_id.in_(sorted(instance_ids)), Timer.element_id == pe.SA_DEADLINE_ESCALATION,
        ((Timer.status == "fired") | ((Timer.status == "waiting") & (Timer.due_at <= now))))
    return set(session.scalars(query))
