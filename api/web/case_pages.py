"""The case list and the case page: live diagram, deadlines, records checklist, notifications,
signatures, and the audit trail with filters, CSV export and the chain's verification (OOS-13, OOS-16,
OOS-24, OOS-25)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, request

from api.access import current_actor
from api.app import container
from api.blueprints.cases import AUDIT_ROLES, case_detail
from api.declarations import CASE_ROLES, Param, page, roles
from api.paging import PAGE_QUERY, next_link, page_request
from api.web.pages import render
from engine.services import audit_anchors, audit_views, case_diagram, cases, pathway_rules
from engine.services.errors import ValidationFailed
from engine.store.models import AuditEntry

bp = Blueprint("web_cases", __name__, url_prefix="/ui/cases", template_folder="templates")
CASE_POLICY = roles(*CASE_ROLES, scope="case")
AUDIT_FILTERS = {"action": Param("only entries of this action (e.g. task.completed)"),
                 "actor": Param("only entries of this user"),
                 "since": Param("entries at or after this UTC time (YYYY-MM-DDTHH:MM)"),
                 "until": Param("entries before this UTC time (YYYY-MM-DDTHH:MM)")}
CSV_COLUMNS = ("sequence", "at_utc", "actor", "role", "action", "element_id", "description", "reason",
               "data_before", "data_after", "prev_hash", "row_hash")


@bp.get("")
@page("Cases of the caller's organisation, newest first", policy=roles(*CASE_ROLES),
      query={"status": Param("case status"), **PAGE_QUERY})
def case_list() -> tuple[str, int]:
    actor = current_actor()
    with container().uow() as uow:
        listed = cases.list_cases(uow.session, status=request.args.get("status") or None, actor=actor,
                                  page=page_request())
        return render("cases.html", cases=listed.items, next_page=next_link(listed.after),
                      wanted_status=request.args.get("status", ""))


@bp.get("/<case_id>")
@page("A case: diagram, deadlines, records, notifications, signatures, audit trail", policy=CASE_POLICY,
      query=AUDIT_FILTERS)
def case_page(case_id: str) -> tuple[str, int]:
    app, actor = container(), current_actor()
    with app.uow() as uow:
        case = case_detail(uow.session, case_id)
        missing = set(pathway_rules.missing_records(uow.session, case["id"]))
        checklist = [{"label": label, "present": label not in missing,
                      "records": [r for r in case["records"] if r["record_type"] == record_type]}
                     for record_type, label in pathway_rules.REQUIRED_RECORDS.items()]
        trail = _audit_section(uow.session, case["id"]) if actor.roles & set(AUDIT_ROLES) else None
    return render("case.html", case=case, checklist=checklist, trail=trail, filters=_filters(),
                  completed=request.args.get("completed"), now=app.clock.now())


@bp.get("/<case_id>/diagram.json")
@page("The case's diagram and marking (polled by the case page)", policy=CASE_POLICY)
def diagram(case_id: str) -> dict[str, Any]:
    app = container()
    with app.uow() as uow:
        return case_diagram.diagram_state(uow.session, cases.get_case(uow.session, case_id), app.clock.now())


@bp.get("/<case_id>/audit.csv")
@page("The case's audit trail as CSV, with the page's filters", policy=roles(*AUDIT_ROLES, scope="case"),
      query=AUDIT_FILTERS)
def audit_csv(case_id: str) -> Response:
    with container().uow() as uow:
        case = cases.get_case(uow.session, case_id)
        names = audit_views.element_names(uow.session, case.instance_id) if case.instance_id else {}
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        for e in _filtered(audit_views.case_trail(uow.session, case.id)):
            writer.writerow([e.id, e.at.isoformat(), e.actor, e.role or "", e.action, e.element_id or "",
                             audit_views.describe(e, names), e.reason or "", _json(e.data_before),
                             _json(e.data_after), e.prev_hash, e.row_hash])
    return Response(out.getvalue(), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="audit-{case.reference}.csv"'})


def _json(value: Any) -> str:
    return "" if value is None else json.dumps(value, sort_keys=True, default=str)


def _audit_section(session: Any, case_id: str) -> dict[str, Any]:
    case = cases.get_case(session, case_id)
    entries = audit_views.case_trail(session, case.id)
    names = audit_views.element_names(session, case.instance_id) if case.instance_id else {}
    verified = audit_anchors.verify_case_chain(session, container().settings.audit_anchor_log, case)
    shown = _filtered(entries)
    return {"intact": verified.intact, "summary": verified.summary(), "breaks": [str(b) for b in verified.breaks],
            "actions": sorted({e.action for e in entries}), "actors": sorted({e.actor for e in entries}),
            "total": len(entries),
            "entries": [{"id": e.id, "at": e.at, "actor": e.actor, "role": e.role, "action": e.action,
                         "description": audit_views.describe(e, names), "reason": e.reason,
                         "row_hash": e.row_hash} for e in shown]}


def _filters() -> dict[str, str]:
    return {name: request.args.get(name, "") for name in AUDIT_FILTERS}


def _filtered(entries: list[AuditEntry]) -> list[AuditEntry]:
    wanted = _filters()
    since, until = _moment(wanted["since"], "since"), _moment(wanted["until"], "until")
    return [e for e in entries
            if (not wanted["action"] or e.action == wanted["action"])
            and (not wanted["actor"] or e.actor == wanted["actor"])
            and (since is None or e.at >= since) and (until is None or e.at < until)]


def _moment(text: str, name: str) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)
    except ValueError:
        raise ValidationFailed(f"{name}: {text!r} is not a time YYYY-MM-DDTHH:MM",
                               [{"field": name, "message": "expected YYYY-MM-DDTHH:MM (UTC)"}]) from None
