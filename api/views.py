"""JSON views of rows shared by several blueprints."""

from __future__ import annotations

from typing import Any

from engine.store.models import AuditEntry, ProcessInstance, TaskRow, Timer


def iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def task_view(t: TaskRow) -> dict[str, Any]:
    return {
        "id": t.id, "name": t.name, "element_id": t.element_id, "kind": t.kind, "role": t.role,
        "state": t.state, "case_id": t.case_id, "batch_id": t.batch_id, "instance_id": t.instance_id,
        "created_at": iso(t.created_at), "due_at": iso(t.due_at), "assignee": t.assignee,
        "completed_at": iso(t.completed_at), "completed_by": t.completed_by,
        "links": {"self": f"/api/v1/tasks/{t.id}", "claim": f"/api/v1/tasks/{t.id}/claim",
                  "complete": f"/api/v1/tasks/{t.id}/complete"},
    }


def timer_view(t: Timer) -> dict[str, Any]:
    return {"element_id": t.element_id, "due_at": iso(t.due_at), "status": t.status, "fired_at": iso(t.fired_at)}


def instance_view(i: ProcessInstance) -> dict[str, Any]:
    return {"id": i.id, "key": i.process_key, "definition_id": i.definition_id, "status": i.status,
            "started_at": iso(i.started_at), "started_by": i.started_by, "completed_at": iso(i.completed_at),
            "end_event": i.end_event, "case_id": i.case_id, "links": {"self": f"/api/v1/process-instances/{i.id}"}}


def audit_view(e: AuditEntry) -> dict[str, Any]:
    return {"id": e.id, "at": iso(e.at), "actor": e.actor, "role": e.role, "action": e.action,
            "element_id": e.element_id, "task_id": e.task_id, "data_before": e.data_before,
            "data_after": e.data_after, "reason": e.reason, "row_hash": e.row_hash, "prev_hash": e.prev_hash}
