"""Human tasks: list, claim, complete (with form validation and role checks, OOS-25)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.services import audit, events
from engine.services.audit import AuditEvent
from engine.services.errors import Conflict, Forbidden, NotFound
from engine.services.identity import Actor
from engine.services.pathway_rules import Completion, apply_rules
from engine.services.runtime import Runtime, engine_errors, json_clean
from engine.services.validation import validate_against
from engine.store.models import ProcessDefinition, ProcessInstance, TaskRow


def get_task(session: Session, task_id: str) -> TaskRow:
    row = session.get(TaskRow, task_id)
    if row is None:
        raise NotFound(f"task {task_id} does not exist")
    return row


def list_tasks(
    session: Session,
    *,
    roles: set[str] | None = None,
    case_id: str | None = None,
    instance_id: str | None = None,
    state: str | None = "ready",
    kind: str | None = "user",
) -> list[TaskRow]:
    query = select(TaskRow).order_by(TaskRow.created_at, TaskRow.id)
    if state:
        query = query.where(TaskRow.state == state)
    if kind:
        query = query.where(TaskRow.kind == kind)
    if roles is not None:
        query = query.where((TaskRow.role.in_(sorted(roles))) | (TaskRow.role.is_(None)))
    if case_id:
        query = query.where(TaskRow.case_id == case_id)
    if instance_id:
        query = query.where(TaskRow.instance_id == instance_id)
    return list(session.scalars(query))


def form_schema(session: Session, row: TaskRow) -> dict[str, Any] | None:
    if row.form is None:
        return None
    instance = session.get(ProcessInstance, row.instance_id)
    assert instance is not None
    definition = session.get(ProcessDefinition, instance.definition_id)
    assert definition is not None
    return definition.forms.get(row.form)


def task_data(session: Session, runtime: Runtime, row: TaskRow) -> dict[str, Any]:
    """The process data as the task sees it (what the user decides on, e.g. OOS-04/OOS-06)."""
    loaded = runtime.load(session, row.instance_id)
    return json_clean(runtime.task(loaded, row.id).data)


def _check_actor(row: TaskRow, actor: Actor) -> None:
    if not actor.has_role(row.role):
        raise Forbidden(
            f"OOS-25: task '{row.name or row.element_id}' belongs to role '{row.role}'; "
            f"user '{actor.user}' holds {sorted(actor.roles) or 'no roles'}"
        )
    if row.assignee is not None and row.assignee != actor.user:
        raise Conflict(f"task '{row.name or row.element_id}' is claimed by '{row.assignee}'")


def _check_open(row: TaskRow) -> None:
    if row.state != "ready":
        raise Conflict(f"task '{row.name or row.element_id}' is {row.state}, not open for work")


def claim_task(session: Session, runtime: Runtime, task_id: str, actor: Actor) -> TaskRow:
    row = get_task(session, task_id)
    _check_open(row)
    _check_actor(row, actor)
    row.assignee = actor.user
    audit.append(session, runtime.clock.now(), actor, AuditEvent(
        "task.claimed", instance_id=row.instance_id, case_id=row.case_id,
        element_id=row.element_id, task_id=row.id,
    ), role=row.role)
    return row


def complete_task(
    session: Session, runtime: Runtime, task_id: str, data: dict[str, Any], actor: Actor,
    reason: str | None = None,
) -> TaskRow:
    """Validate, run the user task, advance the engine and persist: one transaction."""
    row = get_task(session, task_id)
    if row.kind != "user":
        raise Conflict(f"task '{row.element_id}' is performed by a worker, not by a user")
    _check_open(row)
    _check_actor(row, actor)
    validate_against(form_schema(session, row), data)
    loaded = runtime.load(session, row.instance_id)
    task = runtime.task(loaded, task_id)
    now = runtime.clock.now()
    data = dict(data)
    apply_rules(Completion(session, now, row, data, task.data, actor))
    before = {key: task.data.get(key) for key in data}
    task.set_data(**data)
    with engine_errors(loaded):
        task.run()
    row.state = "completed"
    row.completed_at = now
    row.completed_by = actor.user
    audit.append(session, now, actor, AuditEvent(
        "task.completed", instance_id=row.instance_id, case_id=row.case_id, element_id=row.element_id,
        task_id=row.id, data_before=json_clean(before), data_after=json_clean(data), reason=reason,
    ), role=row.role)
    runtime.advance(session, loaded, actor)
    events.element_completed(session, now, row.case_id, row.element_id, data)
    return row
