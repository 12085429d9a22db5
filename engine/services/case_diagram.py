"""What the case page's diagram marks: completed elements, active tokens and waiting timers (OOS-13, OOS-24).

Read from oospath's own projections — the audit trail (every completed element and task),
the task rows (open work) and the timer rows (due times) — so the marking is exactly what the
audit trail proves, without loading the workflow.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.services import definitions
from engine.services.runtime import STEP_ACTION
from engine.store.models import AuditEntry, CaseRow, ProcessDefinition, ProcessInstance, TaskRow, Timer

COMPLETION_ACTIONS = ("element.completed", "task.completed", "timer.fired")


def process_diagram(session: Session, definition: ProcessDefinition) -> str:
    """The BPMN file of the bundle that defines the process ``definition.key``."""
    files = [f for f in definitions.definition_files(session, definition) if f.filename.endswith(".bpmn")]
    for file in files:
        text = file.content if isinstance(file.content, str) else file.content.decode()
        if f'id="{definition.key}"' in text:
            return text
    return files[0].content if files else ""


def completed_elements(session: Session, instance_id: str) -> set[str]:
    """The elements the instance's audit trail records as completed: user tasks, fired timers, and the elements
    each engine step lists (older installations recorded one ``element.completed`` row per element)."""
    completed = set(session.scalars(select(AuditEntry.element_id).where(
        AuditEntry.stream == instance_id, AuditEntry.action.in_(COMPLETION_ACTIONS),
        AuditEntry.element_id.is_not(None))))
    for step in session.scalars(select(AuditEntry.data_after).where(
            AuditEntry.stream == instance_id, AuditEntry.action == STEP_ACTION)):
        completed.update(element["element_id"] for element in (step or {}).get("elements", []))
    return completed


def diagram_state(session: Session, case: CaseRow, now: datetime) -> dict[str, Any]:
    """The case's diagram and marking; ``version`` changes whenever the marking does."""
    instance = session.get(ProcessInstance, case.instance_id)
    if instance is None:
        return {"bpmn": "", "completed": [], "active": [], "timers": [], "version": "none"}
    completed = sorted(completed_elements(session, instance.id))
    active = sorted(set(session.scalars(select(TaskRow.element_id).where(
        TaskRow.instance_id == instance.id, TaskRow.state.in_(("ready", "waiting"))))))
    timers = [{"element_id": t.element_id, "due_at": t.due_at.isoformat(), "overdue": t.due_at <= now,
               "escalated": False}
              for t in session.scalars(select(Timer).where(Timer.instance_id == instance.id,
                                                           Timer.status == "waiting").order_by(Timer.due_at))]
    marking = f"{instance.version}|{instance.status}|{completed}|{active}|{[t['element_id'] for t in timers]}"
    definition = session.get(ProcessDefinition, instance.definition_id)
    return {"bpmn": process_diagram(session, definition) if definition else "", "completed": completed,
            "active": active, "timers": timers, "status": instance.status,
            "version": hashlib.sha256(marking.encode()).hexdigest()[:16]}
