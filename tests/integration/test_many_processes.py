"""Many processes on one PostgreSQL (issue 10 item 5): two API servers (``oospath serve``, gunicorn, real
subprocesses on their own ports) and two schedulers over the same cases, driven over HTTP with bearer tokens.

The processes run where PostgreSQL is configured (CI always configures it): SQLite has one writer by design,
and several API processes over it are refused.

# REQ: OOS-13 (each deadline timer fires once, its alerts leave once) OOS-24 (one attributable completion per
# decision; audit chains intact) OOS-25 (real tokens of users of the cases' organisations)
"""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from bench.fleet import (
    PATH_TO_NOTIFICATION,
    TIMERS_PER_CASE,
    Fleet,
    HttpError,
    Personas,
    armed_timers,
    prepare_installation,
    wait_for_timers,
)
from bench.scale import DEADLINES_PASSED
from engine.clock import FileClock
from engine.store.models import AuditEntry, Incident, OutboxMessage
from oospath.cli import main
from tests.conftest import PG_URL, REPO

CASES = 8
CLIENTS = 4
#: A line of any process's log that would mean a message was delivered twice or a request failed.
TROUBLE = ("Traceback", " ignored", "failed on", "deadlock")


def _race_first_step(personas: Personas, urls: list[str], case_id: str, now: datetime) -> list[Any]:
    """QA completes the investigation through both API processes at the same moment: the outcomes (a response
    body, or the HttpError of the refusal)."""
    token, task = personas.find_task(urls[0], case_id, "investigate_oos", "qa")
    seen = personas.call(urls[0], "GET", f"/api/v1/tasks/{task['id']}", token)["data"]
    body = personas.completion("investigate_oos", "qa", now, seen)
    barrier, outcomes = threading.Barrier(2), [None, None]

    def complete(index: int) -> None:
        barrier.wait()
        try:
            outcomes[index] = personas.call(urls[index], "POST", f"/api/v1/tasks/{task['id']}/complete", token, body)
        except HttpError as refused:
            outcomes[index] = refused

    threads = [threading.Thread(target=complete, args=(index,)) for index in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return outcomes


def _drive_all(personas: Personas, urls: list[str], batch_ids: list[str], clock: FileClock) -> list[Any]:
    """Every case through both APIs by concurrent clients; the first step of each is raced through both."""
    races: list[Any] = []
    failures: list[BaseException] = []

    def client(batches: list[str]) -> None:
        try:
            for batch_id in batches:
                case_id = personas.open_case(urls[len(races) % 2], batch_id)
                races.append(_race_first_step(personas, urls, case_id, clock.now()))
                personas.complete_steps(urls, case_id, PATH_TO_NOTIFICATION[1:], clock.now)
        except BaseException as failed:  # reported by the test, with the batch it happened on
            failures.append(failed)

    threads = [threading.Thread(target=client, args=(batch_ids[n::CLIENTS],)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert not failures, failures
    return races


@pytest.mark.parametrize("database_url", ["postgresql"] if PG_URL else [], indirect=True)  # PostgreSQL only
def test_two_api_processes_and_two_schedulers_advance_each_case_once_and_fire_each_timer_once(
    database_url: str, tmp_path: Path
) -> None:
    """OOS-13/OOS-24: eight cases driven concurrently through two gunicorn API processes, each step through the
    other process than the one before, while two schedulers run: the investigation completed through both
    processes at the same moment counts once (one 200, one 409); once the clock passes the 48 h deadline every
    escalation and overdue timer fires exactly once, every outbox message is relayed once (no redelivered
    result, nothing left unpublished, no dead letter), no response is a 5xx and `oospath audit verify` finds
    every hash chain intact."""
    var_dir = tmp_path / "var"
    var_dir.mkdir()
    clock = FileClock(tmp_path / "clock")
    clock.set(datetime.now(UTC).replace(microsecond=0))
    app, batch_ids = prepare_installation(database_url, var_dir, clock, CASES)
    fleet = Fleet(database_url, var_dir, clock)
    try:
        urls = [fleet.serve(), fleet.serve()]
        fleet.scheduler()
        fleet.scheduler()
        personas = Personas.log_in(urls[1])
        races = _drive_all(personas, urls, batch_ids, clock)
        assert armed_timers(app) == TIMERS_PER_CASE * CASES
        clock.advance(DEADLINES_PASSED)
        firing = wait_for_timers(app, TIMERS_PER_CASE * CASES, timeout=300)
        fleet.check_alive()
        audit = subprocess.run([sys.executable, "-m", "oospath.cli", "audit", "verify"], cwd=REPO,
                               env=fleet.environment(), capture_output=True, text=True, timeout=300)
    finally:
        fleet.stop()
    for outcomes in races:
        completed = [o for o in outcomes if isinstance(o, dict)]
        refused = [o for o in outcomes if isinstance(o, HttpError)]
        assert len(completed) == 1 and [r.status for r in refused] == [409], outcomes
    assert (firing.timers_fired, firing.timers_waiting, firing.timers_fired_twice) == (TIMERS_PER_CASE * CASES, 0, 0)
    assert firing.outbox_unpublished == 0
    assert not [status for status in personas.statuses if status >= 500]
    with app.uow() as uow:
        completions = uow.session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "task.completed", AuditEntry.element_id == "investigate_oos"))
        assert completions == CASES
        assert uow.session.scalar(select(func.count()).select_from(OutboxMessage)) > CASES
        assert uow.session.scalar(select(func.count()).select_from(Incident)) == 0
    app.db.dispose()
    for name, log in {**fleet.logs("api-"), **fleet.logs("scheduler-")}.items():
        assert not [line for line in log.splitlines() if any(word in line for word in TROUBLE)], name
    assert audit.returncode == 0, audit.stdout + audit.stderr


def test_several_api_processes_over_sqlite_are_refused_naming_the_reason(tmp_path: Path) -> None:
    """OOS-24: `oospath serve --workers 2` over SQLite (one writer) stops before serving and says PostgreSQL is
    needed, instead of answering requests with "database is locked" errors."""
    result = CliRunner().invoke(main, ["serve", "--workers", "2"],
                                env={"OOSPATH_DATABASE_URL": f"sqlite:///{tmp_path / 'oospath.db'}",
                                     "OOSPATH_VAR_DIR": str(tmp_path)})
    assert result.exit_code == 1
    assert "--workers > 1 needs PostgreSQL" in result.output
    assert not (tmp_path / "oospath.db").exists()
