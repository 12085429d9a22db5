"""The audit trail proves itself: tampering by a privileged database user is found (OOS-24, OOS-17).

A case is driven through the service layer, the chain heads are anchored outside the database,
then an intruder with the owner's rights (SQLite: triggers dropped; PostgreSQL: the owner with
``session_replication_role = replica``) alters the trail; ``oospath audit verify`` must exit
non-zero naming the row or the anchor contradicted.

# REQ: OOS-24 OOS-17
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Connection, make_url, select, text, update

from engine.bootstrap import Oospath
from engine.services import cases
from engine.services.audit import GENESIS, _hashed_fields, _row_hash
from engine.services.audit_anchors import anchor, anchor_pass, verify_case_chain
from engine.store.db import make_engine
from engine.store.models import AuditEntry
from oospath.cli import main
from oospath.scenarios import EXCEPTIONAL_USE_REASON, SCENARIOS
from tests.conftest import PG_URL
from tests.integration.conftest import QA
from workers.embedded import EmbeddedMessaging


@pytest.fixture
def case_stream(app: Oospath, pathway: EmbeddedMessaging) -> tuple[str, str]:
    """An opened case whose workers have run: (case id, its stream); every stream anchored once."""
    with app.uow() as uow:
        case = cases.open_case(uow.session, app.runtime, SCENARIOS["authorised"], EXCEPTIONAL_USE_REASON, QA)
        uow.commit()
        case_id, stream = case.id, case.instance_id
    pathway.pump()
    assert anchor(app).line == 1
    return case_id, stream


def oospath(app: Oospath, *args: str) -> Result:
    env = {"OOSPATH_DATABASE_URL": app.settings.database_url, "OOSPATH_VAR_DIR": str(app.settings.var_dir),
           "OOSPATH_AUDIT_ANCHOR_LOG": str(app.settings.audit_anchor_log), "OOSPATH_REVIEW_CYCLE": "off"}
    return CliRunner().invoke(main, list(args), env=env)


@contextmanager
def intruder(owner_url: str) -> Iterator[Connection]:
    """A connection of someone who can get the append-only triggers out of the way."""
    engine = make_engine(owner_url)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            conn.execute(text("DROP TRIGGER audit_log_no_update"))
            conn.execute(text("DROP TRIGGER audit_log_no_delete"))
        yield conn
    engine.dispose()


def stream_rows(app: Oospath, stream: str) -> list[AuditEntry]:
    with app.uow() as uow:
        return list(uow.session.scalars(select(AuditEntry).where(AuditEntry.stream == stream)
                                        .order_by(AuditEntry.id)))


def test_an_intact_trail_verifies_with_exit_status_0(app: Oospath, case_stream: tuple[str, str]) -> None:
    # REQ: OOS-24
    result = oospath(app, "audit", "verify")
    assert result.exit_code == 0, result.output
    assert "audit trail intact" in result.output and "BREAK" not in result.output
    case_only = oospath(app, "audit", "verify", "--case", case_stream[0])
    assert case_only.exit_code == 0 and "1 stream(s)" in case_only.output


def test_an_updated_row_is_named(app: Oospath, database_owner_url: str, case_stream: tuple[str, str]) -> None:
    # REQ: OOS-24 OOS-17
    target = stream_rows(app, case_stream[1])[1]
    with intruder(database_owner_url) as conn:
        conn.execute(update(AuditEntry).where(AuditEntry.id == target.id).values(actor="mallory"))
    result = oospath(app, "audit", "verify")
    assert result.exit_code == 1
    assert f"stream {case_stream[1]}, row {target.id}: row_hash does not match" in result.output


def test_a_deleted_middle_row_is_named_at_its_successor(app: Oospath, database_owner_url: str,
                                                        case_stream: tuple[str, str]) -> None:
    # REQ: OOS-24
    rows = stream_rows(app, case_stream[1])
    with intruder(database_owner_url) as conn:
        conn.execute(text("DELETE FROM audit_log WHERE id = :id"), {"id": rows[1].id})
    result = oospath(app, "audit", "verify")
    assert result.exit_code == 1
    assert f"row {rows[2].id}: prev_hash does not match row {rows[0].id}" in result.output
    assert "BROKEN" in result.output


def test_a_deleted_last_row_contradicts_the_anchor(app: Oospath, database_owner_url: str,
                                                   case_stream: tuple[str, str]) -> None:
    # REQ: OOS-24
    last = stream_rows(app, case_stream[1])[-1]
    with intruder(database_owner_url) as conn:
        conn.execute(text("DELETE FROM audit_log WHERE id = :id"), {"id": last.id})
    result = oospath(app, "audit", "verify")
    assert result.exit_code == 1
    assert f"stream {case_stream[1]}, row {last.id}: the row is gone; anchor line 1" in result.output


def test_an_emptied_table_contradicts_the_anchor(app: Oospath, database_owner_url: str,
                                                 case_stream: tuple[str, str]) -> None:
    # REQ: OOS-24
    with intruder(database_owner_url) as conn:
        conn.execute(text("TRUNCATE audit_log" if conn.dialect.name == "postgresql" else "DELETE FROM audit_log"))
    result = oospath(app, "audit", "verify")
    assert result.exit_code == 1
    assert f"stream {case_stream[1]}: the stream has no rows; anchor line 1" in result.output
    assert "stream system: the stream has no rows" in result.output


def test_a_rewrite_with_recomputed_successor_hashes_contradicts_the_anchor(
        app: Oospath, database_owner_url: str, case_stream: tuple[str, str]) -> None:
    # REQ: OOS-24
    rows = stream_rows(app, case_stream[1])
    prev = GENESIS
    with intruder(database_owner_url) as conn:
        for entry in rows:
            if entry is rows[1]:
                entry.actor = "mallory"
            entry.prev_hash = prev
            entry.row_hash = prev = _row_hash(_hashed_fields(entry))
            conn.execute(update(AuditEntry).where(AuditEntry.id == entry.id)
                         .values(actor=entry.actor, prev_hash=entry.prev_hash, row_hash=entry.row_hash))
    result = oospath(app, "audit", "verify")
    assert result.exit_code == 1
    assert "prev_hash does not match" not in result.output  # the chain itself recomputes cleanly
    assert f"stream {case_stream[1]}, row {rows[-1].id}: row_hash" in result.output
    assert "recorded by anchor line 1" in result.output
    with app.uow() as uow:  # the case view reports the same (OOS-24)
        assert verify_case_chain(uow.session, app.settings.audit_anchor_log, case_stream[0]).broken_rows == [
            rows[-1].id]


def test_an_edited_anchor_line_is_detected(app: Oospath, case_stream: tuple[str, str]) -> None:
    # REQ: OOS-24
    log = app.settings.audit_anchor_log
    assert log is not None
    line = json.loads(log.read_text())
    line["heads"][case_stream[1]]["rows"] -= 1  # hide a future deletion of the last row
    log.write_text(json.dumps(line) + "\n")
    result = oospath(app, "audit", "verify")
    assert result.exit_code == 1
    assert "anchor log: anchor line 1" in result.output and "does not match its content" in result.output


def test_anchors_are_appended_and_chained_by_command(app: Oospath, pathway: EmbeddedMessaging,
                                                     case_stream: tuple[str, str]) -> None:
    # REQ: OOS-24
    unchanged = oospath(app, "audit", "anchor")
    assert unchanged.exit_code == 0 and "no head changed" in unchanged.output
    with app.uow() as uow:
        cases.open_case(uow.session, app.runtime, SCENARIOS["clinical-trial"], EXCEPTIONAL_USE_REASON, QA)
        uow.commit()
    written = oospath(app, "audit", "anchor")
    assert written.exit_code == 0 and "as line 2 of" in written.output
    log = Path(str(app.settings.audit_anchor_log)).read_text().splitlines()
    assert json.loads(log[1])["prev"] == json.loads(log[0])["hash"]
    assert oospath(app, "audit", "verify").exit_code == 0


def test_each_scheduler_pass_anchors_the_moved_chain_heads(app: Oospath, case_stream: tuple[str, str]) -> None:
    # REQ: OOS-24
    with app.uow() as uow:
        cases.open_case(uow.session, app.runtime, SCENARIOS["clinical-trial"], EXCEPTIONAL_USE_REASON, QA)
        uow.commit()
    assert oospath(app, "scheduler", "--once").exit_code == 0
    lines = Path(str(app.settings.audit_anchor_log)).read_text().splitlines()
    assert len(lines) == 2 and case_stream[1] not in json.loads(lines[1])["heads"]  # only what moved


def test_an_unusable_anchor_log_is_reported_not_a_crash(app: Oospath, tmp_path: Path,
                                                        case_stream: tuple[str, str]) -> None:
    # REQ: OOS-24 — the scheduler keeps firing timers; the case view reports a break instead of failing
    app.settings = replace(app.settings, audit_anchor_log=tmp_path)  # a directory: neither readable nor writable
    assert anchor_pass(app) is None
    with app.uow() as uow:
        result = verify_case_chain(uow.session, tmp_path, case_stream[0])
    assert not result.intact and "cannot be read" in str(result.breaks[0])


@pytest.mark.parametrize("database_url", ["postgresql"] if PG_URL else [], indirect=True)  # roles: PostgreSQL only
def test_the_application_role_cannot_truncate_or_disable_triggers(app: Oospath, case_stream: tuple[str, str]) -> None:
    # REQ: OOS-24 OOS-17
    for statement in ("TRUNCATE audit_log", "TRUNCATE records", "ALTER TABLE audit_log DISABLE TRIGGER ALL",
                      "SET session_replication_role = replica", "DROP TRIGGER audit_log_no_update ON audit_log"):
        with pytest.raises(Exception, match=r"permission denied|must be owner"), app.db.begin() as conn:
            conn.execute(text(statement))
    with pytest.raises(Exception, match="append-only"), app.db.begin() as conn:
        conn.execute(text("DELETE FROM audit_log"))
    assert oospath(app, "audit", "verify").exit_code == 0


def test_db_grant_app_role_refuses_a_role_that_could_bypass_the_guards(database_owner_url: str) -> None:
    # REQ: OOS-24 — least privilege: the application's role is no superuser and owns no table
    env = {"OOSPATH_DATABASE_URL": database_owner_url}
    owner = make_url(database_owner_url).username or "postgres"
    result = CliRunner().invoke(main, ["db-grant-app-role", owner], env=env)
    assert result.exit_code == 2
    expected = "SQLite has no roles" if database_owner_url.startswith("sqlite") else "must own no table"
    assert expected in result.output
