"""/api/v1/tasks: task lists by role and organisation, forms, claim, complete (OOS-24, OOS-25)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from api.access import current_actor, current_body, signing_credentials
from api.app import container
from api.declarations import ANY_USER, Param, declare, roles
from api.paging import PAGE_QUERY, page_body, page_request
from api.response_shapes import ROLES, TASK_STATES
from api.views import task_view
from engine.services import signatures, tasks
from engine.services.errors import Forbidden
from engine.services.identity import ROLES as ALL_ROLES

bp = Blueprint("tasks", __name__, url_prefix="/api/v1/tasks")
TASK_ID = {"task_id": Param("task id")}


@bp.get("")
@declare("listTasks", "tasks", "The caller's task list, one page at a time", policy=ANY_USER,
         ok={"200": ("Tasks of roles the caller holds, of cases their organisation is party to (OOS-25), soonest "
                     "due first (undated last), then oldest first", "TaskList")},
         query={"role": Param("only this role's tasks; 403 if the caller does not hold it (OOS-25)",
                              {"enum": list(ALL_ROLES)}),
                "case_id": Param("only tasks of this case (case id)"),
                "state": Param("task state (default `ready`; empty for every state)",
                               {"enum": [*TASK_STATES, ""], "default": "ready"}),
                **PAGE_QUERY},
         description=f"Roles: {', '.join(ROLES)}. Follow `next` for the next page.")
def list_tasks() -> dict[str, Any]:
    actor = current_actor()
    held = set(actor.roles)
    wanted = request.args.get("role")
    if wanted:
        if wanted not in held:
            raise Forbidden(f"OOS-25: user '{actor.user}' does not hold role '{wanted}'", requirement="OOS-25")
        held = {wanted}
    with container().uow() as uow:
        found = tasks.list_tasks(uow.session, roles=held, case_id=request.args.get("case_id"),
                                 state=request.args.get("state", "ready"), actor=actor, page=page_request())
        return page_body(found, task_view)


@bp.get("/<task_id>")
@declare("getTask", "tasks", "A task with the JSON Schema of its form and the data it is decided on",
         policy=roles(*ALL_ROLES, scope="task"), ok={"200": ("The task", "TaskDetail")}, path=TASK_ID,
         description="OOS-25: only a user holding the task's role, at an organisation party to its case, sees it. "
                     "A signed task shows its signature manifestation (OOS-24).")
def get_task(task_id: str) -> dict[str, Any]:
    app, actor = container(), current_actor()
    with app.uow() as uow:
        row = tasks.task_for_reader(uow.session, task_id, actor)
        return task_view(row) | {
            "form": tasks.form_schema(uow.session, app.runtime, row),
            "data": tasks.task_data(uow.session, app.runtime, row),
            "signature": tasks.signature_requirement(uow.session, app.runtime, row),
            "signatures": [signatures.manifestation(s) for s in signatures.signature_of(uow.session, "task", row.id)],
        }


@bp.post("/<task_id>/claim")
@declare("claimTask", "tasks", "Claim a task so that only the caller can complete it",
         policy=roles(*ALL_ROLES, scope="task"), ok={"200": ("Claimed", "Task")}, errors=("409",), path=TASK_ID,
         description="OOS-25: only a user holding the task's role can claim it.")
def claim(task_id: str) -> dict[str, Any]:
    app, actor = container(), current_actor()
    with app.uow() as uow:
        row = tasks.claim_task(uow.session, app.runtime, task_id, actor)
        uow.commit()
        return task_view(row)


@bp.post("/<task_id>/complete")
@declare("completeTask", "tasks", "Complete a user task with its form data (and signature when signed)",
         policy=roles(*ALL_ROLES, scope="task"), ok={"200": ("Completed; the process advanced", "Task")},
         errors=("400", "409"), body="TaskComplete", path=TASK_ID,
         description="`data` is validated against the task's form schema (422 lists every invalid field). A signed "
                     "task (its `signature` in GET /tasks/{task_id}) needs `signature` with the password re-entered, "
                     "and the user name at the first signature of a login (OOS-24; 401 when wrong). 403 without the "
                     "task's role; 409 when the task is not open or claimed by another user.")
def complete(task_id: str) -> dict[str, Any]:
    app, actor, body = container(), current_actor(), current_body()
    given = body.get("signature")
    credentials = signing_credentials(given)
    with app.uow() as uow:
        row = tasks.complete_task(uow.session, app.runtime, task_id, body["data"], actor, body.get("reason"),
                                  signature=credentials)
        uow.commit()
        return task_view(row)
