"""`python -m bench.audit [--rows N] [--streams M] [--database-url URL]`: anchoring and verifying the audit trail.

Figures (OOS-24): the scheduler's anchor pass when nothing changed and when one stream moved,
the full `oospath audit verify`, and one case's verification, over N rows in M streams.
A fresh SQLite file is used unless --database-url names a PostgreSQL database (its schema is replaced).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, text

from engine.services.audit import GENESIS, _hashed_fields, _row_hash
from engine.services.audit_anchors import verify_audit_trail, write_anchor
from engine.store.db import make_engine, session_factory, upgrade
from engine.store.models import AuditEntry


def _rows(count: int, streams: int, start: datetime, prefix: str = "instance") -> list[dict[str, object]]:
    prev = {f"{prefix}-{s:05d}": GENESIS for s in range(streams)}
    names, rows = list(prev), []
    for number in range(count):
        stream = names[number % streams]
        entry = AuditEntry(stream=stream, instance_id=stream, case_id=None, at=start + timedelta(seconds=number),
                           actor="bench", role="qa", action="task.completed", element_id="Task_x", task_id=None,
                           data_before=None, data_after={"n": number, "note": "x" * 40}, reason=None,
                           prev_hash=prev[stream])
        entry.row_hash = prev[stream] = _row_hash(_hashed_fields(entry))
        rows.append({c.name: getattr(entry, c.name) for c in AuditEntry.__table__.columns if c.name != "id"})
    return rows


def _timed(what: str, action):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    outcome = action()
    print(f"{what:<48} {time.perf_counter() - started:8.3f} s")
    return outcome


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.audit")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--streams", type=int, default=1_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="oospath-bench-audit-"))
    url = args.database_url or f"sqlite:///{workdir / 'oospath.db'}"
    engine = make_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    upgrade(engine)
    rows = _rows(args.rows, args.streams, datetime(2026, 1, 1, tzinfo=UTC))
    with engine.begin() as conn:
        conn.execute(insert(AuditEntry), rows)
    sessions, log, now = session_factory(engine), workdir / "audit-anchors.jsonl", datetime.now(UTC)
    print(f"{args.rows} audit rows in {args.streams} streams on {engine.dialect.name}")
    with sessions() as session:
        _timed("anchor, every head new", lambda: write_anchor(session, log, now))
        _timed("anchor, nothing changed (each scheduler pass)", lambda: write_anchor(session, log, now))
    with engine.begin() as conn:  # a new stream's first row
        conn.execute(insert(AuditEntry), _rows(1, 1, datetime(2026, 6, 1, tzinfo=UTC), prefix="new"))
    with sessions() as session:
        written = _timed("anchor, one stream moved", lambda: write_anchor(session, log, now))
        assert written.changed == 1
        result = _timed("verify, every stream against every anchor", lambda: verify_audit_trail(session, log))
        assert result.intact, result.breaks[:3]
        one = _timed("verify, one case's stream", lambda: verify_audit_trail(session, log, "instance-00007"))
        assert one.intact
    print(f"anchor log: {log.stat().st_size} bytes, {len(log.read_text().splitlines())} line(s)")
    engine.dispose()
    shutil.rmtree(workdir)


if __name__ == "__main__":
    main()
