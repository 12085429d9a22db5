"""Anchors of the audit trail kept outside the database, and the verification that uses them (OOS-24).

The hash chain of :mod:`engine.services.audit` proves that no row *inside* a stream was
altered, but not that a stream's last rows were removed, that the table was emptied, or that
someone with database rights rewrote a row and recomputed every later hash. The anchor log
closes that gap: an append-only JSON Lines file, outside the database, in which every line
records the chain heads (stream -> last row id, its row hash, the number of rows) that changed
since the line before, the time of the container's clock, and the SHA-256 of the previous line,
so that editing, removing or reordering a line breaks the anchor log's own chain.

Verification recomputes every stream's chain and checks it against every head ever anchored:
a stream with fewer rows than anchored, a row at an anchored id with another hash, an anchored
row or stream that is gone each contradict the anchor that recorded it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import groupby
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.services.audit import chain_breaks
from engine.store.models import AuditEntry, CaseRow

if TYPE_CHECKING:
    from engine.bootstrap import Oospath

LOG_GENESIS = "0" * 64
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChainHead:
    """Where one stream ended when it was anchored."""

    last_id: int
    row_hash: str
    rows: int


@dataclass(frozen=True)
class AnchorLine:
    """One line of the anchor log: the heads that changed since the line before."""

    number: int
    at: str
    heads: dict[str, ChainHead]

    def __str__(self) -> str:
        return f"anchor line {self.number} ({self.at})"


@dataclass(frozen=True)
class AuditBreak:
    """One thing found wrong: in a stream (at a row, or against an anchor) or in the anchor log itself."""

    stream: str | None
    row_id: int | None
    problem: str

    def __str__(self) -> str:
        where = f"stream {self.stream}" if self.stream is not None else "anchor log"
        row = f", row {self.row_id}" if self.row_id is not None else ""
        return f"{where}{row}: {self.problem}"


@dataclass
class AuditVerification:
    """The outcome of recomputing the chains and checking them against the anchors (OOS-24)."""

    anchor_log: Path
    streams: int = 0
    rows: int = 0
    anchor_lines: int = 0
    breaks: list[AuditBreak] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.breaks

    @property
    def broken_rows(self) -> list[int]:
        return sorted({found.row_id for found in self.breaks if found.row_id is not None})

    def summary(self) -> str:
        checked = (f"{self.streams} stream(s), {self.rows} row(s) recomputed, "
                   f"checked against {self.anchor_lines} anchor line(s) of {self.anchor_log}")
        if self.breaks:
            return f"audit trail BROKEN: {len(self.breaks)} break(s); {checked}"
        if not self.anchor_lines:
            return (f"audit trail chains intact: {checked}; without anchors the removal of a stream's last rows "
                    "cannot be detected (run `oospath audit anchor`)")
        return f"audit trail intact: {checked}"


# -- the anchor log file ---------------------------------------------------------------------------------------


def _line_hash(content: dict[str, Any]) -> str:
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _parse_line(number: int, raw: str, prev: str) -> tuple[AnchorLine | None, str, AuditBreak | None]:
    """One line checked against its own hash and the previous line's; returns (line, its hash, problem)."""
    try:
        content = json.loads(raw)
        stated = content.pop("hash")
        heads = {stream: ChainHead(int(h["last_id"]), str(h["row_hash"]), int(h["rows"]))
                 for stream, h in content["heads"].items()}
        line = AnchorLine(number, str(content["at"]), heads)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return None, prev, AuditBreak(None, None, f"line {number} is not a readable anchor ({exc})")
    if _line_hash(content) != stated:
        return line, stated, AuditBreak(None, None, f"{line}: its hash does not match its content (line edited)")
    if content.get("prev") != prev:
        return line, stated, AuditBreak(None, None, f"{line}: does not follow the line before it "
                                                    "(a line was removed, inserted or reordered)")
    return line, stated, None


@dataclass
class AnchorLog:
    """The anchor log as read: its lines, the problems of its own chain, the hash the next line follows."""

    lines: list[AnchorLine] = field(default_factory=list)
    problems: list[AuditBreak] = field(default_factory=list)
    last_hash: str = LOG_GENESIS
    line_count: int = 0


def read_anchor_log(path: Path) -> AnchorLog:
    read = AnchorLog()
    if not path.exists():
        return read
    try:
        with path.open(encoding="utf-8") as handle:
            for number, raw in enumerate(handle, start=1):
                line, read.last_hash, problem = _parse_line(number, raw, read.last_hash)
                read.line_count = number
                if line is not None:
                    read.lines.append(line)
                if problem is not None:
                    read.problems.append(problem)
    except (OSError, UnicodeDecodeError) as exc:
        read.problems.append(AuditBreak(None, None, f"{path} cannot be read ({exc})"))
    return read


def latest_heads(lines: Iterable[AnchorLine]) -> dict[str, ChainHead]:
    heads: dict[str, ChainHead] = {}
    for line in lines:
        heads.update(line.heads)
    return heads


def chain_heads(session: Session) -> dict[str, ChainHead]:
    """Every stream's current head, in one query."""
    per_stream = (select(AuditEntry.stream, func.max(AuditEntry.id).label("last_id"),
                         func.count().label("rows")).group_by(AuditEntry.stream).subquery())
    query = select(per_stream.c.stream, per_stream.c.last_id, AuditEntry.row_hash, per_stream.c.rows).join(
        AuditEntry, AuditEntry.id == per_stream.c.last_id)
    return {stream: ChainHead(last_id, row_hash, rows) for stream, last_id, row_hash, rows in session.execute(query)}


@dataclass(frozen=True)
class AnchorWritten:
    path: Path
    streams: int
    changed: int
    line: int | None  # None: nothing changed since the last anchor, no line written


@dataclass
class _Tail:
    """What the next line needs from the log; kept per file while the file has the size we left it at."""

    size: int
    last_hash: str
    line_count: int
    heads: dict[str, ChainHead]


_tails: dict[Path, _Tail] = {}


def _tail(path: Path, size: int) -> _Tail:
    cached = _tails.get(path)
    if cached is not None and cached.size == size:
        return cached  # each scheduler pass: no re-reading of the whole log
    log = read_anchor_log(path)
    return _Tail(size, log.last_hash, log.line_count, latest_heads(log.lines))


def write_anchor(session: Session, path: Path, at: datetime) -> AnchorWritten:
    """Append the heads that changed since the last anchor line (none changed: nothing is written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # the scheduler and an operator may anchor at the same moment
        tail = _tail(path, os.fstat(handle.fileno()).st_size)
        current = chain_heads(session)
        changed = {stream: head for stream, head in current.items() if tail.heads.get(stream) != head}
        if not changed:
            _tails[path] = tail
            return AnchorWritten(path, len(current), 0, None)
        content: dict[str, Any] = {
            "at": at.isoformat(), "prev": tail.last_hash,
            "heads": {stream: {"last_id": h.last_id, "row_hash": h.row_hash, "rows": h.rows}
                      for stream, h in sorted(changed.items())},
        }
        content["hash"] = _line_hash(content)
        handle.write(json.dumps(content, sort_keys=True, separators=(",", ":")) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
        _tails[path] = _Tail(os.fstat(handle.fileno()).st_size, content["hash"], tail.line_count + 1,
                             tail.heads | changed)
    return AnchorWritten(path, len(current), len(changed), tail.line_count + 1)


def anchor(app: Oospath) -> AnchorWritten:
    """Anchor the chain heads now (``oospath audit anchor``)."""
    assert app.settings.audit_anchor_log is not None
    with app.uow() as uow:
        return write_anchor(uow.session, app.settings.audit_anchor_log, app.clock.now())


def anchor_pass(app: Oospath) -> AnchorWritten | None:
    """The scheduler's anchoring on every pass: a log that cannot be written is logged, timers still fire."""
    try:
        return anchor(app)
    except OSError:
        logger.exception("OOS-24: the audit anchor log %s could not be written", app.settings.audit_anchor_log)
        return None


# -- verification ----------------------------------------------------------------------------------------------


class _StreamCheck:
    """Counts a stream's rows as they pass and compares them with every head anchored for it."""

    def __init__(self, stream: str, anchored: list[tuple[AnchorLine, ChainHead]]) -> None:
        self.stream, self.anchored, self.rows = stream, anchored, 0
        self.by_id: dict[int, list[tuple[AnchorLine, ChainHead]]] = defaultdict(list)
        for line, head in anchored:
            self.by_id[head.last_id].append((line, head))
        self.seen: dict[int, str] = {}

    def observe(self, entries: Iterable[AuditEntry]) -> Iterator[AuditEntry]:
        for entry in entries:
            self.rows += 1
            if entry.id in self.by_id:
                self.seen[entry.id] = entry.row_hash
            yield entry

    def contradiction(self) -> AuditBreak | None:
        """The first anchor (in log order) the stream as it is now contradicts."""
        for line, head in self.anchored:
            if self.rows == 0:
                return AuditBreak(self.stream, None, f"the stream has no rows; {line} recorded {head.rows} "
                                                     f"row(s) up to row {head.last_id} (rows removed)")
            found = self.seen.get(head.last_id)
            if found is None:
                return AuditBreak(self.stream, head.last_id, f"the row is gone; {line} recorded it as the "
                                                             f"stream's last row (rows removed)")
            if found != head.row_hash:
                return AuditBreak(self.stream, head.last_id, f"row_hash {found[:12]}… differs from "
                                                             f"{head.row_hash[:12]}… recorded by {line} "
                                                             "(rows rewritten with recomputed hashes)")
            if self.rows < head.rows:
                return AuditBreak(self.stream, None, f"{self.rows} row(s) now, {line} recorded {head.rows} "
                                                     f"up to row {head.last_id} (rows removed)")
        return None


def _anchored_by_stream(lines: list[AnchorLine]) -> dict[str, list[tuple[AnchorLine, ChainHead]]]:
    anchored: dict[str, list[tuple[AnchorLine, ChainHead]]] = defaultdict(list)
    for line in lines:
        for stream, head in line.heads.items():
            anchored[stream].append((line, head))
    return anchored


def _check_stream(result: AuditVerification, stream: str, entries: Iterable[AuditEntry],
                  anchored: list[tuple[AnchorLine, ChainHead]]) -> None:
    check = _StreamCheck(stream, anchored)
    breaks = list(chain_breaks(check.observe(entries)))  # consumed to the end: every row is counted
    if breaks:
        result.breaks.append(AuditBreak(stream, breaks[0].row_id, breaks[0].problem))
    if (contradiction := check.contradiction()) is not None:
        result.breaks.append(contradiction)
    result.streams += 1
    result.rows += check.rows


def verify_audit_trail(session: Session, anchor_log: Path, stream: str | None = None) -> AuditVerification:
    """Recompute every stream's chain (or only ``stream``'s) and check it against every anchored head."""
    log = read_anchor_log(anchor_log)
    result = AuditVerification(anchor_log, anchor_lines=len(log.lines), breaks=list(log.problems))
    anchored = _anchored_by_stream(log.lines)
    # Plain rows, not ORM objects: the hash needs only the columns, and a whole trail is read at once.
    table = AuditEntry.__table__
    query = select(table).order_by(table.c.stream, table.c.id).execution_options(yield_per=2000)
    if stream is not None:
        query = query.where(table.c.stream == stream)
    present: set[str] = set()
    for name, entries in groupby(session.execute(query), key=lambda entry: entry.stream):
        present.add(name)
        _check_stream(result, name, entries, anchored.get(name, []))
    wanted = [stream] if stream is not None else sorted(anchored)
    for name in wanted:
        if name not in present and anchored.get(name):
            _check_stream(result, name, [], anchored[name])
    return result


def verify_case_chain(session: Session, anchor_log: Path, case: CaseRow | str) -> AuditVerification:
    """The case's stream (its pathway instance) recomputed and checked against the anchors (OOS-24)."""
    row = case if isinstance(case, CaseRow) else session.get(CaseRow, case)
    if row is None or row.instance_id is None:
        return AuditVerification(anchor_log)
    return verify_audit_trail(session, anchor_log, stream=row.instance_id)
