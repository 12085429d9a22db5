"""Read side of the audit trail for auditors (OOS-24)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.services.audit import verify_chain
from engine.store.models import AuditEntry, CaseRow


def case_trail(session: Session, case_id: str) -> list[AuditEntry]:
    case = session.get(CaseRow, case_id)
    instance_id = case.instance_id if case else None
    query = select(AuditEntry).where(
        (AuditEntry.case_id == case_id) | (AuditEntry.instance_id == instance_id)
    ).order_by(AuditEntry.id)
    return list(session.scalars(query))


def instance_trail(session: Session, instance_id: str) -> list[AuditEntry]:
    return list(session.scalars(select(AuditEntry).where(AuditEntry.stream == instance_id).order_by(AuditEntry.id)))


def chain_intact(session: Session, instance_id: str) -> list[int]:
    return verify_chain(instance_trail(session, instance_id))


def describe(entry: AuditEntry) -> str:
    after = entry.data_after or {}
    if entry.action == "notification.delivered":
        return f"notified {after.get('party')} ({entry.element_id})"
    if entry.action == "record.captured":
        return f"record captured: {after.get('record_type')} sha256 {str(after.get('sha256'))[:12]}…"
    if entry.action == "case.opened":
        return f"case {after.get('reference')} opened for batch {after.get('batch_id')}"
    return f"{entry.action}: {entry.element_id or ''}"
