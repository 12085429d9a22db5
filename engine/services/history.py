"""The history of an instance's earlier loop iterations, kept in the audit trail (issue 10, item 3; OOS-24).

Before an instance's state is saved, :func:`archive_earlier_iterations` has its running process take the
finished earlier iterations of its loops out of the live task tree
(:meth:`~engine.bpmn.running_process.RunningProcess.archive_earlier_iterations`), so that a step costs the
same at the 200th round of a loop as at the 10th, and records each task that left (element, task id, state,
completion time, data delta) in one hash-chained ``history.archived`` audit row of the instance's stream, in
the step's transaction. :func:`archived_tasks` reads them back: which elements completed stays answerable
after they left the tree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.bpmn.running_process import RunningProcess
from engine.services import audit
from engine.services.audit import AuditEvent
from engine.services.identity import SYSTEM
from engine.store.models import AuditEntry

ARCHIVED = "history.archived"


def archive_earlier_iterations(
    session: Session, process: RunningProcess, now: datetime, instance_id: str, case_id: str | None
) -> int:
    """Archive the earlier loop iterations of one instance into its audit stream; returns how many tasks left
    the live tree (0 for a process without loops)."""
    archived = process.archive_earlier_iterations()
    if archived:
        audit.append(
            session, now, SYSTEM,
            AuditEvent(ARCHIVED, instance_id=instance_id, case_id=case_id,
                       data_after={"tasks": [task.as_record() for task in archived]},
                       reason=f"{len(archived)} tasks of earlier loop iterations left the live task tree"),
            role="system",
        )
    return len(archived)


def archived_tasks(session: Session, instance_id: str, element_id: str | None = None) -> list[dict[str, Any]]:
    """The tasks archived from one instance's tree, oldest first (optionally of one element)."""
    rows = session.scalars(select(AuditEntry.data_after)
                           .where(AuditEntry.stream == instance_id, AuditEntry.action == ARCHIVED)
                           .order_by(AuditEntry.id))
    tasks = [task for data in rows for task in (data or {}).get("tasks", [])]
    return [task for task in tasks if element_id is None or task["element_id"] == element_id]


def archived_task_data(session: Session, instance_id: str, task_id: str) -> dict[str, Any] | None:
    """The data a user task of an earlier loop iteration was decided on, or None if it was not archived."""
    for task in reversed(archived_tasks(session, instance_id)):
        if task["task_id"] == task_id:
            return task.get("data") or {}
    return None
