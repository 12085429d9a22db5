"""Reporting worker: runs report jobs and stores each report as a content-addressed record.

Report types are registered in ``REPORTS`` (a JSON document stored as one record:
``case_register``, every case with its status and outcome) or in ``FILE_REPORTS`` (the
report stores its own files: ``periodic_review``, the six-monthly Quality Defect Report
as HTML, PDF, JSON and CSV, OOS-20, asked for by ``processes/periodic_review.bpmn``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from engine.bootstrap import Oospath
from engine.services import cases, periodic_review
from engine.services.errors import InvalidData, NotFound
from engine.services.evidence import record_capture, record_for_work_message
from engine.services.identity import Actor
from engine.store.record_store import store_content
from workers.base import Worker
from workers.transport.base import RejectMessage, Transport


def case_register(session: Session) -> dict[str, Any]:
    rows = [cases.case_summary(case) for case in cases.list_cases(session)]
    by_status: dict[str, int] = {}
    for row in rows:
        by_status[row["status"]] = by_status.get(row["status"], 0) + 1
    return {"cases": rows, "by_status": by_status}


REPORTS: dict[str, Callable[[Session], dict[str, Any]]] = {"case_register": case_register}


def periodic_review_report(session: Session, app: Oospath, actor: Actor, work: dict[str, Any]) -> dict[str, Any]:
    """OOS-20: the periodic review of ``params.product_code`` for ``params.period_start``..``period_end``."""
    assert app.settings.record_store is not None
    try:
        return periodic_review.report_for_work(session, app.clock.now(), app.settings.record_store, actor, work)
    except (InvalidData, NotFound) as exc:  # the data will not change by retrying: an incident at once
        raise RejectMessage(f"periodic review report refused: {exc.detail}") from exc


def previous_periodic_review(session: Session, work: dict[str, Any]) -> dict[str, Any] | None:
    row = periodic_review.report_for_message(session, work["message_id"])
    return periodic_review.report_result(row) if row else None


#: Report types that store their own files: (perform, result recorded for a redelivered message).
FILE_REPORTS: dict[str, tuple[Callable[[Session, Oospath, Actor, dict[str, Any]], dict[str, Any]],
                              Callable[[Session, dict[str, Any]], dict[str, Any] | None]]] = {
    periodic_review.REPORT_TYPE: (periodic_review_report, previous_periodic_review),
}


class ReportingWorker(Worker):
    kind = "reporting"

    def __init__(self, app: Oospath, transport: Transport) -> None:
        super().__init__(app, transport)
        assert app.settings.record_store is not None
        self.root = app.settings.record_store

    def perform(self, session: Session, work: dict[str, Any]) -> dict[str, Any]:
        report_type = work["params"].get("report_type", "")
        if report_type in FILE_REPORTS:
            return FILE_REPORTS[report_type][0](session, self.app, self.actor, work)
        if report_type not in REPORTS:
            known = ", ".join(sorted([*REPORTS, *FILE_REPORTS]))
            raise RejectMessage(f"unknown report type '{report_type}'; known: {known}")
        content = json.dumps({"report_type": report_type, "generated_at": self.app.clock.now().isoformat(),
                              "data": REPORTS[report_type](session)}, sort_keys=True, indent=2).encode()
        digest = store_content(self.root, content)
        row = record_capture(session, self.app.clock.now(), self.actor, work, record_type=f"report:{report_type}",
                             sha256=digest, media_type="application/json", size=len(content),
                             meta={"work_message_id": work["message_id"]})
        return {"record_id": row.id, "report_type": report_type, "sha256": digest}

    def previous_result(self, session: Session, work: dict[str, Any]) -> dict[str, Any] | None:
        report_type = work.get("params", {}).get("report_type", "")
        if report_type in FILE_REPORTS:
            return FILE_REPORTS[report_type][1](session, work)
        row = record_for_work_message(session, work["message_id"])
        return {"record_id": row.id, "report_type": row.record_type.removeprefix("report:"),
                "sha256": row.sha256} if row else None
