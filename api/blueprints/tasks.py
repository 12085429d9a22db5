"""/api/v1/tasks: task lists by role and case, forms, claim, complete (OOS-25 role checks)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from api import schemas
from api.app import container
from api.identity import current_actor
from api.util import json_body
from api.views import task_view
from engine.services import tasks
from engine.services.errors import Forbidden

bp = Blueprint("tasks", __name__, url_prefix="/api/v1/tasks")


@bp.get("")
def list_tasks() -> dict[str, Any]:
    """The caller's task list: only tasks of roles the caller holds (OOS-25)."""
    actor = current_actor()
    roles = set(actor.roles)
    wanted = request.args.get("role")
    if wanted:
        if wanted not in roles:
            raise Forbidden(f"OOS-25: user '{actor.user}' does not hold role '{wanted}'")
        roles = {wanted}
    with container().uow() as uow:
        rows = tasks.list_tasks(uow.session, roles=roles, case_id=request.args.get("case_id"),
                                state=request.args.get("state", "ready"))
        return {"items": [task_view(t) for t in rows]}


@bp.get("/<task_id>")
def get_task(task_id: str) -> dict[str, Any]:
    """The task with its JSON Schema form and the process data it is decided on (e.g. the
    OOS findings and the risk evaluation the physician must see, OOS-04/OOS-06)."""
    app, actor = container(), current_actor()
    with app.uow() as uow:
        row = tasks.get_task(uow.session, task_id)
        if not actor.has_role(row.role):
            raise Forbidden(f"OOS-25: task '{row.name or row.element_id}' belongs to role '{row.role}'")
        return task_view(row) | {
            "form": tasks.form_schema(uow.session, row),
            "data": tasks.task_data(uow.session, app.runtime, row),
        }


@bp.post("/<task_id>/claim")
def claim(task_id: str) -> dict[str, Any]:
    app, actor = container(), current_actor()
    with app.uow() as uow:
        row = tasks.claim_task(uow.session, app.runtime, task_id, actor)
        uow.commit()
        return task_view(row)


@bp.post("/<task_id>/complete")
def complete(task_id: str) -> dict[str, Any]:
    app, actor, body = container(), current_actor(), json_body(schemas.TASK_COMPLETE)
    with app.uow() as uow:
        row = tasks.complete_task(uow.session, app.runtime, task_id, body["data"], actor, body.get("reason"))
        uow.commit()
        return task_view(row)
