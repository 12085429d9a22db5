"""Records worker: captures GMP records content-addressed by SHA-256 (OOS-16, OOS-17)."""

from __future__ import annotations

import base64
import json
from typing import Any

from sqlalchemy.orm import Session

from engine.bootstrap import Oospath
from engine.services.evidence import record_capture, record_for_work_message
from engine.store.evidence_models import RecordRow
from engine.store.record_store import read_content, store_content
from workers import patient_information
from workers.base import Worker
from workers.transport.base import Transport


class RecordsWorker(Worker):
    kind = "records"

    def __init__(self, app: Oospath, transport: Transport) -> None:
        super().__init__(app, transport)
        assert app.settings.record_store is not None
        self.root = app.settings.record_store

    def perform(self, session: Session, work: dict[str, Any]) -> dict[str, Any]:
        if work.get("operation") == "prepare_patient_information":
            return patient_information.prepare(session, self.app.clock.now(), self.actor, work, self.root,
                                               self.app.settings.processes_dir / "patient_information")
        return self.capture(session, work)

    def capture(self, session: Session, work: dict[str, Any]) -> dict[str, Any]:
        """A file (``content_base64`` with ``media_type`` and ``filename``) or, by default, the process data."""
        params = work["params"]
        record_type = params.get("record_type", "record")
        if params.get("content_base64"):
            content = base64.b64decode(params["content_base64"], validate=True)
            media_type = params.get("media_type", "application/octet-stream")
        else:
            document = {
                "record_type": record_type, "case_id": work.get("case_id"), "batch_id": work.get("batch_id"),
                "captured_from_element": work.get("element_id"), "requirement": params.get("requirement"),
                "content": work.get("context", {}),
            }
            content, media_type = json.dumps(document, sort_keys=True, indent=2).encode(), "application/json"
        digest = store_content(self.root, content)
        row = record_capture(
            session, self.app.clock.now(), self.actor, work, record_type=record_type, sha256=digest,
            media_type=media_type, size=len(content),
            meta={"requirement": params.get("requirement"), "work_message_id": work["message_id"],
                  "filename": params.get("filename")},
        )
        return _result(row)

    def previous_result(self, session: Session, work: dict[str, Any]) -> dict[str, Any] | None:
        row = record_for_work_message(session, work["message_id"])
        if row is None:
            return None
        if row.record_type == "patient_information":
            return patient_information.result(row, json.loads(read_content(self.root, row.sha256)))
        return _result(row)


def _result(row: RecordRow) -> dict[str, Any]:
    return {"record_id": row.id, "record_type": row.record_type, "sha256": row.sha256,
            "captured_at": row.captured_at.isoformat()}
