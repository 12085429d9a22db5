"""Evidence tables of a case: delivery of each notification (OOS-13), the captured GMP records (OOS-17)
and the inbound integration events applied (LIMS results, authority acknowledgements, PV references).

Each row is written once, by the service that records the evidence (:mod:`engine.services.evidence`)
or by the inbound consumer (:mod:`workers.inbound`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.store.models import Base


class NotificationRow(Base):
    """Delivery evidence of one notification (OOS-13 proof of when a party was told)."""

    __tablename__ = "notifications"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_id: Mapped[str | None] = mapped_column(String(36), index=True)
    task_id: Mapped[str] = mapped_column(String(36), index=True)
    party: Mapped[str] = mapped_column(String(100))
    recipient: Mapped[str] = mapped_column(String(300))
    subject: Mapped[str] = mapped_column(String(300))
    requirement: Mapped[str | None] = mapped_column(String(20))
    channel: Mapped[str] = mapped_column(String(20))
    message_id: Mapped[str] = mapped_column(String(300))
    payload_sha256: Mapped[str] = mapped_column(String(64))
    delivered_at: Mapped[datetime]
    due_at: Mapped[datetime | None]
    late: Mapped[bool] = mapped_column(Boolean, default=False)


class RecordRow(Base):
    """A captured GMP record: content-addressed, never overwritten or deleted (OOS-17)."""

    __tablename__ = "records"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_id: Mapped[str | None] = mapped_column(String(36), index=True)
    batch_id: Mapped[str | None] = mapped_column(String(100))
    record_type: Mapped[str] = mapped_column(String(100))
    sha256: Mapped[str] = mapped_column(String(64))
    media_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int]
    captured_by: Mapped[str] = mapped_column(String(200))
    captured_at: Mapped[datetime]
    meta: Mapped[dict[str, Any]]


class InboundEvent(Base):
    """An applied inbound integration event (LIMS result, authority acknowledgement, PV reference)."""

    __tablename__ = "inbound_events"
    message_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(100))
    case_id: Mapped[str | None] = mapped_column(String(36), index=True)
    batch_id: Mapped[str | None] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]]
    received_at: Mapped[datetime]

