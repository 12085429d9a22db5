"""Tables of the six-monthly periodic review (OOS-20 .. OOS-23): how each OOS finding of a decided batch is
categorised, each run of the ``periodic_review`` process, and each generated report."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.store.models import Base


class OosCategoryRow(Base):
    """How one OOS finding of a decided batch is categorised for the periodic review (OOS-21).

    ``type`` is the kind of deviation (e.g. ``below lower limit``), ``severity`` the QA classification
    (minor, major, critical, or ``unclassified`` when a case gave none).
    """

    __tablename__ = "oos_categories"
    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[str] = mapped_column(ForeignKey("batches.batch_id"), index=True)
    type: Mapped[str] = mapped_column(String(100))
    attribute: Mapped[str] = mapped_column(String(200), index=True)
    severity: Mapped[str] = mapped_column(String(30))


class PeriodicReviewRow(Base):
    """One run of the ``periodic_review`` process for a product and period (OOS-20, OOS-22)."""

    __tablename__ = "periodic_reviews"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    product_code: Mapped[str] = mapped_column(ForeignKey("products.code"), index=True)
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    instance_id: Mapped[str] = mapped_column(ForeignKey("process_instances.id"), unique=True)
    trigger: Mapped[str] = mapped_column(String(20))  # scheduler | manual
    started_at: Mapped[datetime]
    started_by: Mapped[str] = mapped_column(String(200))


class PeriodicReportRow(Base):
    """A generated periodic review report; its files are records in the content-addressed store (OOS-17, OOS-20).

    ``artifacts`` maps a format (html, pdf, json, csv) to the record id, SHA-256, media type, size and file name.
    """

    __tablename__ = "periodic_reports"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    product_code: Mapped[str] = mapped_column(ForeignKey("products.code"), index=True)
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    period_label: Mapped[str] = mapped_column(String(40))
    specification_version: Mapped[int]
    dataset_sha256: Mapped[str] = mapped_column(String(64))
    dataset_rows: Mapped[int]
    software_version: Mapped[str] = mapped_column(String(50))
    signals_count: Mapped[int]
    signals: Mapped[list[Any]]
    thresholds: Mapped[dict[str, Any]]
    artifacts: Mapped[dict[str, Any]]
    generated_at: Mapped[datetime]
    generated_by: Mapped[str] = mapped_column(String(200))
    instance_id: Mapped[str | None] = mapped_column(String(36), index=True)
    work_message_id: Mapped[str | None] = mapped_column(String(36), unique=True)
