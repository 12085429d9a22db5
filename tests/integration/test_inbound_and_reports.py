"""Inbound integration events and report jobs through the embedded transport.

# REQ: OOS-01 OOS-02 OOS-13 OOS-19
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select

from engine.bootstrap import Oospath
from engine.services import cases, catalog
from engine.store.evidence_models import InboundEvent, RecordRow
from engine.store.models import AuditEntry, CaseRow
from workers.embedded import EmbeddedMessaging
from workers.transport.base import Message


def lims_message(batch_id: str, viability: float, **extra: Any) -> Message:
    message_id = str(uuid.uuid4())
    results = [
        {"attribute": "viability", "value": viability, "unit": "%"},
        {"attribute": "car_t_dose", "value": 2.0, "unit": "x10^8 cells"},
        {"attribute": "transduction_efficiency", "value": 35.0, "unit": "%"},
        {"attribute": "vector_copy_number", "value": 2.1, "unit": "copies/transduced cell"},
        {"attribute": "ifn_gamma_release", "value": 1500.0, "unit": "pg/mL"},
        {"attribute": "endotoxin", "value": 0.5, "unit": "EU/mL"},
        {"attribute": "sterility", "text": "no growth"},
        {"attribute": "mycoplasma", "text": "not detected"},
        {"attribute": "replication_competent_lentivirus", "text": "not detected"},
    ]
    body = {"message_id": message_id, "version": 1, "batch": {
        "batch_id": batch_id, "product_code": "CART19-AUTH", "manufactured_at": "2026-10-01T08:00:00Z",
        "manufacturer": "Helix Cell Manufacturing GmbH", "mah": "Helix Cell Manufacturing GmbH",
        "treating_site": "Hôpital Démo, Lyon", "treating_country": "FR", "results": results}, **extra}
    return Message(message_id, "inbound.batch_results", body)


def deliver(messaging: EmbeddedMessaging, *messages: Message) -> None:
    messaging.transport.publish_batch(list(messages))
    messaging.pump()


def test_an_oos_result_from_the_lims_opens_a_case_by_itself(app: Oospath, pathway: EmbeddedMessaging) -> None:
    # REQ: OOS-01 OOS-02
    deliver(pathway, lims_message("LIMS-0001", 71.5), lims_message("LIMS-0002", 88.0))
    with app.uow() as uow:
        opened = uow.session.scalars(select(CaseRow)).all()
        assert [c.batch_id for c in opened] == ["LIMS-0001"]
        assert opened[0].findings[0]["attribute"] == "viability"
        assert catalog.get_batch(uow.session, "LIMS-0002").status == "within_specification"


def test_a_redelivered_lims_message_has_no_second_effect(app: Oospath, pathway: EmbeddedMessaging) -> None:
    message = lims_message("LIMS-0003", 70.0)
    deliver(pathway, message, message)
    with app.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(CaseRow)) == 1
        assert uow.session.scalar(select(func.count()).select_from(InboundEvent)) == 1


def test_authority_acknowledgement_and_pv_reference_are_recorded_on_the_case(
    app: Oospath, pathway: EmbeddedMessaging
) -> None:
    # REQ: OOS-13 OOS-19
    deliver(pathway, lims_message("LIMS-0004", 72.0))
    with app.uow() as uow:
        case = cases.list_cases(uow.session)[0]
    ack_id, pv_id = str(uuid.uuid4()), str(uuid.uuid4())
    deliver(pathway,
            Message(ack_id, "inbound.acknowledgement", {
                "message_id": ack_id, "version": 1, "case_reference": case.reference,
                "party": "supervisory_authority", "acknowledged_at": "2026-11-26T09:00:00+01:00",
                "reference": "GMP-INS-2026-4411"}),
            Message(pv_id, "inbound.pv_reference", {
                "message_id": pv_id, "version": 1, "case_reference": case.reference,
                "pv_case_reference": "PV-2026-004211"}))
    with app.uow() as uow:
        events = uow.session.scalars(select(InboundEvent).where(InboundEvent.case_id == case.id)
                                     .order_by(InboundEvent.event_type)).all()
        actions = set(uow.session.scalars(select(AuditEntry.action).where(AuditEntry.case_id == case.id)))
    assert [e.event_type for e in events] == ["inbound.acknowledgement", "inbound.batch_results",
                                              "inbound.pv_reference"]
    assert {"acknowledgement.received", "pv_reference.received"} <= actions


def test_a_report_job_stores_its_report_as_a_record(app: Oospath, pathway: EmbeddedMessaging) -> None:
    deliver(pathway, lims_message("LIMS-0005", 72.0))
    message_id = str(uuid.uuid4())
    deliver(pathway, Message(message_id, "work.report", {
        "message_id": message_id, "instance_id": "none", "task_id": "none", "operation": "report",
        "params": {"report_type": "case_register"}}))
    with app.uow() as uow:
        (report,) = uow.session.scalars(select(RecordRow).where(RecordRow.record_type == "report:case_register"))
    assert app.settings.record_store is not None
    content = (app.settings.record_store / report.sha256[:2] / report.sha256).read_text()
    assert '"open": 1' in content and "LIMS-0005" in content


def test_an_unknown_report_type_becomes_an_incident(app: Oospath, pathway: EmbeddedMessaging) -> None:
    message_id = str(uuid.uuid4())
    deliver(pathway, Message(message_id, "work.report", {
        "message_id": message_id, "instance_id": "none", "task_id": "none", "params": {"report_type": "nope"}}))
    (dead,) = pathway.transport.dead_letters()
    assert "unknown report type 'nope'" in dead.error
