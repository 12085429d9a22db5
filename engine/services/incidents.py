"""Incidents: messages dead-lettered after their retries, visible on the case and retryable."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.services import audit
from engine.services.audit import AuditEvent
from engine.services.errors import Conflict, NotFound
from engine.services.identity import SYSTEM, Actor
from engine.store.models import Incident, OutboxMessage


def record_incident(
    session: Session, at: datetime, *, queue: str, message_id: str, routing_key: str, body: dict[str, Any],
    error: str, attempts: int,
) -> Incident:
    incident = Incident(id=str(uuid.uuid4()), case_id=body.get("case_id"), queue=queue, message_id=message_id,
                        routing_key=routing_key, body=body, error=error, attempts=attempts, status="open",
                        created_at=at)
    session.add(incident)
    audit.append(session, at, SYSTEM, AuditEvent(
        "incident.opened", instance_id=body.get("instance_id"), case_id=incident.case_id,
        element_id=body.get("element_id"), task_id=body.get("task_id"),
        data_after={"incident_id": incident.id, "queue": queue, "message_id": message_id, "error": error,
                    "attempts": attempts},
    ), role="system")
    return incident


def list_incidents(session: Session, case_id: str | None = None, status: str | None = None) -> list[Incident]:
    query = select(Incident).order_by(Incident.created_at.desc())
    if case_id:
        query = query.where(Incident.case_id == case_id)
    if status:
        query = query.where(Incident.status == status)
    return list(session.scalars(query))


def retry_incident(session: Session, at: datetime, incident_id: str, actor: Actor) -> Incident:
    """Re-publish the dead-lettered message through the outbox (a new message id, the same content)."""
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise NotFound(f"incident {incident_id} does not exist")
    if incident.status != "open":
        raise Conflict(f"incident {incident_id} was already {incident.status} at {incident.retried_at}")
    message_id = str(uuid.uuid4())
    session.add(OutboxMessage(message_id=message_id, routing_key=incident.routing_key, created_at=at,
                              body={**incident.body, "message_id": message_id, "retry_of": incident.message_id}))
    incident.status = "retried"
    incident.retried_at = at
    incident.retried_by = actor.user
    audit.append(session, at, actor, AuditEvent(
        "incident.retried", instance_id=incident.body.get("instance_id"), case_id=incident.case_id,
        data_after={"incident_id": incident.id, "new_message_id": message_id},
    ))
    return incident
