"""Database tables of oospath (SQLAlchemy 2 ORM). The schema itself comes from Alembic.

One table per concept: deployments and process definitions (the spec stored once per
deployment), process instances (state without spec, optimistic version), the task
projection (so task lists never deserialize a workflow), timers, the outbox, the
append-only audit trail, and the GMP domain (products, specifications, batches,
cases). The evidence tables (notifications, records, inbound events), the identity
tables and the periodic review tables have modules of their own, on the same metadata.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from engine.store.types import CompressedText, UtcDateTime


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UtcDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class Deployment(Base):
    __tablename__ = "deployments"
    id: Mapped[int] = mapped_column(primary_key=True)
    bundle_sha256: Mapped[str] = mapped_column(String(64), index=True)
    deployed_at: Mapped[datetime]
    deployed_by: Mapped[str] = mapped_column(String(200))


class DeploymentFile(Base):
    __tablename__ = "deployment_files"
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id"), primary_key=True)
    filename: Mapped[str] = mapped_column(String(300), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[str] = mapped_column(Text)


class ProcessDefinition(Base):
    __tablename__ = "process_definitions"
    __table_args__ = (UniqueConstraint("key", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), index=True)
    version: Mapped[int]
    name: Mapped[str | None] = mapped_column(String(300))
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id"))
    content_sha256: Mapped[str] = mapped_column(String(64))
    # The deployment's content (immutable once deployed), loaded on first access only: a step reads it from the
    # runtime's per-process copy instead of parsing ~130 KB of JSON again.
    spec: Mapped[str] = mapped_column(Text, deferred=True, deferred_group="content")
    elements: Mapped[dict[str, Any]] = mapped_column(deferred=True, deferred_group="content")
    forms: Mapped[dict[str, Any]] = mapped_column(deferred=True, deferred_group="content")
    deployed_at: Mapped[datetime]
    deployed_by: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(30), default="approved")  # approved | awaiting_approval | rejected
    approved_by: Mapped[str | None] = mapped_column(String(200))
    approved_at: Mapped[datetime | None]
    approval_signature_id: Mapped[str | None] = mapped_column(String(36))


class ProcessInstance(Base):
    __tablename__ = "process_instances"
    __table_args__ = (Index("ix_process_instances_started", "started_at", "id"),
                      Index("ix_process_instances_key_started", "process_key", "started_at", "id"),
                      Index("ix_process_instances_status_started", "status", "started_at", "id"))
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definitions.id"), index=True)
    process_key: Mapped[str] = mapped_column(String(200), index=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    state: Mapped[str] = mapped_column(CompressedText)  # JSON, stored zlib-compressed (0011)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    started_at: Mapped[datetime]
    started_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]
    end_event: Mapped[str | None] = mapped_column(String(200))
    case_id: Mapped[str | None] = mapped_column(String(36), index=True)
    batch_id: Mapped[str | None] = mapped_column(String(100))
    __mapper_args__ = {"version_id_col": version}


class TaskRow(Base):
    """Projection of the instance's human and worker tasks, queryable without SpiffWorkflow."""

    __tablename__ = "tasks"
    __table_args__ = (Index("ix_tasks_state_role", "state", "role"),
                      # task lists: one role's open tasks, soonest due first (keyset pages, 0009)
                      Index("ix_tasks_worklist", "state", "role", "kind", "due_at", "created_at", "id"))
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    instance_id: Mapped[str] = mapped_column(ForeignKey("process_instances.id"), index=True)
    case_id: Mapped[str | None] = mapped_column(String(36), index=True)
    batch_id: Mapped[str | None] = mapped_column(String(100))
    element_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str | None] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(20))  # user | service
    role: Mapped[str | None] = mapped_column(String(50))
    form: Mapped[str | None] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(20))  # ready | waiting | completed | cancelled
    created_at: Mapped[datetime]
    due_at: Mapped[datetime | None]
    assignee: Mapped[str | None] = mapped_column(String(200))
    completed_at: Mapped[datetime | None]
    completed_by: Mapped[str | None] = mapped_column(String(200))


class Timer(Base):
    __tablename__ = "timers"
    # the scheduler's query: due timers among the waiting ones, by due time
    __table_args__ = (Index("ix_timers_waiting_due", "due_at", sqlite_where=text("status = 'waiting'"),
                            postgresql_where=text("status = 'waiting'")),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the timer task's id
    instance_id: Mapped[str] = mapped_column(ForeignKey("process_instances.id"), index=True)
    element_id: Mapped[str] = mapped_column(String(200))
    due_at: Mapped[datetime] = mapped_column(index=True)
    status: Mapped[str] = mapped_column(String(20), index=True)  # waiting | fired | cancelled
    fired_at: Mapped[datetime | None]


class OutboxMessage(Base):
    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(String(36), unique=True)
    routing_key: Mapped[str] = mapped_column(String(200))
    body: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    published_at: Mapped[datetime | None] = mapped_column(index=True)


class ProcessedMessage(Base):
    """Idempotence: a consumer records each message id in the transaction of its effect."""

    __tablename__ = "processed_messages"
    consumer: Mapped[str] = mapped_column(String(100), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    processed_at: Mapped[datetime]


class AuditEntry(Base):
    """Append-only; each row carries the hash of the previous row of its stream."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_stream_sequence", "stream", "id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    stream: Mapped[str] = mapped_column(String(64))  # served by ix_audit_log_stream_sequence (0010)
    instance_id: Mapped[str | None] = mapped_column(String(36), index=True)
    case_id: Mapped[str | None] = mapped_column(String(36), index=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(200))
    role: Mapped[str | None] = mapped_column(String(50))
    action: Mapped[str] = mapped_column(String(100))
    element_id: Mapped[str | None] = mapped_column(String(200))
    task_id: Mapped[str | None] = mapped_column(String(36))
    data_before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    data_after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    reason: Mapped[str | None] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    row_hash: Mapped[str] = mapped_column(String(64))


class AuditChainHead(Base):
    """Where each audit stream ends (its last row's id and hash), read by primary key at every append (0010)."""

    __tablename__ = "audit_chain_heads"
    stream: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_id: Mapped[int] = mapped_column(Integer)
    last_hash: Mapped[str] = mapped_column(String(64))


class ProductRow(Base):
    __tablename__ = "products"
    code: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(30))
    cell_tissue_based: Mapped[bool] = mapped_column(Boolean)
    atmp_class: Mapped[str] = mapped_column(String(100))


class SpecificationRow(Base):
    __tablename__ = "specifications"
    __table_args__ = (UniqueConstraint("product_code", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    product_code: Mapped[str] = mapped_column(ForeignKey("products.code"), index=True)
    version: Mapped[int]
    effective_from: Mapped[datetime]
    limits: Mapped[list[Any]]
    # Change control (OOS-24): a version takes effect only once QA approved it with a signature.
    status: Mapped[str] = mapped_column(String(30), default="awaiting_approval")  # awaiting_approval|approved|rejected
    created_by: Mapped[str] = mapped_column(String(200), default="migration")
    approved_by: Mapped[str | None] = mapped_column(String(200))
    approved_at: Mapped[datetime | None]
    approval_signature_id: Mapped[str | None] = mapped_column(String(36))


class BatchRow(Base):
    __tablename__ = "batches"
    __table_args__ = (Index("ix_batches_product_decided", "product_code", "decided_at", "outcome"),)
    batch_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    product_code: Mapped[str] = mapped_column(ForeignKey("products.code"), index=True)
    manufactured_at: Mapped[datetime]
    imported: Mapped[bool] = mapped_column(Boolean)
    manufacturer: Mapped[str] = mapped_column(String(300))
    importer: Mapped[str | None] = mapped_column(String(300))
    mah: Mapped[str | None] = mapped_column(String(300))
    sponsor: Mapped[str | None] = mapped_column(String(300))
    treating_site: Mapped[str] = mapped_column(String(300))
    treating_country: Mapped[str] = mapped_column(String(2))
    status: Mapped[str] = mapped_column(String(30))
    # Periodic review (OOS-20): the release by the QP, or the exceptional-use decision of an OOS batch, places
    # the batch in a six-monthly period; ``outcome`` is released | oos_administered | oos_not_administered.
    # Both stay NULL until the batch is decided (imported from a LIMS export or mapped from a closed case).
    decided_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(30))


class TestResultRow(Base):
    __tablename__ = "test_results"
    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[str] = mapped_column(ForeignKey("batches.batch_id"), index=True)
    attribute: Mapped[str] = mapped_column(String(200))
    value: Mapped[float | None] = mapped_column(Float)
    text: Mapped[str | None] = mapped_column(String(300))
    unit: Mapped[str | None] = mapped_column(String(50))
    reported_at: Mapped[datetime]


class CaseRow(Base):
    __tablename__ = "cases"
    # One open case per batch, kept by the database even for concurrent opens (OOS-01).
    __table_args__ = (Index("ix_cases_one_open_per_batch", "batch_id", unique=True,
                            sqlite_where=text("status = 'open'"), postgresql_where=text("status = 'open'")),
                      Index("ix_cases_opened", "opened_at", "reference"),
                      Index("ix_cases_status_opened", "status", "opened_at", "reference"))
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    reference: Mapped[str] = mapped_column(String(40), unique=True)
    instance_id: Mapped[str] = mapped_column(ForeignKey("process_instances.id"), unique=True)
    batch_id: Mapped[str] = mapped_column(ForeignKey("batches.batch_id"), index=True)
    product_code: Mapped[str] = mapped_column(String(100))
    product_kind: Mapped[str] = mapped_column(String(30))
    specification_version: Mapped[int]
    findings: Mapped[list[Any]]
    parties: Mapped[dict[str, Any]]
    exceptional_use_reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(30), index=True)
    outcome: Mapped[str | None] = mapped_column(String(50))
    opened_at: Mapped[datetime]
    opened_by: Mapped[str] = mapped_column(String(200))
    closed_at: Mapped[datetime | None]


class CaseReferenceCounter(Base):
    """The last case number given out per year: OOS-<year>-<number> references without gaps or collisions."""

    __tablename__ = "case_reference_counters"
    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_number: Mapped[int] = mapped_column(Integer)


class Incident(Base):
    """A message that could not be processed after its retries: dead-lettered and visible on the case."""

    __tablename__ = "incidents"
    __table_args__ = (Index("ix_incidents_created", "created_at", "id"),
                      Index("ix_incidents_status_created", "status", "created_at", "id"))
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_id: Mapped[str | None] = mapped_column(String(36), index=True)
    queue: Mapped[str] = mapped_column(String(200))
    message_id: Mapped[str] = mapped_column(String(100))
    routing_key: Mapped[str] = mapped_column(String(200))
    body: Mapped[dict[str, Any]]
    error: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int]
    status: Mapped[str] = mapped_column(String(20), index=True)  # open | retried
    created_at: Mapped[datetime]
    retried_at: Mapped[datetime | None]
    retried_by: Mapped[str | None] = mapped_column(String(200))


class NcaAnswer(Base):
    """A national competent authority's answer whether it must be informed (OOS-14), reused by later cases."""

    __tablename__ = "nca_answers"
    id: Mapped[int] = mapped_column(primary_key=True)
    country: Mapped[str] = mapped_column(String(2), index=True)
    must_be_informed: Mapped[bool] = mapped_column(Boolean)
    reference: Mapped[str] = mapped_column(String(300))
    case_id: Mapped[str | None] = mapped_column(String(36))
    recorded_by: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[datetime]


class Agreement(Base):
    """A written agreement between manufacturer, importer and MAH (OOS-15), versioned, with validity."""

    __tablename__ = "agreements"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    reference: Mapped[str] = mapped_column(String(100), index=True)
    version: Mapped[int]
    manufacturer: Mapped[str] = mapped_column(String(300))
    importer: Mapped[str | None] = mapped_column(String(300))
    mah: Mapped[str] = mapped_column(String(300))
    responsibilities: Mapped[dict[str, Any]]
    signatures: Mapped[dict[str, Any]]
    valid_from: Mapped[datetime]
    valid_to: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(20), index=True)  # in_force | superseded
    instance_id: Mapped[str | None] = mapped_column(String(36))
    put_in_force_at: Mapped[datetime]


class RiskEvaluation(Base):
    """One version of a case's ICH Q9(R1) risk evaluation (OOS-05); the physician attests the SHA-256 seen."""

    __tablename__ = "risk_evaluations"
    __table_args__ = (UniqueConstraint("case_id", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[str] = mapped_column(String(36), index=True)
    version: Mapped[int]
    content: Mapped[dict[str, Any]]
    sha256: Mapped[str] = mapped_column(String(64))
    risk_level: Mapped[str | None] = mapped_column(String(20))
    author: Mapped[str] = mapped_column(String(200))
    approved_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]


class Administration(Base):
    """The administered dose linked to the OOS decision and the PV case (OOS-19)."""

    __tablename__ = "administrations"
    case_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    batch_id: Mapped[str] = mapped_column(String(100), index=True)
    administered_at: Mapped[datetime]
    dose: Mapped[str] = mapped_column(String(200))
    patient_pseudonym: Mapped[str] = mapped_column(String(100), index=True)
    chain_of_identity_id: Mapped[str] = mapped_column(String(100), index=True)
    pv_case_reference: Mapped[str] = mapped_column(String(100), index=True)
    decision_record_sha256: Mapped[str | None] = mapped_column(String(64))
    recorded_by: Mapped[str] = mapped_column(String(200))


# The evidence, identity and periodic review tables share Base.metadata (their own modules keep this one short).
from engine.store import evidence_models, identity_models, review_models  # noqa: E402, F401
