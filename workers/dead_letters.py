"""Turning a dead-lettered message into an incident on its case (visible through the API), and counting
retries and dead letters for /metrics."""

from __future__ import annotations

from engine.bootstrap import Oospath
from engine.services.incidents import record_incident
from workers.transport.base import DeadLetter, DeadLetterHandler, RetryHandler


def incident_recorder(app: Oospath) -> DeadLetterHandler:
    def record(dead: DeadLetter) -> None:
        app.runtime.instruments.dead_lettered(dead.queue)
        with app.uow() as uow:
            record_incident(uow.session, app.clock.now(), queue=dead.queue, message_id=dead.message.message_id,
                            routing_key=dead.message.routing_key, body=dead.message.body, error=dead.error,
                            attempts=dead.attempts)
            uow.commit()

    return record


def retry_counter(app: Oospath) -> RetryHandler:
    """Counts each failed delivery queued for another attempt (``oospath_message_retries_total``)."""
    return app.runtime.instruments.retried
