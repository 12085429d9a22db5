"""The append-only, hash-chained audit trail (OOS-24, OOS-17).

Each row stores the SHA-256 of its own content and of the previous row of its stream
(one stream per process instance, plus ``system``), so a changed or removed row breaks
the chain and :func:`chain_breaks` finds it. The database refuses UPDATE and DELETE on
the table (triggers from the first migration) and TRUNCATE (0006); removal of a stream's
last rows or a rewrite with recomputed successors is caught against the anchors kept
outside the database (:mod:`engine.services.audit_anchors`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from engine.services.identity import Actor
from engine.store.models import AuditEntry

GENESIS = "0" * 64


@dataclass(frozen=True)
class AuditEvent:
    action: str
    instance_id: str | None = None
    case_id: str | None = None
    element_id: str | None = None
    task_id: str | None = None
    data_before: dict[str, Any] | None = None
    data_after: dict[str, Any] | None = None
    reason: str | None = None


def _row_hash(fields: dict[str, Any]) -> str:
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _hashed_fields(entry: AuditEntry) -> dict[str, Any]:
    return {
        "stream": entry.stream,
        "instance_id": entry.instance_id,
        "case_id": entry.case_id,
        "at": entry.at.isoformat(),
        "actor": entry.actor,
        "role": entry.role,
        "action": entry.action,
        "element_id": entry.element_id,
        "task_id": entry.task_id,
        "data_before": entry.data_before,
        "data_after": entry.data_after,
        "reason": entry.reason,
        "prev_hash": entry.prev_hash,
    }


def append(session: Session, at: datetime, actor: Actor, event: AuditEvent, role: str | None = None) -> None:
    stream = event.instance_id or "system"
    if session.get_bind().dialect.name == "postgresql":
        # Writers of one stream (a user, the result consumer, several workers) must not both read the
        # same last hash: serialise them per stream until commit. SQLite serialises all writers itself.
        session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:stream, 0))"), {"stream": stream})
    prev = session.scalar(
        select(AuditEntry.row_hash).where(AuditEntry.stream == stream).order_by(AuditEntry.id.desc()).limit(1)
    )
    entry = AuditEntry(
        stream=stream,
        instance_id=event.instance_id,
        case_id=event.case_id,
        at=at,
        actor=actor.user,
        role=role if role is not None else actor.primary_role,
        action=event.action,
        element_id=event.element_id,
        task_id=event.task_id,
        data_before=event.data_before,
        data_after=event.data_after,
        reason=event.reason,
        prev_hash=prev or GENESIS,
    )
    entry.row_hash = _row_hash(_hashed_fields(entry))
    session.add(entry)
    session.flush()


@dataclass(frozen=True)
class RowBreak:
    """The first thing wrong with one audit row: its id and what a reader is told."""

    row_id: int
    problem: str


def chain_breaks(entries: Iterable[AuditEntry]) -> Iterator[RowBreak]:
    """Recompute one stream's chain (audit_log rows or AuditEntry objects, in id order); yield each broken row."""
    prev, prev_id = GENESIS, None
    for entry in entries:
        if entry.row_hash != _row_hash(_hashed_fields(entry)):
            yield RowBreak(entry.id, "row_hash does not match the row's content (the row was altered)")
        elif entry.prev_hash != prev:
            before = f"row {prev_id}" if prev_id is not None else "the start of the stream"
            yield RowBreak(entry.id, f"prev_hash does not match {before} (a row before it was removed or altered)")
        prev, prev_id = entry.row_hash, entry.id


def verify_chain(entries: Iterable[AuditEntry]) -> list[int]:
    """Ids of rows whose hash or link to the previous row does not match (empty = intact)."""
    return [found.row_id for found in chain_breaks(entries)]
