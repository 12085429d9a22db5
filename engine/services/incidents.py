"""Incidents: messages dead-lettered after their retries, visible on the case and retryable; and
expressions of a process definition stopped by their budget (a diagram to correct, not a message to retry).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.services import access, audit
from engine.services.audit import AuditEvent
from engine.services.errors import Conflict, NotFound
from engine.services.identity import SYSTEM, Actor
from engine.services.pages import PageRequest, in_order, keyset
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


EXPRESSION_QUEUE = "expressions"


def record_expression_incident(
    session: Session, at: datetime, *, instance_id: str | None, case_id: str | None, process: str,
    element_id: str, reason: str,
) -> Incident:
    """An expression of ``process`` (key and version) was stopped at ``element_id``: one open incident per
    instance (or, for a start that never ran, per process) and element; a repeat returns the open one."""
    subject = instance_id or process
    message_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"oospath:expression:{subject}:{element_id}"))
    existing = session.scalars(select(Incident).where(
        Incident.queue == EXPRESSION_QUEUE, Incident.message_id == message_id, Incident.status == "open")).first()
    if existing is not None:
        existing.attempts += 1
        existing.error = reason
        return existing
    body = {"instance_id": instance_id, "case_id": case_id, "process": process, "element_id": element_id}
    return record_incident(session, at, queue=EXPRESSION_QUEUE, message_id=message_id,
                           routing_key=f"element.{element_id}"[:200], body=body, error=reason, attempts=1)


INCIDENT_ORDER = (Incident.created_at, Incident.id)


def list_incidents(session: Session, case_id: str | None = None, status: str | None = None, *,
                   actor: Actor | None = None, page: PageRequest | None = None) -> Any:
    """Incidents newest first; with ``actor``, only case-less ones and those of cases the actor's organisation
    is party to (OOS-25). A list, or with ``page`` one page of them."""
    query = select(Incident)
    if case_id:
        query = query.where(Incident.case_id == case_id)
    if status:
        query = query.where(Incident.status == status)
    if actor is not None and not access.unrestricted(actor):
        query = access.only_shared(query, actor, Incident.case_id)
    if page is not None:
        return keyset(session, query, INCIDENT_ORDER, ("time", "text"), page, descending=True)
    return list(session.scalars(in_order(query, INCIDENT_ORDER, descending=True)))


def retry_incident(session: Session, at: datetime, incident_id: str, actor: Actor) -> Incident:
    """Re-publish the dead-lettered message through the outbox (a new message id, the same content)."""
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise NotFound(f"incident {incident_id} does not exist")
    if incident.status != "open":
        raise Conflict(f"incident {incident_id} was already {incident.status} at {incident.retried_at}")
    if incident.queue == EXPRESSION_QUEUE:
        raise Conflict(f"incident {incident_id} is an expression of process {incident.body.get('process')} stopped "
                       f"by its budget at element '{incident.body.get('element_id')}': there is no message to "
                       "re-publish; deploy a corrected version of the process definition")
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
