"""The append-only, hash-chained audit trail (OOS-24, OOS-17).

Each row stores the SHA-256 of its own content and of the previous row of its stream
(one stream per process instance, plus ``system``), so a changed or removed row breaks
the chain and :func:`chain_breaks` finds it. The database refuses UPDATE and DELETE on
the table (triggers from the first migration) and TRUNCATE (0006); removal of a stream's
last rows or a rewrite with recomputed successors is caught against the anchors kept
outside the database (:mod:`engine.services.audit_anchors`).
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import event, insert, select, text, update
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction

from engine.services.identity import Actor
from engine.store.models import AuditChainHead, AuditEntry

GENESIS = "0" * 64
_CHAIN = "oospath.audit_chain"  # key of the transaction's _Chain in Session.info


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


@dataclass
class _Head:
    """A stream's head as this transaction sees it: read once (under the stream's lock), then kept in memory."""

    last_id: int | None  # None: the stream has no row yet
    last_hash: str
    stored_id: int | None  # the head row's last_id in the database (None: no head row)


@dataclass
class _Chain:
    """The audit state of one transaction: streams locked, heads read, rows appended but not yet inserted."""

    locked: set[str] = field(default_factory=set)
    heads: dict[str, _Head] = field(default_factory=dict)
    pending: list[dict[str, Any]] = field(default_factory=list)
    savepoints: dict[SessionTransaction, tuple[list[dict[str, Any]], dict[str, _Head], set[str]]] = field(
        default_factory=dict)


def _chain(session: Session) -> _Chain:
    chain = session.info.get(_CHAIN)
    if chain is None:
        chain = session.info[_CHAIN] = _Chain()
    return chain


def lock_stream(session: Session, stream: str) -> None:
    """Serialise the writers of one stream until commit (PostgreSQL: a transaction advisory lock).

    Writers of one stream (a user, the result consumer, several workers, several processes) must not both
    read the same head. SQLite serialises all writers itself (the head is read by a statement that takes the
    database's write lock).
    """
    chain = _chain(session)
    if stream in chain.locked:
        return
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:stream, 0))"), {"stream": stream})
    chain.locked.add(stream)


def _read_head(session: Session, stream: str) -> _Head:
    """The stream's head by primary key, after taking the stream's lock (an O(1) read at any table size)."""
    lock_stream(session, stream)
    heads = AuditChainHead.__table__
    if session.get_bind().dialect.name == "postgresql":
        query: Any = select(heads.c.last_id, heads.c.last_hash).where(heads.c.stream == stream)
    else:  # a no-op UPDATE takes SQLite's write lock before the head is read: no other writer until commit
        query = (update(heads).where(heads.c.stream == stream).values(last_id=heads.c.last_id)
                 .returning(heads.c.last_id, heads.c.last_hash))
    found = session.connection().execute(query).first()
    if found is None:
        return _Head(None, GENESIS, None)
    return _Head(found.last_id, found.last_hash, found.last_id)


def _snapshot(data: dict[str, Any] | None) -> dict[str, Any] | None:
    """The data as it is now: the row is inserted at the next flush, after the caller may have changed it."""
    return None if data is None else json.loads(json.dumps(data, default=str))


def append(session: Session, at: datetime, actor: Actor, event: AuditEvent, role: str | None = None) -> None:
    """Chain one audit row to its stream; the step's rows are inserted together, before the next flush or
    query and before commit, in the caller's transaction."""
    stream = event.instance_id or "system"
    chain = _chain(session)
    head = chain.heads.get(stream)
    if head is None:
        head = chain.heads[stream] = _read_head(session, stream)
    row: dict[str, Any] = {
        "stream": stream, "instance_id": event.instance_id, "case_id": event.case_id, "at": at,
        "actor": actor.user, "role": role if role is not None else actor.primary_role, "action": event.action,
        "element_id": event.element_id, "task_id": event.task_id, "data_before": _snapshot(event.data_before),
        "data_after": _snapshot(event.data_after), "reason": event.reason, "prev_hash": head.last_hash,
    }
    row["row_hash"] = _row_hash({**row, "at": at.isoformat()})
    head.last_hash = row["row_hash"]
    chain.pending.append(row)


def insert_pending(session: Session) -> None:
    """Insert the rows appended since the last flush in one statement; learn the ids their heads end at."""
    chain = session.info.get(_CHAIN)
    if chain is None or not chain.pending:
        return
    rows, chain.pending = chain.pending, []
    table = AuditEntry.__table__
    # SQLAlchemy's "insertmanyvalues": one multi-row INSERT ... RETURNING per batch of rows, compiled once.
    # RETURNING's order is not promised: the ids are matched by row hash (unique: each includes its predecessor's).
    statement = insert(table).returning(table.c.id, table.c.row_hash)
    ids = {row_hash: row_id for row_id, row_hash in session.connection().execute(statement, rows)}
    previous: dict[str, int] = {}
    for row in rows:  # a stream's rows must get ascending ids in the order they were chained (verification order)
        row_id = ids[row["row_hash"]]
        if row_id <= previous.get(row["stream"], 0):
            raise RuntimeError(f"audit rows of stream {row['stream']} were numbered out of chain order")
        previous[row["stream"]] = chain.heads[row["stream"]].last_id = row_id


def write_heads(session: Session) -> None:
    """Store the heads the transaction moved, once, just before it commits (under the streams' locks)."""
    chain = session.info.get(_CHAIN)
    if chain is None:
        return
    heads = AuditChainHead.__table__
    for stream, head in chain.heads.items():
        if head.last_id is None or head.last_id == head.stored_id:
            continue
        values = {"last_id": head.last_id, "last_hash": head.last_hash}
        if head.stored_id is None:
            session.connection().execute(insert(heads).values(stream=stream, **values))
        else:
            session.connection().execute(update(heads).where(heads.c.stream == stream).values(**values))
        head.stored_id = head.last_id


@event.listens_for(Session, "before_flush")
def _insert_before_flush(session: Session, _context: Any, _instances: Any) -> None:
    insert_pending(session)


@event.listens_for(Session, "before_commit")
def _insert_before_commit(session: Session) -> None:
    insert_pending(session)
    write_heads(session)


@event.listens_for(Session, "do_orm_execute")
def _insert_before_query(execute_state: ORMExecuteState) -> None:
    insert_pending(execute_state.session)  # a query in the same transaction sees the rows appended before it


@event.listens_for(Session, "after_transaction_create")
def _remember_at_savepoint(session: Session, transaction: SessionTransaction) -> None:
    chain = session.info.get(_CHAIN)
    if transaction.nested and chain is not None:
        chain.savepoints[transaction] = (list(chain.pending), copy.deepcopy(chain.heads), set(chain.locked))


@event.listens_for(Session, "after_soft_rollback")
def _restore_at_savepoint(session: Session, previous: SessionTransaction) -> None:
    """A rolled-back savepoint takes back its rows and locks: the chain is as it was at the savepoint's start."""
    chain = session.info.get(_CHAIN)
    if chain is not None and previous.nested:
        chain.pending, chain.heads, chain.locked = chain.savepoints.get(previous, ([], {}, set()))


@event.listens_for(Session, "after_transaction_end")
def _forget_chain(session: Session, transaction: SessionTransaction) -> None:
    """Locks and what was read under them end with the transaction."""
    if transaction.parent is None:
        session.info.pop(_CHAIN, None)
    elif (chain := session.info.get(_CHAIN)) is not None:
        chain.savepoints.pop(transaction, None)


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
