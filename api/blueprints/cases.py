"""/api/v1/cases: OOS cases (pathway instances with batch and parties), their state and audit trail."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from flask import Blueprint, Response, request

from api.access import current_actor, current_body, signing_credentials
from api.app import container
from api.declarations import CASE_ROLES, Param, declare, roles
from api.errors import BadRequest
from api.paging import PAGE_QUERY, page_body, page_request
from api.views import audit_view, iso, task_view, timer_view
from engine.services import (
    access,
    audit_anchors,
    audit_views,
    cases,
    deadlines,
    evidence,
    incidents,
    instances,
    pathway_rules,
    risk_evaluations,
    signatures,
    tasks,
)
from engine.store.record_store import read_content

bp = Blueprint("cases", __name__, url_prefix="/api/v1/cases")
CASE_ID = {"case_id": Param("case id (UUID) or case reference (e.g. OOS-2026-0001)")}
AUDIT_ROLES = ("qa", "auditor")


@bp.get("")
@declare("listCases", "cases", "OOS cases of the caller's organisation, one page at a time",
         policy=roles(*CASE_ROLES),
         ok={"200": ("Cases the caller's organisation is party to, newest first (OOS-25)", "CaseList")},
         query={"status": Param("only cases in this status", {"enum": ["open", "closed"]}), **PAGE_QUERY})
def list_cases() -> dict[str, Any]:
    actor = current_actor()
    with container().uow() as uow:
        found = cases.list_cases(uow.session, request.args.get("status"), actor=actor, page=page_request())
        return page_body(found, cases.case_summary)


@bp.post("")
@declare("openCase", "cases", "Open an OOS case for a batch", policy=roles("qa"),
         ok={"201": ("Opened; the first tasks are the investigation and risk evaluation (OOS-10)", "CaseOpened")},
         errors=("400", "404", "409"), body="CaseOpen",
         description="Refused with 422 naming the rule when the batch is within specification (OOS-01) or the "
                     "product is not cell/tissue-based (OOS-02); 409 when the batch already has an open case. "
                     "Only QA of an organisation party to the batch (OOS-25).")
def open_case() -> tuple[dict[str, Any], int]:
    app, actor, body = container(), current_actor(), current_body()
    with app.uow() as uow:
        access.check_batch(uow.session, actor, body["batch_id"])
        case = cases.open_case(uow.session, app.runtime, body["batch_id"], body["exceptional_use_reason"], actor)
        uow.commit()
        return cases.case_summary(case) | {"links": {"self": f"/api/v1/cases/{case.id}"}}, 201


@bp.get("/<case_id>")
@declare("getCase", "cases", "A case with findings, parties, tasks, deadlines, notifications and records",
         policy=roles(*CASE_ROLES, scope="case"), ok={"200": ("The case", "CaseDetail")}, path=CASE_ID,
         description="OOS-13: deadlines are visible; OOS-16: records captured for the case; OOS-24: signature "
                     "manifestations of the case's signed decisions.")
def get_case(case_id: str) -> dict[str, Any]:
    with container().uow() as uow:
        return case_detail(uow.session, case_id)


def case_detail(session: Any, case_id: str) -> dict[str, Any]:
    """The case as the API and the case page show it."""
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
        "deadlines": deadlines.case_deadlines(session, case, container().settings, container().clock.now()),
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
        "signatures": [signatures.manifestation(s)
                       for s in signatures.signatures_of_case(session, case.id, case.instance_id)],
        "links": {"self": f"/api/v1/cases/{case.id}", "audit": f"/api/v1/cases/{case.id}/audit"},
    })
    return view


@bp.get("/<case_id>/audit")
@declare("getCaseAudit", "cases", "The case's audit trail with its hash-chain check",
         policy=roles(*AUDIT_ROLES, scope="case"),
         ok={"200": ("Every attributable action of the case (OOS-24), by sequence, one page at a time; the "
                     "chain check covers the whole trail", "AuditTrail")}, path=CASE_ID, query=PAGE_QUERY)
def case_audit(case_id: str) -> dict[str, Any]:
    with container().uow() as uow:
        case = cases.get_case(uow.session, case_id)
        entries = audit_views.case_trail(uow.session, case.id, page=page_request())
        verified = audit_anchors.verify_case_chain(uow.session, container().settings.audit_anchor_log, case)
        return {"case_id": case.id, "reference": case.reference, "chain_intact": verified.intact,
                "broken_rows": verified.broken_rows, "verification": verified.summary(),
                "breaks": [str(b) for b in verified.breaks], **page_body(entries, audit_view)}


@bp.post("/<case_id>/records")
@declare("uploadCaseRecord", "cases", "Upload a record the case must keep (OOS-16)",
         policy=roles("qa", scope="case"),
         ok={"201": ("Stored content-addressed by SHA-256, never overwritten (OOS-17)", "Record")},
         errors=("400", "413"), body="RecordUpload", body_alternatives={"multipart/form-data": "RecordMultipart"},
         path=CASE_ID, size_limit="max_record_bytes",
         description="QA uploads the batch manufacture record, testing records and transport/storage records; the "
                     "case cannot close while any of the six required records is missing. At most "
                     "OOSPATH_MAX_RECORD_BYTES (default 32 MiB) per request (413 beyond).")
def upload_record(case_id: str) -> tuple[dict[str, Any], int]:
    app, actor = container(), current_actor()
    if request.files:
        if "file" not in request.files:
            raise BadRequest("multipart upload: send the document as the part named 'file'")
        upload = request.files["file"]
        record_type, filename = request.form.get("record_type", ""), upload.filename or "document"
        media_type, content = upload.mimetype or "application/octet-stream", upload.read()
    else:
        body = current_body()
        record_type, filename = body["record_type"], body["filename"]
        media_type = body.get("media_type", "application/octet-stream")
        try:
            content = base64.b64decode(body["content_base64"], validate=True)
        except (binascii.Error, ValueError) as exc:
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
@declare("listRiskEvaluations", "cases", "Versions of the case's risk evaluation, optionally a diff",
         policy=roles("qa", "physician", "qp", "mah_ra", "sponsor", "auditor", scope="case"),
         ok={"200": ("Every version with its SHA-256 (OOS-05, OOS-06)", "RiskEvaluationVersions")}, path=CASE_ID,
         query={"diff": Param("two versions to compare, e.g. 1,2", {"type": "string", "pattern": "^[0-9]+,[0-9]+$"})})
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
@declare("reviseRiskEvaluation", "cases", "Revise the risk evaluation (QA)", policy=roles("qa", scope="case"),
         ok={"201": ("The new version", "RiskEvaluationVersion")}, errors=("400", "409"),
         body="RiskEvaluationRevision", path=CASE_ID,
         description="A new version with its SHA-256, signed: `signature` carries the password re-entered (OOS-24). "
                     "A physician's request made on an earlier version is void: the case returns to the physician's "
                     "decision (OOS-06). Refused after supply.")
def revise_risk_evaluation(case_id: str) -> tuple[dict[str, Any], int]:
    app, actor = container(), current_actor()
    body = dict(current_body())
    given = body.pop("signature", None) or {}
    credentials = signing_credentials(given)
    with app.uow() as uow:
        evaluation = risk_evaluations.revise_risk_evaluation(uow.session, app.runtime, case_id, body, actor,
                                                             signature=credentials)
        uow.commit()
        return {"version": evaluation.version, "sha256": evaluation.sha256, "author": evaluation.author,
                "approved_by": evaluation.approved_by, "created_at": iso(evaluation.created_at),
                "content": evaluation.content}, 201


@bp.get("/<case_id>/records/<sha256>")
@declare("downloadCaseRecord", "cases", "Download a record captured for the case (OOS-16, OOS-17)",
         policy=roles("qa", "qp", "mah_ra", "sponsor", "auditor", scope="case"),
         ok={"200": ("The record's bytes exactly as captured; their SHA-256 is the path's", {
             "type": "string", "contentMediaType": "application/octet-stream"})},
         media_type="application/octet-stream",
         path={**CASE_ID, "sha256": Param("SHA-256 of the record", {"type": "string", "pattern": "^[0-9a-f]{64}$"})})
def download_record(case_id: str, sha256: str) -> Response:
    app = container()
    with app.uow() as uow:
        case = cases.get_case(uow.session, case_id)
        record = evidence.record_of_case(uow.session, case.id, sha256)
        assert app.settings.record_store is not None
        content = read_content(app.settings.record_store, record.sha256)
    return Response(content, mimetype=record.media_type,
                    headers={"Content-Disposition": f'attachment; filename="{record.record_type}-{sha256[:12]}"'})
