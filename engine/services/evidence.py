"""Evidence that workers produce: notification deliveries and captured records (OOS-13, OOS-16, OOS-17)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.services import audit
from engine.services.audit import AuditEvent
from engine.services.errors import InvalidData, NotFound
from engine.services.identity import Actor
from engine.store.evidence_models import InboundEvent, NotificationRow, RecordRow
from engine.store.models import CaseRow
from engine.store.record_store import store_content
from engine.store.review_models import PeriodicReportRow

# Records QA uploads (the others are captured by the records worker from the process, OOS-16).
UPLOADABLE_RECORDS = ("batch_manufacture_record", "testing_records", "transport_storage_records", "other")


@dataclass(frozen=True)
class Delivery:
    party: str
    recipient: str
    subject: str
    requirement: str | None
    channel: str
    message_id: str
    payload_sha256: str
    due_at: datetime | None = None
    late: bool = False


def record_delivery(
    session: Session, at: datetime, worker: Actor, work: dict[str, Any], delivery: Delivery
) -> NotificationRow:
    row = NotificationRow(id=str(uuid.uuid4()), case_id=work.get("case_id"), task_id=work["task_id"],
                          delivered_at=at, **delivery.__dict__)
    session.add(row)
    audit.append(session, at, worker, AuditEvent(
        "notification.delivered", instance_id=work.get("instance_id"), case_id=work.get("case_id"),
        element_id=work.get("element_id"), task_id=work["task_id"],
        data_after={"party": delivery.party, "recipient": delivery.recipient, "channel": delivery.channel,
                    "message_id": delivery.message_id, "sha256": delivery.payload_sha256, "late": delivery.late,
                    "due_at": delivery.due_at.isoformat() if delivery.due_at else None},
    ), role="system")
    return row


def record_capture(
    session: Session, at: datetime, worker: Actor, work: dict[str, Any], *, record_type: str, sha256: str,
    media_type: str, size: int, meta: dict[str, Any], role: str = "system",
) -> RecordRow:
    row = RecordRow(id=str(uuid.uuid4()), case_id=work.get("case_id"), batch_id=work.get("batch_id"),
                    record_type=record_type, sha256=sha256, media_type=media_type, size=size,
                    captured_by=worker.user, captured_at=at, meta=meta)
    session.add(row)
    audit.append(session, at, worker, AuditEvent(
        "record.captured", instance_id=work.get("instance_id"), case_id=work.get("case_id"),
        element_id=work.get("element_id"), task_id=work.get("task_id"),
        data_after={"record_type": record_type, "sha256": sha256, "record_id": row.id},
    ), role=role)
    return row


def notifications_of_case(session: Session, case_id: str) -> list[NotificationRow]:
    return list(session.scalars(select(NotificationRow).where(NotificationRow.case_id == case_id)
                                .order_by(NotificationRow.delivered_at)))


def records_of_case(session: Session, case_id: str) -> list[RecordRow]:
    return list(session.scalars(select(RecordRow).where(RecordRow.case_id == case_id)
                                .order_by(RecordRow.captured_at)))


def documents_at(session: Session, case_id: str | None, instance_id: str) -> list[str]:
    """The SHA-256 of every document a signature at this moment refers to (OOS-24): the case's records, or for
    a process without a case (the periodic review) the report files it produced."""
    if case_id:
        return sorted(r.sha256 for r in records_of_case(session, case_id))
    reports = session.scalars(select(PeriodicReportRow).where(PeriodicReportRow.instance_id == instance_id))
    return sorted(artifact["sha256"] for report in reports for artifact in report.artifacts.values())


def record_of_case(session: Session, case_id: str, sha256: str) -> RecordRow:
    row = session.scalar(select(RecordRow).where(RecordRow.case_id == case_id, RecordRow.sha256 == sha256).limit(1))
    if row is None:
        raise NotFound(f"the case has no record with SHA-256 {sha256}")
    return row


def delivery_for_task(session: Session, task_id: str) -> NotificationRow | None:
    return session.scalar(select(NotificationRow).where(NotificationRow.task_id == task_id))


def record_for_work_message(session: Session, message_id: str) -> RecordRow | None:
    """The record a worker captured for one work message (its idempotence key)."""
    return session.scalar(select(RecordRow).where(RecordRow.meta["work_message_id"].as_string() == message_id))


def inbound_events_of_case(session: Session, case_id: str) -> list[InboundEvent]:
    """Acknowledgements, PV references and LIMS results received for the case (OOS-13, OOS-19)."""
    return list(session.scalars(select(InboundEvent).where(InboundEvent.case_id == case_id)
                                .order_by(InboundEvent.received_at)))


def capture_document(
    session: Session, at: datetime, actor: Actor, record_store: Path, case: CaseRow, *, record_type: str,
    filename: str, media_type: str, content: bytes,
) -> RecordRow:
    """A document a user uploads to the case (e.g. the batch manufacture record), stored like any record."""
    if record_type not in UPLOADABLE_RECORDS:
        raise InvalidData(f"record_type '{record_type}' is not one of: {', '.join(sorted(UPLOADABLE_RECORDS))}")
    if not content:
        raise InvalidData("the uploaded document is empty")
    digest = store_content(record_store, content)
    work = {"case_id": case.id, "batch_id": case.batch_id, "instance_id": case.instance_id}
    return record_capture(session, at, actor, work, record_type=record_type, sha256=digest, media_type=media_type,
                          size=len(content), meta={"filename": filename, "uploaded": True}, role="qa")
