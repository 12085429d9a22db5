"""Read side of the audit trail for auditors (OOS-24)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.services.audit import verify_chain
from engine.services.pages import PageRequest, keyset
from engine.store.models import AuditEntry, CaseRow, ProcessDefinition, ProcessInstance


def element_names(session: Session, instance_id: str) -> dict[str, str]:
    instance = session.get(ProcessInstance, instance_id)
    definition = session.get(ProcessDefinition, instance.definition_id) if instance else None
    if definition is None:
        return {}
    return {eid: (info.get("name") or eid).replace("\n", " ") for eid, info in definition.elements.items()}


def case_trail(session: Session, case_id: str, page: PageRequest | None = None) -> Any:
    """The case's audit entries in the order they were written (by sequence): a list, or with ``page`` one
    page of them."""
    case = session.get(CaseRow, case_id)
    instance_id = case.instance_id if case else None
    query = select(AuditEntry).where((AuditEntry.case_id == case_id) | (AuditEntry.instance_id == instance_id))
    if page is not None:
        return keyset(session, query, (AuditEntry.id,), ("integer",), page)
    return list(session.scalars(query.order_by(AuditEntry.id)))


def instance_trail(session: Session, instance_id: str, page: PageRequest | None = None) -> Any:
    """One stream's entries by sequence (index on stream and sequence): a list, or with ``page`` one page."""
    query = select(AuditEntry).where(AuditEntry.stream == instance_id)
    if page is not None:
        return keyset(session, query, (AuditEntry.id,), ("integer",), page)
    return list(session.scalars(query.order_by(AuditEntry.id)))


def chain_intact(session: Session, instance_id: str) -> list[int]:
    return verify_chain(instance_trail(session, instance_id))


def describe(entry: AuditEntry, names: dict[str, str] | None = None) -> str:
    """One line a reader understands; ``names`` maps element ids to their BPMN names."""
    after = entry.data_after or {}
    name = (names or {}).get(entry.element_id or "", entry.element_id or "")
    if entry.action == "task.completed":
        return name
    if entry.action == "timer.fired":
        return f"deadline timer fired: {name}"
    if entry.action == "notification.delivered":
        return f"notified {after.get('party')}: {name}"
    if entry.action == "record.captured":
        return f"record captured: {after.get('record_type')} sha256 {str(after.get('sha256'))[:12]}…"
    if entry.action == "case.opened":
        return f"case {after.get('reference')} opened for batch {after.get('batch_id')}"
    if entry.action == "instance.completed":
        return f"case closed at end event '{name}'"
    if entry.action == "history.archived":
        elements = sorted({(names or {}).get(t.get("element_id", ""), t.get("element_id", ""))
                           for t in after.get("tasks", [])})
        return f"earlier loop iterations archived: {len(after.get('tasks', []))} tasks of {', '.join(elements)}"
    return f"{entry.action}: {name}"
