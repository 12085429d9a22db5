"""The periodic review pages: the six-monthly reviews with their reports, and one review with its report's
files, its open tasks and the MAH's signed approval (OOS-20, OOS-24, OOS-25).

Pages call the same services as ``/api/v1/periodic-reviews`` and ``/api/v1/reports`` under the same roles.
The report's files are the API's downloads (``/api/v1/reports/<id>/<format>``), which the session cookie
authenticates for a GET. The MAH's approval is the ``approve_review`` user task of the review process, signed on
the task page (``/ui/tasks/<id>``); the review page links to it while it is open and shows the signature's
manifestation once signed.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, request
from sqlalchemy.orm import Session

from api.access import current_actor
from api.app import container
from api.blueprints.reports import READERS
from api.declarations import Param, page, roles
from api.web.pages import render
from engine.domain import pathway_elements as pe
from engine.services import periodic_review, signatures, tasks
from engine.services.errors import NotFound
from engine.services.identity import Actor
from engine.store.models import ProcessInstance, TaskRow
from engine.store.review_models import PeriodicReportRow, PeriodicReviewRow

bp = Blueprint("web_reviews", __name__, url_prefix="/ui/reviews", template_folder="templates")
REVIEW_POLICY = roles(*READERS)
#: The report's files as the API serves them, in the order a reader wants them.
FILE_LABELS = {"html": "Report (HTML)", "pdf": "Report (PDF)", "json": "Data (JSON)", "csv": "Annex (CSV)"}


@bp.get("")
@page("Periodic reviews and their reports", policy=REVIEW_POLICY,
      query={"product_code": Param("only this product's reviews and reports")})
def review_list() -> tuple[str, int]:
    product_code = request.args.get("product_code") or None
    with container().uow() as uow:
        reports = periodic_review.list_reports(uow.session, product_code)
        by_instance = _newest_report_by_instance(reports)
        runs = periodic_review.list_reviews(uow.session, product_code)
        reviews = [{"id": row.id, "product_code": row.product_code, "period": _period_label(row, by_instance),
                    "status": status, "trigger": row.trigger, "started_at": row.started_at,
                    "started_by": row.started_by, "report": _report_summary(by_instance.get(row.instance_id))}
                   for row, status in runs]
        in_reviews = {row.instance_id for row, _ in runs}
        standalone = [_report_summary(r) for r in reports if r.instance_id not in in_reviews]
    return render("reviews.html", reviews=reviews, reports=standalone, product_code=product_code or "")


@bp.get("/<review_id>")
@page("A periodic review: its report and files, its open tasks and the MAH's signed approval",
      policy=REVIEW_POLICY)
def review_page(review_id: str) -> tuple[str, int]:
    actor = current_actor()
    with container().uow() as uow:
        session = uow.session
        row = session.get(PeriodicReviewRow, review_id)
        if row is None:
            raise NotFound(f"periodic review {review_id} does not exist")
        instance = session.get(ProcessInstance, row.instance_id)
        reports = [r for r in periodic_review.list_reports(session, row.product_code)
                   if r.instance_id == row.instance_id]
        open_tasks = [_task_summary(t, actor) for t in tasks.list_tasks(session, instance_id=row.instance_id)]
        signed = _signatures(session, row.instance_id)
        return render(
            "reviews_detail.html", review=row, review_status=instance.status if instance else "unknown",
            end_event=instance.end_event if instance else None,
            period=_period_label(row, _newest_report_by_instance(reports)),
            last_day=(row.period_end - timedelta(days=1)).date(),
            reports=[_report_summary(r) for r in reports], open_tasks=open_tasks,
            approval_task=next((t for t in open_tasks if t["element_id"] == pe.APPROVE_REVIEW), None),
            approval=[s for s in signed if s["element_id"] == pe.APPROVE_REVIEW],
            other_signatures=[s for s in signed if s["element_id"] != pe.APPROVE_REVIEW],
            steps_done=_steps_done(session, row.instance_id))


def _newest_report_by_instance(reports: list[PeriodicReportRow]) -> dict[str | None, PeriodicReportRow]:
    newest: dict[str | None, PeriodicReportRow] = {}
    for report in reports:  # newest first: keep the first of each instance
        newest.setdefault(report.instance_id, report)
    return newest


def _period_label(row: PeriodicReviewRow, by_instance: dict[str | None, PeriodicReportRow]) -> str:
    report = by_instance.get(row.instance_id)
    if report is not None:
        return report.period_label
    last_day = (row.period_end - timedelta(days=1)).date()
    return f"{row.period_start.date().isoformat()} to {last_day.isoformat()}"


def _report_summary(report: PeriodicReportRow | None) -> dict[str, Any] | None:
    if report is None:
        return None
    base = f"/api/v1/reports/{report.id}"
    files = [{"format": fmt, "label": label, "href": f"{base}/{fmt}",
              "filename": report.artifacts[fmt]["filename"], "sha256": report.artifacts[fmt]["sha256"],
              "size": report.artifacts[fmt]["size"]}
             for fmt, label in FILE_LABELS.items() if fmt in report.artifacts]
    return {"id": report.id, "product_code": report.product_code, "period_label": report.period_label,
            "specification_version": report.specification_version, "dataset_sha256": report.dataset_sha256,
            "dataset_rows": report.dataset_rows, "software_version": report.software_version,
            "signals_count": report.signals_count, "signals": report.signals, "generated_at": report.generated_at,
            "generated_by": report.generated_by, "files": files, "html": f"{base}/html"}


def _task_summary(row: TaskRow, actor: Actor) -> dict[str, Any]:
    return {"id": row.id, "element_id": row.element_id, "name": row.name or row.element_id, "role": row.role,
            "due_at": row.due_at, "assignee": row.assignee,
            "openable": actor.has_role(row.role or "") or actor.has_role("auditor"),
            "mine": actor.has_role(row.role or "") and row.assignee in (None, actor.user)}


def _signatures(session: Session, instance_id: str) -> list[dict[str, Any]]:
    return [{**signatures.manifestation(s), "element_id": s.element_id}
            for s in signatures.signatures_of_instance(session, instance_id)]


def _steps_done(session: Session, instance_id: str) -> list[dict[str, Any]]:
    done = tasks.list_tasks(session, instance_id=instance_id, state="completed")
    done.sort(key=lambda t: (t.completed_at is None, t.completed_at or t.created_at))
    return [{"name": t.name or t.element_id, "role": t.role, "completed_at": t.completed_at,
             "completed_by": t.completed_by} for t in done]
