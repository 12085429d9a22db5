"""Outbound domain events (case.opened, case.closed, ...) go through the outbox.

They are written in the transaction of the change they describe; the relay publishes
them on the topic exchange for other systems to subscribe to.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from engine.store.models import OutboxMessage

EVENT_ROUTING_PREFIX = "event."


def publish_event(session: Session, at: datetime, name: str, payload: dict[str, Any]) -> None:
    message_id = str(uuid.uuid4())
    session.add(OutboxMessage(
        message_id=message_id, routing_key=EVENT_ROUTING_PREFIX + name, created_at=at,
        body={"message_id": message_id, "event": name, "occurred_at": at.isoformat(), "version": 1, **payload},
    ))
