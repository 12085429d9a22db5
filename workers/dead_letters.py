"""Turning a dead-lettered message into an incident on its case (visible through the API)."""

from __future__ import annotations

from engine.bootstrap import Oospath
from engine.services.incidents import record_incident
from workers.transport.base import DeadLetter, DeadLetterHandler


def incident_recorder(app: Oospath) -> DeadLetterHandler:
    def record(dead: DeadLetter) -> None:
        with app.uow() as uow:
            record_incident(uow.session, app.clock.now(), queue=dead.queue, message_id=dead.message.message_id,
                            routing_key=dead.message.routing_key, body=dead.message.body, error=dead.error,
                            attempts=dead.attempts)
            uow.commit()

    return record
