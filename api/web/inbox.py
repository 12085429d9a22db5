"""Login, the task inbox and the task page: claim, the form from its JSON Schema, the signature dialog
(OOS-24, OOS-25). Pages call the same services as ``/api/v1/tasks`` under the same policies."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, redirect, request, send_from_directory
from werkzeug.wrappers import Response as BaseResponse

from api.access import current_actor
from api.app import container
from api.blueprints.auth import log_in
from api.declarations import ANY_USER, PUBLIC, Param, page, roles
from api.paging import PAGE_QUERY, next_link, page_request
from api.web import forms
from api.web import session as browser_session
from api.web.pages import render
from engine.services import accounts, cases, pathway_rules, signatures, tasks, worklist
from engine.services.errors import Forbidden, ServiceError, ValidationFailed
from engine.services.identity import ROLES as ALL_ROLES
from engine.store.models import TaskRow

bp = Blueprint("web", __name__, url_prefix="/ui", template_folder="templates")
STATIC = Path(__file__).parent / "static"
TASK_POLICY = roles(*ALL_ROLES, scope="task")


@bp.get("/static/<path:filename>")
@page("Scripts, styles and the vendored bpmn-js and axe-core bundles", policy=PUBLIC)
def static(filename: str) -> Response:
    return send_from_directory(STATIC, filename, max_age=3600)


@bp.get("/")
@page("Home: the inbox", policy=ANY_USER)
def home() -> BaseResponse:
    return redirect("/ui/inbox")


@bp.get("/login")
@page("Log in", policy=PUBLIC)
def login_form() -> Response:
    return _login_page()


@bp.post("/login")
@page("Log in: the session cookie holds the bearer token", policy=PUBLIC)
def login() -> BaseResponse:
    browser_session.check_login_csrf()
    form = request.form
    try:
        issued = log_in(form.get("username", "").strip(), form.get("password", ""),
                        form.get("organisation", "").strip() or None)
    except ServiceError as refused:
        choices = refused.extra.get("organisations")
        if choices:  # the password was right: the user picks the organisation to act for
            return _login_page("Choose the organisation you act for.", 200, choices)
        return _login_page(refused.detail, refused.status)
    target = request.args.get("next", "")
    response = redirect(target if target.startswith("/ui/") else "/ui/inbox")
    browser_session.set_session_cookie(response, issued.token, issued.expires_at, _secure())
    response.delete_cookie(browser_session.LOGIN_COOKIE, path="/ui/login")
    return response


def _login_page(error: str | None = None, status: int = 200, organisations: list[str] | None = None) -> Response:
    value = browser_session.login_csrf_pair()
    body, code = render("login.html", status, error=error, login_csrf=value, next=request.args.get("next", ""),
                        organisations=organisations or [], username=request.form.get("username", ""))
    response = Response(body, status=code, mimetype="text/html")
    response.set_cookie(browser_session.LOGIN_COOKIE, value, httponly=True, samesite="Strict", secure=_secure(),
                        path="/ui/login")
    return response


def _secure() -> bool:
    return request.is_secure or container().settings.environment == "production"


@bp.post("/logout")
@page("Log out: the token is revoked", policy=ANY_USER)
def logout() -> BaseResponse:
    app = container()
    with app.uow() as uow:
        accounts.revoke_token(uow.session, app.clock.now(), current_actor())
        uow.commit()
    response = redirect("/ui/login")
    browser_session.clear_session_cookie(response, _secure())
    return response


@bp.get("/inbox")
@page("My tasks by role and organisation, with due times", policy=ANY_USER,
      query={"role": Param("only this role's tasks (OOS-25)"), **PAGE_QUERY})
def inbox() -> tuple[str, int]:
    app, actor = container(), current_actor()
    wanted = request.args.get("role") or None
    if wanted and wanted not in actor.roles:
        raise Forbidden(f"OOS-25: user '{actor.user}' does not hold role '{wanted}'", requirement="OOS-25")
    now = app.clock.now()
    with app.uow() as uow:
        listed = tasks.list_tasks(uow.session, roles={wanted} if wanted else set(actor.roles), actor=actor,
                                  page=page_request())  # soonest due first
        rows = listed.items
        references = worklist.references_of(uow.session, {r.case_id for r in rows if r.case_id})
        escalated = worklist.escalated_instances(uow.session, {r.instance_id for r in rows}, now)
        items = [_inbox_row(r, references, escalated, now) for r in rows]
    return render("inbox.html", items=items, role=wanted, roles=sorted(actor.roles), now=now,
                  next_page=next_link(listed.after))


def _inbox_row(row: TaskRow, references: dict[str, str], escalated: set[str], now: datetime) -> dict[str, Any]:
    urgency = "open"
    if row.due_at is not None:  # a task under a deadline (its boundary timers gave it its due time)
        urgency = "overdue" if row.due_at <= now else "escalated" if row.instance_id in escalated else "open"
    return {"id": row.id, "name": row.name or row.element_id, "role": row.role, "case_id": row.case_id,
            "case_reference": references.get(row.case_id or "", ""), "due_at": row.due_at,
            "created_at": row.created_at, "assignee": row.assignee, "urgency": urgency}


@bp.get("/tasks/<task_id>")
@page("A task: its case, its form and, where signed, the signature dialog", policy=TASK_POLICY)
def task_page(task_id: str) -> tuple[str, int]:
    return _task_page(task_id, {}, [])


@bp.post("/tasks/<task_id>/claim")
@page("Claim a task", policy=TASK_POLICY)
def claim(task_id: str) -> BaseResponse | tuple[str, int]:
    app = container()
    try:
        with app.uow() as uow:
            tasks.claim_task(uow.session, app.runtime, task_id, current_actor())
            uow.commit()
    except ServiceError as refused:
        if refused.status in (401, 403):
            raise
        return _task_page(task_id, {}, [], refusal=refused.detail, status=refused.status)
    return redirect(f"/ui/tasks/{task_id}")


@bp.post("/tasks/<task_id>/complete")
@page("Complete a task with its form (and signature)", policy=TASK_POLICY)
def complete(task_id: str) -> BaseResponse | tuple[str, int]:
    app, actor = container(), current_actor()
    with app.uow() as uow:
        schema = tasks.form_schema(uow.session, app.runtime, tasks.get_task(uow.session, task_id)) or {}
    data = forms.data_from(schema, request.form)
    if request.form.get("action") == "add_row":
        return _task_page(task_id, data, [], extra_rows=2)
    credentials = signatures.Credentials(request.form.get("signer") or None, request.form.get("password") or None,
                                         None, settings=app.settings)
    try:
        with app.uow() as uow:
            row = tasks.complete_task(uow.session, app.runtime, task_id, data, actor,
                                      request.form.get("reason") or None, signature=credentials)
            uow.commit()
            case_id = row.case_id
    except ValidationFailed as refused:
        return _task_page(task_id, data, refused.errors, refusal=refused.detail, status=422)
    except ServiceError as refused:
        if refused.status == 403 or (refused.status == 401 and "OOS-24" not in refused.detail):
            raise
        return _task_page(task_id, data, [], refusal=refused.detail, status=refused.status)
    return redirect(f"/ui/cases/{case_id}?completed={task_id}" if case_id else "/ui/inbox")


def _task_page(task_id: str, data: dict[str, Any], problems: list[dict[str, Any]], *, refusal: str | None = None,
               status: int = 200, extra_rows: int = 1) -> tuple[str, int]:
    app, actor = container(), current_actor()
    with app.uow() as uow:
        row = tasks.task_for_reader(uow.session, task_id, actor)
        schema = tasks.form_schema(uow.session, app.runtime, row) or {"type": "object", "properties": {}}
        by_field, general = forms.errors_by_field(problems)
        case = cases.get_case(uow.session, row.case_id) if row.case_id else None
        return render(
            "task.html", status, task=row, case=case, schema=schema, general_errors=general, refusal=refusal,
            fields=forms.fields_of(schema, data, by_field, extra_rows=extra_rows),
            requirements=forms.requirements_cited(schema),
            signature=tasks.signature_requirement(uow.session, app.runtime, row, data or None),
            first_signing=signatures.first_signing(uow.session, actor),
            can_act=actor.has_role(row.role) and row.state == "ready" and row.assignee in (None, actor.user),
            signatures=[signatures.manifestation(s) for s in signatures.signature_of(uow.session, "task", row.id)],
            risk_evaluation=pathway_rules.latest_risk_evaluation(uow.session, case.id) if case else None)
