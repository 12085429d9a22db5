"""/api/v1/cases: OOS cases (pathway instances with batch and parties), their state and audit trail."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from flask import Blueprint, request

from api import schemas
from api.app import container
from api.errors import BadRequest
from api.identity import current_actor
from api.util import iso, json_body
from api.views import audit_view, task_view, timer_view
from engine.services import (
    audit_views,
    cases,
    deadlines,
    evidence,
    incidents,
    instances,
    pathway_rules,
    risk_evaluations,
    tasks,
)
from engine.services.errors import Forbidden

bp = Blueprint("cases", __name__, url_prefix="/api/v1/cases")


@bp.get("")
def list_cases() -> dict[str, Any]:
    with container().uow() as uow:
        return {"items": [cases.case_summary(c) for c in cases.list_cases(uow.session, request.args.get("status"))]}


@bp.post("")
def open_case() -> tuple[dict[str, Any], int]:
    app, actor, body = container(), current_actor(), json_body(schemas.CASE_OPEN)
    with app.uow() as uow:
        case = cases.open_case(uow.session, app.runtime, body["batch_id"], body["exceptional_use_reason"], actor)
        uow.commit()
        return cases.case_summary(case) | {"links": {"self": f"/api/v1/cases/{case.id}"}}, 201


@bp.get("/<case_id>")
def get_case(case_id: str) -> dict[str, Any]:
    with container().uow() as uow:
        session = uow.session
        case = cases.get_case(session, case_id)
        instance = cases.case_instance(session, case)
        view = cases.case_summary(case)
        view.update({
            "specification_version": case.specification_version, "findings": case.findings,
            "parties": case.parties, "exceptional_use_reason": case.exceptional_use_reason,
            "instance": {"id": instance.id, "status": instance.status, "end_event": instance.end_event},
            "open_tasks": [task_view(t) for t in tasks.list_tasks(session, case_id=case.id)],
            "waiting_for_workers": [task_view(t) for t in tasks.list_tasks(session, case_id=case.id,
                                                                            state="waiting", kind="service")],
            "deadlines": deadlines.case_deadlines(session, case),
            "timers": [timer_view(t) for t in instances.timers_of(session, instance.id)],
            "notifications": [
                {"party": n.party, "recipient": n.recipient, "subject": n.subject, "requirement": n.requirement,
                 "channel": n.channel, "message_id": n.message_id, "sha256": n.payload_sha256,
                 "delivered_at": iso(n.delivered_at)}
                for n in evidence.notifications_of_case(session, case.id)],
            "records": [
                {"id": r.id, "record_type": r.record_type, "sha256": r.sha256, "media_type": r.media_type,
                 "size": r.size, "captured_by": r.captured_by, "captured_at": iso(r.captured_at)}
                for r in evidence.records_of_case(session, case.id)],
            "inbound_events": [
                {"event_type": e.event_type, "message_id": e.message_id, "received_at": iso(e.received_at),
                 "payload": e.payload} for e in evidence.inbound_events_of_case(session, case.id)],
            "incidents": [{"id": i.id, "status": i.status, "error": i.error, "routing_key": i.routing_key,
                           "created_at": iso(i.created_at)}
                          for i in incidents.list_incidents(session, case_id=case.id)],
            "links": {"self": f"/api/v1/cases/{case.id}", "audit": f"/api/v1/cases/{case.id}/audit"},
        })
        return view


@bp.get("/<case_id>/audit")
def case_audit(case_id: str) -> dict[str, Any]:
    with container().uow() as uow:
        case = cases.get_case(uow.session, case_id)
        entries = audit_views.case_trail(uow.session, case.id)
        broken = audit_views.chain_intact(uow.session, case.instance_id)
        return {"case_id": case.id, "reference": case.reference, "chain_intact": not broken,
                "broken_rows": broken, "items": [audit_view(e) for e in entries]}


@bp.post("/<case_id>/records")
def upload_record(case_id: str) -> tuple[dict[str, Any], int]:
    """QA uploads a document the case must keep (OOS-16): multipart ``file`` + ``record_type``, or JSON with
    ``content_base64``."""
    app, actor = container(), current_actor()
    if not actor.has_role("qa"):
        raise Forbidden("OOS-25: records are uploaded by the manufacturer's QA (role qa)")
    if request.files:
        upload = request.files["file"]
        record_type, filename = request.form.get("record_type", ""), upload.filename or "document"
        media_type, content = upload.mimetype or "application/octet-stream", upload.read()
    else:
        body = json_body(schemas.RECORD_UPLOAD)
        record_type, filename = body["record_type"], body["filename"]
        media_type = body.get("media_type", "application/octet-stream")
        try:
            content = base64.b64decode(body["content_base64"], validate=True)
        except binascii.Error as exc:
            raise BadRequest(f"content_base64 is not valid base64: {exc}") from exc
    with app.uow() as uow:
        case = cases.get_case(uow.session, case_id)
        assert app.settings.record_store is not None
        row = evidence.capture_document(uow.session, app.clock.now(), actor, app.settings.record_store, case,
                                        record_type=record_type, filename=filename, media_type=media_type,
                                        content=content)
        uow.commit()
        return {"id": row.id, "record_type": row.record_type, "sha256": row.sha256, "media_type": row.media_type,
                "size": row.size, "captured_by": row.captured_by, "captured_at": iso(row.captured_at)}, 201


@bp.get("/<case_id>/risk-evaluations")
def list_risk_evaluations(case_id: str) -> dict[str, Any]:
    """Every version of the case's ICH Q9 risk evaluation (OOS-05); ``?diff=1,2`` compares two versions."""
    with container().uow() as uow:
        case = cases.get_case(uow.session, case_id)
        versions = pathway_rules.risk_evaluation_versions(uow.session, case.id)
        view: dict[str, Any] = {"case_id": case.id, "items": [
            {"version": v.version, "sha256": v.sha256, "author": v.author, "approved_by": v.approved_by,
             "created_at": iso(v.created_at), "content": v.content} for v in versions]}
        if request.args.get("diff"):
            view["diff"] = pathway_rules.diff_risk_evaluations(versions, request.args["diff"])
        return view


@bp.post("/<case_id>/risk-evaluations")
def revise_risk_evaluation(case_id: str) -> tuple[dict[str, Any], int]:
    """QA revises the risk evaluation; a physician's request on an earlier version is void (OOS-05, OOS-06)."""
    app, actor = container(), current_actor()
    body = json_body(schemas.RISK_EVALUATION_REVISION)
    with app.uow() as uow:
        evaluation = risk_evaluations.revise_risk_evaluation(uow.session, app.runtime, case_id, body, actor)
        uow.commit()
        return {"version": evaluation.version, "sha256": evaluation.sha256, "author": evaluation.author,
                "approved_by": evaluation.approved_by, "created_at": iso(evaluation.created_at),
                "content": evaluation.content}, 201
