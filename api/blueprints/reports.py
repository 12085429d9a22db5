"""/api/v1/reports and /api/v1/periodic-reviews: the six-monthly periodic review (OOS-20 .. OOS-23).

``POST /api/v1/reports`` generates a report synchronously, in the request (the same
function the reporting worker runs for the process's service task), and answers with
its files' links; the files (HTML, PDF, JSON, CSV annex) are records in the
content-addressed store. ``POST /api/v1/periodic-reviews`` starts the review process
for a period by hand (the scheduler starts it every six months).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, Response, request

from api.app import container
from api.identity import current_actor
from api.util import iso, json_body
from engine.domain.trends import Period
from engine.services import periodic_review
from engine.services.errors import Forbidden, ServiceError
from engine.services.identity import Actor
from engine.store.models import PeriodicReportRow, PeriodicReviewRow

bp = Blueprint("reports", __name__, url_prefix="/api/v1")

#: Roles that may generate reports and start reviews: the quality unit and MAH regulatory affairs (OOS-20).
REVIEW_ROLES = ("qa", "mah_ra")
DAY = {"type": "string", "format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}

PERIOD_REQUEST = {
    "title": "A product and review period", "type": "object", "additionalProperties": False,
    "required": ["product_code", "from", "to"],
    "properties": {
        "product_code": {"type": "string", "minLength": 1},
        "from": {**DAY, "description": "first day of the period (UTC), e.g. 2026-01-01"},
        "to": {**DAY, "description": "last day of the period, inclusive (UTC), e.g. 2026-06-30"},
    },
}
REPORT_REQUEST = {**PERIOD_REQUEST, "title": "Generate a periodic review report"}
REVIEW_REQUEST = {**PERIOD_REQUEST, "title": "Start a periodic review"}
#: Request bodies of this blueprint, published in the OpenAPI document under these names.
SCHEMAS = {"ReportRequest": REPORT_REQUEST, "ReviewStart": REVIEW_REQUEST}


def _require_review_role(actor: Actor) -> None:
    if not any(actor.has_role(role) for role in REVIEW_ROLES):
        raise Forbidden(f"OOS-25: periodic reviews are generated and started by roles {', '.join(REVIEW_ROLES)}; "
                        f"user '{actor.user}' holds {sorted(actor.roles) or 'no roles'}")


def _period(body: dict[str, Any]) -> Period:
    try:
        first, last = date.fromisoformat(body["from"]), date.fromisoformat(body["to"])
    except ValueError as exc:
        raise ServiceError(f"from/to: {exc}") from exc
    return periodic_review.period_from_days(first, last)


def report_view(row: PeriodicReportRow) -> dict[str, Any]:
    base = f"/api/v1/reports/{row.id}"
    return {
        "id": row.id, "product_code": row.product_code, "period_label": row.period_label,
        "period_start": iso(row.period_start), "period_end": iso(row.period_end),
        "specification_version": row.specification_version, "dataset_sha256": row.dataset_sha256,
        "dataset_rows": row.dataset_rows, "software_version": row.software_version,
        "signals_count": row.signals_count, "signals": row.signals, "thresholds": row.thresholds,
        "generated_at": iso(row.generated_at), "generated_by": row.generated_by, "instance_id": row.instance_id,
        "files": {fmt: {"sha256": a["sha256"], "media_type": a["media_type"], "size": a["size"],
                        "filename": a["filename"]} for fmt, a in row.artifacts.items()},
        "links": {"self": base, **{fmt: f"{base}/{fmt}" for fmt in row.artifacts}},
    }


def review_view(row: PeriodicReviewRow, status: str) -> dict[str, Any]:
    return {"id": row.id, "product_code": row.product_code, "period_start": iso(row.period_start),
            "period_end": iso(row.period_end), "instance_id": row.instance_id, "status": status,
            "trigger": row.trigger, "started_at": iso(row.started_at), "started_by": row.started_by,
            "links": {"self": f"/api/v1/process-instances/{row.instance_id}",
                      "tasks": "/api/v1/tasks?role=mah_ra"}}


@bp.get("/reports")
def list_reports() -> dict[str, Any]:
    with container().uow() as uow:
        rows = periodic_review.list_reports(uow.session, request.args.get("product_code"))
        return {"items": [report_view(r) for r in rows]}


@bp.post("/reports")
def generate_report() -> tuple[dict[str, Any], int]:
    app, actor = container(), current_actor()
    _require_review_role(actor)
    body = json_body(REPORT_REQUEST)
    period = _period(body)
    assert app.settings.record_store is not None
    with app.uow() as uow:
        row = periodic_review.generate_report(uow.session, app.clock.now(), app.settings.record_store, actor,
                                              body["product_code"], period)
        uow.commit()
        return report_view(row), 201


@bp.get("/reports/<report_id>")
def get_report(report_id: str) -> dict[str, Any]:
    with container().uow() as uow:
        return report_view(periodic_review.get_report(uow.session, report_id))


@bp.get("/reports/<report_id>/<format>")
def download(report_id: str, format: str) -> Response:
    app = container()
    assert app.settings.record_store is not None
    with app.uow() as uow:
        content, media_type, filename = periodic_review.report_file(uow.session, app.settings.record_store,
                                                                    report_id, format)
    disposition = "inline" if format in ("html", "json") else "attachment"
    return Response(content, mimetype=media_type.split(";")[0], content_type=media_type,
                    headers={"Content-Disposition": f'{disposition}; filename="{filename}"'})


@bp.get("/periodic-reviews")
def list_reviews() -> dict[str, Any]:
    with container().uow() as uow:
        rows = periodic_review.list_reviews(uow.session, request.args.get("product_code"))
        return {"items": [review_view(row, status) for row, status in rows]}


@bp.post("/periodic-reviews")
def start_review() -> tuple[dict[str, Any], int]:
    app, actor = container(), current_actor()
    _require_review_role(actor)
    body = json_body(REVIEW_REQUEST)
    period = _period(body)
    with app.uow() as uow:
        row = periodic_review.start_review(uow.session, app.runtime, body["product_code"], period, actor)
        uow.commit()
        return review_view(row, "running"), 201
