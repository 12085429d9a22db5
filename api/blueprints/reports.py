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

from api.access import current_actor, current_body
from api.app import container
from api.declarations import Param, declare, roles
from api.views import iso
from engine.domain.trends import Period
from engine.services import periodic_review, signatures
from engine.services.errors import ServiceError
from engine.store.review_models import PeriodicReportRow, PeriodicReviewRow

bp = Blueprint("reports", __name__, url_prefix="/api/v1")

READERS = ("qa", "mah_ra", "management", "auditor")
REPORT_ID = {"report_id": Param("report id")}
PRODUCT = {"product_code": Param("only this product's reports")}


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


def review_view(row: PeriodicReviewRow, status: str, signed: list[dict[str, Any]] | None = None
                ) -> dict[str, Any]:
    return {"signatures": signed or [], "id": row.id, "product_code": row.product_code,
            "period_start": iso(row.period_start), "period_end": iso(row.period_end),
            "instance_id": row.instance_id, "status": status,
            "trigger": row.trigger, "started_at": iso(row.started_at), "started_by": row.started_by,
            "links": {"self": f"/api/v1/process-instances/{row.instance_id}",
                      "tasks": "/api/v1/tasks?role=mah_ra"}}


@bp.get("/reports")
@declare("listReports", "periodic review", "Periodic review reports", policy=roles(*READERS),
         ok={"200": ("Reports, newest first", "ReportList")}, query=PRODUCT)
def list_reports() -> dict[str, Any]:
    with container().uow() as uow:
        rows = periodic_review.list_reports(uow.session, request.args.get("product_code"))
        return {"items": [report_view(r) for r in rows]}


@bp.post("/reports")
@declare("generateReport", "periodic review", "Generate the periodic review report of a product and period",
         policy=roles("qa", "mah_ra"),
         ok={"201": ("Generated; its HTML, PDF, JSON and CSV files are linked", "Report")},
         errors=("400", "404"), body="ReportRequest",
         description="OOS-20, OOS-21, OOS-23: synchronous; roles qa or mah_ra; 422 when the period has not ended or "
                     "no specification is in force.")
def generate_report() -> tuple[dict[str, Any], int]:
    app, actor = container(), current_actor()
    body = current_body()
    period = _period(body)
    assert app.settings.record_store is not None
    with app.uow() as uow:
        row = periodic_review.generate_report(uow.session, app.clock.now(), app.settings.record_store, actor,
                                              body["product_code"], period)
        uow.commit()
        return report_view(row), 201


@bp.get("/reports/<report_id>")
@declare("getReport", "periodic review", "One report", policy=roles(*READERS),
         ok={"200": ("The report and its files", "Report")}, errors=("404",), path=REPORT_ID)
def get_report(report_id: str) -> dict[str, Any]:
    with container().uow() as uow:
        return report_view(periodic_review.get_report(uow.session, report_id))


@bp.get("/reports/<report_id>/<format>")
@declare("downloadReport", "periodic review", "Download one of the report's files", policy=roles(*READERS),
         ok={"200": ("The file (its SHA-256 is in the report's `files`)", {"type": "string"})},
         media_type="application/octet-stream", errors=("404",),
         path={**REPORT_ID, "format": Param("html, pdf, json or csv (the annex)",
                                            {"enum": ["html", "pdf", "json", "csv"]})})
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
@declare("listPeriodicReviews", "periodic review", "Periodic review process runs", policy=roles(*READERS),
         ok={"200": ("Reviews, newest first", "PeriodicReviewList")}, query=PRODUCT)
def list_reviews() -> dict[str, Any]:
    with container().uow() as uow:
        rows = periodic_review.list_reviews(uow.session, request.args.get("product_code"))
        return {"items": [review_view(row, status, [
            signatures.manifestation(s) for s in signatures.signatures_of_instance(uow.session, row.instance_id)])
            for row, status in rows]}


@bp.post("/periodic-reviews")
@declare("startPeriodicReview", "periodic review", "Start the periodic review process for a period",
         policy=roles("qa", "mah_ra"),
         ok={"201": ("Started; the reporting worker assembles the report, then QA reviews it", "PeriodicReview")},
         errors=("400", "404", "409"), body="ReviewStart",
         description="OOS-20, OOS-22: the scheduler starts a review every six months; this starts one by hand. 409 "
                     "while a review of the product and period is running; 422 when the period has not ended.")
def start_review() -> tuple[dict[str, Any], int]:
    app, actor = container(), current_actor()
    body = current_body()
    period = _period(body)
    with app.uow() as uow:
        row = periodic_review.start_review(uow.session, app.runtime, body["product_code"], period, actor)
        uow.commit()
        return review_view(row, "running"), 201
