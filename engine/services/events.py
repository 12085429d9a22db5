"""Outbound domain events (case.opened, batch.supplied, ...) go through the outbox.

They are written in the transaction of the change they describe; the relay publishes
them on the topic exchange for other systems to subscribe to (contract:
workers/contracts/event.v1.schema.json).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from engine.domain import pathway_elements as pe
from engine.store.models import CaseRow, OutboxMessage

EVENT_ROUTING_PREFIX = "event."

# Pathway elements whose completion other systems want to hear about.
ELEMENT_EVENTS = {
    pe.SUPPLY_BATCH: "batch.supplied",
    pe.SA_DEADLINE_ESCALATION: "deadline.escalated",
    pe.SA_DEADLINE_OVERDUE: "deadline.missed",
}


def publish_event(session: Session, at: datetime, name: str, payload: dict[str, Any]) -> None:
    message_id = str(uuid.uuid4())
    session.add(OutboxMessage(
        message_id=message_id, routing_key=EVENT_ROUTING_PREFIX + name, created_at=at,
        body={"message_id": message_id, "event": name, "occurred_at": at.isoformat(), "version": 1, **payload},
    ))


def publish_case_event(session: Session, at: datetime, name: str, case_id: str | None, **extra: Any) -> None:
    """A domain event about a case, carrying its id, reference and batch (no-op outside a case)."""
    case = session.get(CaseRow, case_id) if case_id else None
    if case is None:
        return
    publish_event(session, at, name, {"case_id": case.id, "reference": case.reference, "batch_id": case.batch_id,
                                      **extra})


def element_completed(session: Session, at: datetime, case_id: str | None, element_id: str,
                      data: dict[str, Any]) -> None:
    """Publish the domain event an element's completion means, if any."""
    if element_id == pe.PHYSICIAN_DECISION and data.get("request_batch") is True:
        publish_case_event(session, at, "physician.requested", case_id)
    elif element_id in ELEMENT_EVENTS:
        publish_case_event(session, at, ELEMENT_EVENTS[element_id], case_id, element_id=element_id)
