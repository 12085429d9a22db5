"""Human tasks: list, claim, complete (with form validation and role checks, OOS-25)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.services import access, audit, events, evidence, history, signatures
from engine.services.audit import AuditEvent
from engine.services.errors import Conflict, Forbidden, NotFound
from engine.services.identity import Actor
from engine.services.instruments import timed_step
from engine.services.pages import Page, PageRequest, after_key, decode_cursor, in_order, page_of
from engine.services.pathway_rules import Completion, apply_rules
from engine.services.runtime import Runtime, engine_errors, json_clean, lock_instance
from engine.services.validation import validate_against
from engine.store.models import ProcessDefinition, ProcessInstance, TaskRow


def get_task(session: Session, task_id: str) -> TaskRow:
    row = session.get(TaskRow, task_id)
    if row is None:
        raise NotFound(f"task {task_id} does not exist")
    return row


def task_for_reader(session: Session, task_id: str, actor: Actor) -> TaskRow:
    """A task as the actor may read it (OOS-25): holding its role, or as an auditor."""
    row = get_task(session, task_id)
    if not actor.has_role(row.role) and not actor.has_role("auditor"):
        raise Forbidden(f"OOS-25: task '{row.name or row.element_id}' belongs to role '{row.role}'",
                        requirement="OOS-25")
    return row


def get_task_for_step(session: Session, task_id: str) -> tuple[TaskRow, ProcessInstance]:
    """The task re-read under its instance's lock (taken before anything is written), with the locked instance:
    of two concurrent claims or completions the second waits, then sees the first's committed outcome and gets
    409 (OOS-24: one attributable decision per task)."""
    row = get_task(session, task_id)
    instance = lock_instance(session, row.instance_id)
    session.refresh(row)
    return row, instance


def list_tasks(
    session: Session,
    *,
    roles: set[str] | None = None,
    case_id: str | None = None,
    instance_id: str | None = None,
    state: str | None = "ready",
    kind: str | None = "user",
    actor: Actor | None = None,
    page: PageRequest | None = None,
) -> Any:
    """Tasks by filter, soonest due first (tasks without a due time last), then oldest, then by id; with
    ``actor``, only of cases the actor's organisation is party to (OOS-25). Every task as a list; with
    ``page``, one :class:`~engine.services.pages.Page` of them."""
    query = select(TaskRow)
    if state:
        query = query.where(TaskRow.state == state)
    if kind:
        query = query.where(TaskRow.kind == kind)
    if roles is not None:
        query = query.where(TaskRow.role.in_(sorted(roles)))
    if actor is not None and not access.unrestricted(actor):
        query = access.only_shared(query, actor, TaskRow.case_id)
    if case_id:
        query = query.where(TaskRow.case_id == case_id)
    if instance_id:
        query = query.where(TaskRow.instance_id == instance_id)
    if page is not None:
        return _task_page(session, query, page)
    return list(session.scalars(query.order_by(TaskRow.due_at.is_(None), *TASK_ORDER)))


TASK_ORDER = (TaskRow.due_at, TaskRow.created_at, TaskRow.id)
TASK_KEY = ("time?", "time", "text")


def _task_page(session: Session, query: Any, page: PageRequest) -> Page[TaskRow]:
    """Two ranges, each read in index order: tasks with a due time, then (when the page is not full yet)
    tasks without one. ``NULL`` sorts last in PostgreSQL's index and compares to nothing, so a single
    condition ``(due_at, created_at, id) > cursor`` would never reach the undated tasks."""
    after = decode_cursor(page.after, TASK_KEY) if page.after is not None else None
    rows: list[TaskRow] = []
    if after is None or after[0] is not None:
        dated = query.where(TaskRow.due_at.is_not(None))
        if after is not None:
            dated = dated.where(after_key(TASK_ORDER, after))
        rows = list(session.scalars(in_order(dated, TASK_ORDER).limit(page.limit + 1)))
    if len(rows) <= page.limit:
        undated = query.where(TaskRow.due_at.is_(None))
        if after is not None and after[0] is None:
            undated = undated.where(after_key(TASK_ORDER[1:], after[1:]))
        rows += session.scalars(in_order(undated, TASK_ORDER[1:]).limit(page.limit + 1 - len(rows)))
    return page_of(rows, page.limit, lambda t: (t.due_at, t.created_at, t.id))


def form_schema(session: Session, runtime: Runtime, row: TaskRow) -> dict[str, Any] | None:
    """The JSON Schema of the task's form (from the runtime's copy of its deployment's forms)."""
    if row.form is None:
        return None
    instance = session.get(ProcessInstance, row.instance_id)
    assert instance is not None
    definition = session.get(ProcessDefinition, instance.definition_id)
    assert definition is not None
    return runtime.content_of(definition).forms.get(row.form)


def task_data(session: Session, runtime: Runtime, row: TaskRow) -> dict[str, Any]:
    """The process data as the task sees it (what the user decides on, e.g. OOS-04/OOS-06)."""
    archived = None if row.state == "ready" else history.archived_task_data(session, row.instance_id, row.id)
    if archived is not None:  # an earlier loop iteration's task, no longer in the live task tree
        return json_clean(archived)
    with runtime.reading(session, row.instance_id) as process:
        return json_clean(process.task_data(row.id))


def signature_requirement(session: Session, runtime: Runtime, row: TaskRow, data: dict[str, Any] | None = None
                          ) -> dict[str, str] | None:
    """What signing this task means (the form's ``x-oospath-signature``), or None for an unsigned task.

    ``{"meaning": "request", "alternative": {"field": "request_batch", "equals": false, "meaning": "decline"}}``
    gives the meaning that applies to ``data`` (a physician's request or decline, OOS-24)."""
    declared = (form_schema(session, runtime, row) or {}).get("x-oospath-signature")
    if not declared:
        return None
    meaning, statement = declared["meaning"], declared.get("statement")
    alternative = declared.get("alternative")
    if alternative and data is not None and data.get(alternative["field"]) == alternative["equals"]:
        meaning, statement = alternative["meaning"], alternative.get("statement")
    return {"meaning": meaning, "statement": statement or signatures.MEANINGS.get(meaning, meaning)}


def _sign_completion(session: Session, runtime: Runtime, row: TaskRow, data: dict[str, Any], actor: Actor,
                     credentials: signatures.Credentials | None) -> dict[str, Any] | None:
    """OOS-24: a signed task is completed only with the signer's credentials; binds the data and the documents
    at this moment (the case's records or the review's report files, by SHA-256) to the signature."""
    wanted = signature_requirement(session, runtime, row, data)
    if wanted is None:
        return None
    documents = evidence.documents_at(session, row.case_id, row.instance_id)
    content = {"element_id": row.element_id, "task_id": row.id, "instance_id": row.instance_id,
               "case_id": row.case_id, "data": json_clean(data), "documents": documents}
    signed = signatures.sign(session, runtime.clock.now(), actor, credentials, meaning=wanted["meaning"],
                             statement=wanted["statement"], subject_type="task", subject_id=row.id, content=content,
                             case_id=row.case_id, instance_id=row.instance_id, element_id=row.element_id)
    return signatures.manifestation(signed)


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
    row, _instance = get_task_for_step(session, task_id)
    _check_open(row)
    _check_actor(row, actor)
    if row.assignee is not None:
        raise Conflict(f"task '{row.name or row.element_id}' is already claimed by '{row.assignee}'")
    row.assignee = actor.user
    audit.append(session, runtime.clock.now(), actor, AuditEvent(
        "task.claimed", instance_id=row.instance_id, case_id=row.case_id,
        element_id=row.element_id, task_id=row.id,
    ), role=row.role)
    return row


@timed_step("complete_task")
def complete_task(
    session: Session, runtime: Runtime, task_id: str, data: dict[str, Any], actor: Actor,
    reason: str | None = None,
    signature: signatures.Credentials | None = None,
) -> TaskRow:
    """Validate, sign when the task is signed, run the user task, advance the engine and persist: one
    transaction."""
    row, instance = get_task_for_step(session, task_id)
    if row.kind != "user":
        raise Conflict(f"task '{row.element_id}' is performed by a worker, not by a user")
    _check_open(row)
    _check_actor(row, actor)
    loaded = runtime.load(session, instance.id)  # holds the locked instance and its definition for this step
    validate_against(runtime.content_of(loaded.definition).forms.get(row.form) if row.form else None, data)
    now = runtime.clock.now()
    data = dict(data)
    seen = loaded.process.task_data(task_id)
    apply_rules(Completion(session, now, row, data, seen, actor))
    before = {key: seen.get(key) for key in data}
    manifestation = _sign_completion(session, runtime, row, data, actor, signature)
    signed = {f"signature__{row.element_id}": manifestation} if manifestation is not None else {}
    with engine_errors(loaded):
        loaded.process.complete_user_task(task_id, {**data, **signed})
    row.state = "completed"
    row.completed_at = now
    row.completed_by = actor.user
    audit.append(session, now, actor, AuditEvent(
        "task.completed", instance_id=row.instance_id, case_id=row.case_id, element_id=row.element_id,
        task_id=row.id, data_before=json_clean(before), reason=reason,
        data_after=json_clean(data) | ({"e_signature": manifestation} if manifestation else {}),
    ), role=row.role)
    runtime.advance(session, loaded, actor)
    events.element_completed(session, now, row.case_id, row.element_id, data)
    return row
