"""Idempotent consumers: a message id is processed once per consumer.

The id is recorded in the same transaction as the consumer's effect, so a redelivered
message finds it and produces no second effect.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from engine.store.models import ProcessedMessage


def already_processed(session: Session, consumer: str, message_id: str) -> bool:
    return session.get(ProcessedMessage, (consumer, message_id)) is not None


def mark_processed(session: Session, consumer: str, message_id: str, at: datetime) -> None:
    session.add(ProcessedMessage(consumer=consumer, message_id=message_id, processed_at=at))
