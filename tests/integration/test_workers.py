"""Workers: delivery evidence, content-addressed records, idempotence, result correlation.

# REQ: OOS-13 OOS-16 OOS-17
"""

from __future__ import annotations

import hashlib
from email import message_from_bytes
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from engine.bootstrap import Oospath
from engine.services import cases
from engine.services.work import apply_work_result
from engine.store.evidence_models import NotificationRow, RecordRow
from engine.store.models import OutboxMessage
from engine.store.record_store import store_content
from oospath.scenarios import EXCEPTIONAL_USE_REASON, SCENARIOS
from tests.integration.conftest import QA
from workers.embedded import EmbeddedMessaging
from workers.notifications import NotificationWorker
from workers.records import RecordsWorker
from workers.relay import relay_pending
from workers.transport.base import Message
from workers.transport.inprocess import InProcessTransport


def open_case(app: Oospath) -> str:
    with app.uow() as uow:
        case = cases.open_case(uow.session, app.runtime, SCENARIOS["authorised"], EXCEPTIONAL_USE_REASON, QA)
        uow.commit()
        return case.id


def first_work_message(app: Oospath, routing_key: str) -> Message:
    with app.uow() as uow:
        row = uow.session.scalars(select(OutboxMessage).where(OutboxMessage.routing_key == routing_key)
                                  .order_by(OutboxMessage.id)).first()
        assert row is not None
        return Message(row.message_id, row.routing_key, row.body)


def count(app: Oospath, model: type) -> int:
    with app.uow() as uow:
        return uow.session.scalar(select(func.count()).select_from(model)) or 0


def test_physician_notification_is_delivered_as_eml_with_evidence(app: Oospath, pathway: EmbeddedMessaging) -> None:
    # REQ: OOS-04
    case_id = open_case(app)
    pathway.pump()
    with app.uow() as uow:
        row = uow.session.scalars(select(NotificationRow).where(NotificationRow.case_id == case_id,
                                                                NotificationRow.party == "treating_physician")).one()
    assert app.settings.mail_outbox is not None
    eml = app.settings.mail_outbox / f"{row.message_id.strip('<>')}.eml"
    payload = eml.read_bytes()
    assert hashlib.sha256(payload).hexdigest() == row.payload_sha256
    mail = message_from_bytes(payload)
    body = mail.get_payload()
    assert "viability: measured 74.0" in body and "OOS-04" in body
    assert mail["To"] == row.recipient


def test_redelivered_work_message_has_no_second_effect(app: Oospath, pathway: EmbeddedMessaging) -> None:
    open_case(app)
    relay_pending(app, pathway.transport)
    message = first_work_message(app, "work.notify")
    transport = InProcessTransport()
    transport.declare()
    replies: list[Message] = []
    worker = NotificationWorker(app, transport)
    worker.handle(message)
    worker.handle(message)  # the broker redelivers: the worker died before acking
    transport.consume("results", replies.append)
    with app.uow() as uow:
        deliveries = uow.session.scalar(select(func.count()).select_from(NotificationRow)
                                        .where(NotificationRow.task_id == message.body["task_id"]))
    assert deliveries == 1
    assert len(replies) == 2 and replies[0].body["result"] == replies[1].body["result"]


def test_result_for_unknown_or_completed_task_is_ignored(app: Oospath, pathway: EmbeddedMessaging) -> None:
    open_case(app)
    pathway.pump()
    unknown = {"message_id": "m-unknown", "instance_id": "nope", "task_id": "nope", "result": {}}
    message = first_work_message(app, "work.notify")
    stale = {"message_id": "m-stale", "instance_id": message.body["instance_id"],
             "task_id": message.body["task_id"], "result": {"delivered": True}}
    with app.uow() as uow:
        assert apply_work_result(uow.session, app.runtime, unknown) == "ignored"
        assert apply_work_result(uow.session, app.runtime, stale) == "ignored"
        uow.commit()
    with app.uow() as uow:
        assert apply_work_result(uow.session, app.runtime, stale) == "duplicate"


def test_records_are_content_addressed_and_never_overwritten(tmp_path: Path) -> None:
    # REQ: OOS-17
    digest = store_content(tmp_path, b"batch record v1")
    path = tmp_path / digest[:2] / digest
    assert path.read_bytes() == b"batch record v1"
    mtime = path.stat().st_mtime_ns
    assert store_content(tmp_path, b"batch record v1") == digest
    assert path.stat().st_mtime_ns == mtime
    assert store_content(tmp_path, b"batch record v2") != digest


def test_captured_case_file_matches_its_hash(app: Oospath, pathway: EmbeddedMessaging) -> None:
    # REQ: OOS-16 OOS-17
    open_case(app)
    pathway.pump()
    worker = RecordsWorker(app, InProcessTransport())
    work = first_work_message(app, "work.notify").body | {"operation": "capture_record",
                                                          "params": {"record_type": "investigation"},
                                                          "message_id": "capture-1"}
    with app.uow() as uow:
        result = worker.perform(uow.session, work)
        uow.commit()
    assert app.settings.record_store is not None
    stored = app.settings.record_store / result["sha256"][:2] / result["sha256"]
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == result["sha256"]
    assert count(app, RecordRow) == 1
    with pytest.raises(Exception, match="append-only"), app.db.begin() as conn:
        conn.execute(text("DELETE FROM records"))
    assert count(app, RecordRow) == 1


@pytest.mark.parametrize("statement", ["UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log"])
def test_database_refuses_to_alter_the_audit_trail(app: Oospath, pathway: EmbeddedMessaging, statement: str) -> None:
    # REQ: OOS-17 OOS-24
    open_case(app)
    pathway.pump()
    with pytest.raises(Exception, match="append-only"), app.db.begin() as conn:
        conn.execute(text(statement))


def test_a_file_record_is_stored_byte_for_byte_with_its_metadata(app: Oospath, pathway: EmbeddedMessaging) -> None:
    # REQ: OOS-16 OOS-17
    import base64

    pdf = b"%PDF-1.7 batch manufacture record CART19-25-0102"
    work = {"message_id": "capture-file-1", "task_id": "t", "instance_id": "i", "case_id": None,
            "params": {"record_type": "batch_manufacture_record", "filename": "BMR-0102.pdf",
                       "media_type": "application/pdf", "content_base64": base64.b64encode(pdf).decode()}}
    worker = RecordsWorker(app, InProcessTransport())
    with app.uow() as uow:
        result = worker.perform(uow.session, work)
        uow.commit()
    assert result["sha256"] == hashlib.sha256(pdf).hexdigest()
    with app.uow() as uow:
        row = uow.session.get(RecordRow, result["record_id"])
        assert (row.media_type, row.size, row.meta["filename"]) == ("application/pdf", len(pdf), "BMR-0102.pdf")


def test_one_audit_row_per_engine_step_lists_its_elements_and_the_diagram_marks_them_oos16(
        app: Oospath, pathway: EmbeddedMessaging) -> None:
    """OOS-16: the engine's step is one hash-chained audit row naming, in order, every element it completed
    (start event, business rule task, ...); the case page's diagram marks each of them as completed."""
    from engine.services import case_diagram
    from engine.store.models import AuditEntry, CaseRow

    case_id = open_case(app)
    with app.uow() as uow:
        case = uow.session.get(CaseRow, case_id)
        steps = list(uow.session.scalars(select(AuditEntry).where(
            AuditEntry.stream == case.instance_id, AuditEntry.action == "elements.completed")
            .order_by(AuditEntry.id)))
        marking = case_diagram.diagram_state(uow.session, case, app.clock.now())
    first = [element["element_id"] for element in steps[0].data_after["elements"]]
    assert first[:2] == ["oos_confirmed", "determine_notified_parties"]
    assert {"oos_confirmed", "determine_notified_parties"} <= set(marking["completed"])
