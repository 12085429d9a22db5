"""Reporting worker: runs report jobs and stores each report as a content-addressed record.

Report types are registered in ``REPORTS``; the periodic review's Quality Defect Report
joins them. ``case_register`` (every case with its status and outcome) is the first.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from engine.bootstrap import Oospath
from engine.services import cases
from engine.services.evidence import record_capture, record_for_work_message
from workers.base import Worker
from workers.records import store_content
from workers.transport.base import RejectMessage, Transport


def case_register(session: Session) -> dict[str, Any]:
    rows = [cases.case_summary(case) for case in cases.list_cases(session)]
    by_status: dict[str, int] = {}
    for row in rows:
        by_status[row["status"]] = by_status.get(row["status"], 0) + 1
    return {"cases": rows, "by_status": by_status}


REPORTS: dict[str, Callable[[Session], dict[str, Any]]] = {"case_register": case_register}


class ReportingWorker(Worker):
    kind = "reporting"

    def __init__(self, app: Oospath, transport: Transport) -> None:
        super().__init__(app, transport)
        assert app.settings.record_store is not None
        self.root = app.settings.record_store

    def perform(self, session: Session, work: dict[str, Any]) -> dict[str, Any]:
        report_type = work["params"].get("report_type", "")
        if report_type not in REPORTS:
            raise RejectMessage(f"unknown report type '{report_type}'; known: {', '.join(sorted(REPORTS))}")
        content = json.dumps({"report_type": report_type, "generated_at": self.app.clock.now().isoformat(),
                              "data": REPORTS[report_type](session)}, sort_keys=True, indent=2).encode()
        digest = store_content(self.root, content)
        row = record_capture(session, self.app.clock.now(), self.actor, work, record_type=f"report:{report_type}",
                             sha256=digest, media_type="application/json", size=len(content),
                             meta={"work_message_id": work["message_id"]})
        return {"record_id": row.id, "report_type": report_type, "sha256": digest}

    def previous_result(self, session: Session, work: dict[str, Any]) -> dict[str, Any] | None:
        row = record_for_work_message(session, work["message_id"])
        return {"record_id": row.id, "report_type": row.record_type.removeprefix("report:"),
                "sha256": row.sha256} if row else None
