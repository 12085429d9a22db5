"""/api/v1/cases: OOS cases (pathway instances with batch and parties), their state and audit trail."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from api import schemas
from api.app import container
from api.identity import current_actor
from api.util import iso, json_body
from api.views import audit_view, task_view, timer_view
from engine.services import audit_views, cases, evidence, incidents, instances, tasks

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
            "deadlines": [timer_view(t) for t in instances.timers_of(session, instance.id)],
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
