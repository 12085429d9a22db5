"""`python -m bench tasks [--tasks N] [--audit-rows M] [--timers T] [--repeat R] [--database-url URL]`.

Task lists at scale (OOS-25 work lists, OOS-13 deadlines): N open tasks (default 100,000) and M audit
rows (default 1,000,000) bulk-loaded with SQL on PostgreSQL (``OOSPATH_TEST_DATABASE_URL`` unless
``--database-url``; its schema is replaced). Measured: the first and the 100th page of 50 of one role's
list for a user of one organisation, through the service layer and through the Flask test client (HTTP,
``p99_ms``); a page of one case's audit trail; and one scheduler pass firing 100 due timers among T
(default 100,000) waiting ones, split into the query that finds them and the firing (each advances its
workflow in its own transaction). EXPLAIN shows which index serves each query. The last line is one JSON
object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, text

from api import create_app
from engine.bootstrap import Oospath, bootstrap
from engine.clock import FrozenClock
from engine.services import audit_views, definitions, instances, tasks
from engine.services.identity import SYSTEM, Actor
from engine.services.pages import PageRequest
from engine.services.scheduling import fire_due
from engine.services.timers import due_timer_ids
from engine.settings import Settings
from engine.store.db import make_engine, upgrade

REPO = Path(__file__).resolve().parents[1]
START = datetime(2026, 6, 1, tzinfo=UTC)
ROLES = ("qa", "physician", "qp", "mah_ra")
CASES = 10_000
ORGANISATION = "Bench Organisation 0"  # party to half the cases of each role
BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
TIMER_PROCESS = f"""<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="{BPMN}" id="d" targetNamespace="urn:bench">
  <process id="bench_timer" isExecutable="true">
    <startEvent id="start"><outgoing>to_wait</outgoing></startEvent>
    <sequenceFlow id="to_wait" sourceRef="start" targetRef="wait_an_hour"/>
    <intermediateCatchEvent id="wait_an_hour"><incoming>to_wait</incoming><outgoing>from_wait</outgoing>
      <timerEventDefinition><timeDuration>PT1H</timeDuration></timerEventDefinition></intermediateCatchEvent>
    <sequenceFlow id="from_wait" sourceRef="wait_an_hour" targetRef="end"/>
    <endEvent id="end"><incoming>from_wait</incoming></endEvent>
  </process>
</definitions>
""".encode()

# Bulk rows, written by the database itself (generate_series): instances of cases, open tasks of four roles
# (one in five without a due time, due times in no particular order of creation), the organisations party
# to the cases, audit rows (NOT a valid hash chain: the list bench reads them, it does not verify them),
# and timers: waiting ones due tomorrow or later, and as many already fired.
LOAD = {
    "instances": """INSERT INTO process_instances (id, definition_id, process_key, status, state, version, started_at,
        started_by, updated_at, case_id)
        SELECT 'bench-instance-' || n, :definition, 'bench_timer', 'running', '{}', 1, :start, 'bench', :start,
               'bench-case-' || n FROM generate_series(0, :cases - 1) n""",
    "case parties": """INSERT INTO case_parties (case_id, organisation)
        SELECT 'bench-case-' || n, 'Bench Organisation ' || (n / 4 % 2) FROM generate_series(0, :cases - 1) n""",
    "open tasks": """INSERT INTO tasks (id, instance_id, case_id, element_id, name, kind, role, state, created_at,
        due_at)
        SELECT 'bench-task-' || n, 'bench-instance-' || (n % :cases), 'bench-case-' || (n % :cases), 'decide',
               'Decide', 'user', (ARRAY['qa', 'physician', 'qp', 'mah_ra'])[n % 4 + 1], 'ready',
               :start + n * interval '1 second',
               CASE WHEN n % 5 = 0 THEN NULL ELSE :start + ((n * 7919) % 100003) * interval '1 minute' END
        FROM generate_series(0, :tasks - 1) n""",
    "audit rows": """INSERT INTO audit_log (stream, instance_id, case_id, at, actor, role, action, element_id,
        data_after, prev_hash, row_hash)
        SELECT 'bench-instance-' || (n % :cases), 'bench-instance-' || (n % :cases), 'bench-case-' || (n % :cases),
               :start + n * interval '1 second', 'bench', 'qa', 'task.completed', 'decide',
               json_build_object('n', n), repeat('0', 64), repeat('0', 64)
        FROM generate_series(0, :audit - 1) n""",
    "timers": """INSERT INTO timers (id, instance_id, element_id, due_at, status, fired_at)
        SELECT 'bench-timer-' || n, 'bench-instance-' || (n % :cases), 'wait_an_hour',
               CASE WHEN n % 2 = 0 THEN :start + interval '1 day' + n * interval '1 second'
                    ELSE :start - interval '1 day' - n * interval '1 second' END,
               CASE WHEN n % 2 = 0 THEN 'waiting' ELSE 'fired' END,
               CASE WHEN n % 2 = 0 THEN NULL ELSE :start - interval '1 day' END
        FROM generate_series(0, 2 * :timers - 1) n""",
}


def _fresh_schema(url: str) -> None:
    engine = make_engine(url)
    if engine.dialect.name != "postgresql":
        raise SystemExit("bench tasks runs on PostgreSQL: set OOSPATH_TEST_DATABASE_URL or --database-url")
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    upgrade(engine)
    engine.dispose()


def _start_timers(app: Oospath, count: int) -> None:
    """``count`` real instances of a process waiting one hour on a timer (the ones the scheduler fires)."""
    with app.uow() as uow:
        definitions.deploy(uow.session, app.runtime, {"bench_timer.bpmn": TIMER_PROCESS}, SYSTEM)
        uow.commit()
    for _ in range(count):
        with app.uow() as uow:
            instances.start_instance(uow.session, app.runtime, "bench_timer", {}, SYSTEM)
            uow.commit()


def _load(app: Oospath, sizes: dict[str, int]) -> None:
    with app.db.begin() as conn:
        definition = conn.execute(text("SELECT id FROM process_definitions WHERE key = 'bench_timer'")).scalar_one()
        values = {"definition": definition, "start": START, "cases": CASES, **sizes}
        for what, statement in LOAD.items():
            started = time.perf_counter()
            conn.execute(text(statement), values)
            print(f"  loaded {what:<14} {time.perf_counter() - started:6.1f} s")
    with app.db.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))


def _timed(action: Callable[[], Any], repeat: int) -> tuple[list[float], Any]:
    action()  # warm: caches and the connection pool
    samples, outcome = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        outcome = action()
        samples.append((time.perf_counter() - started) * 1000)
    return samples, outcome


def _p99(samples: list[float]) -> float:
    return round(statistics.quantiles(samples, n=100)[-1], 2) if len(samples) > 1 else round(samples[0], 2)


def _explain(app: Oospath, action: Callable[[], Any]) -> list[str]:
    """EXPLAIN ANALYZE of every statement ``action`` sends (captured as sent, with its parameters)."""
    sent: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            sent.append((statement, parameters))

    event.listen(app.db, "before_cursor_execute", capture)
    try:
        action()
    finally:
        event.remove(app.db, "before_cursor_execute", capture)
    plans = []
    with app.db.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        for statement, parameters in sent:
            with raw.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, COSTS OFF) " + statement, parameters)
                plans.append("\n".join(f"      {row[0]}" for row in cursor.fetchall()))
    return plans


def _task_pages(app: Oospath, repeat: int) -> dict[str, Any]:
    """First and 100th page of 50 of qa's open tasks for a user of one organisation: service and HTTP."""
    actor = Actor("bench.qa", frozenset({"qa"}), ORGANISATION)
    cursors: list[str | None] = [None]

    def page(after: str | None) -> Any:
        with app.uow() as uow:
            return tasks.list_tasks(uow.session, roles={"qa"}, actor=actor, page=PageRequest(50, after))

    for _ in range(99):
        cursors.append(page(cursors[-1]).after)
    service = {n: _timed(lambda c=cursors[n - 1]: page(c), repeat)[0] for n in (1, 100)}
    client = create_app({"OOSPATH": app, "TESTING": True, "AUTH": "dev-headers"}).test_client()
    headers = {"X-Oospath-User": "bench.qa", "X-Oospath-Roles": "qa", "X-Oospath-Org": ORGANISATION}
    paths = {1: "/api/v1/tasks?role=qa&limit=50", 100: f"/api/v1/tasks?role=qa&limit=50&after={cursors[99]}"}
    http, sizes = {}, {}
    for n, path in paths.items():
        http[n], response = _timed(lambda p=path: client.get(p, headers=headers), repeat)
        assert response.status_code == 200 and len(response.json["items"]) == 50, response.json
        sizes[n] = len(response.data)
    for n in (1, 100):
        print(f"  page {n:>3} of 50  service p50 {statistics.median(service[n]):6.2f} ms  p99 {_p99(service[n]):6.2f}"
              f" ms   HTTP p50 {statistics.median(http[n]):6.2f} ms  p99 {_p99(http[n]):6.2f} ms  {sizes[n]} bytes")
    for n in (1, 100):
        print(f"  EXPLAIN page {n}:")
        print("\n".join(_explain(app, lambda c=cursors[n - 1]: page(c))))
    return {"p99_ms": _p99(http[1] + http[100]), "service_p99_ms": _p99(service[1] + service[100]),
            "http_p50_ms": round(statistics.median(http[1] + http[100]), 2), "page_bytes": sizes[100]}


def _audit_pages(app: Oospath, repeat: int) -> dict[str, Any]:
    def page() -> Any:
        with app.uow() as uow:
            return audit_views.instance_trail(uow.session, "bench-instance-4242", PageRequest(50))

    samples, found = _timed(page, repeat)
    assert found.items
    print(f"  one stream's audit page of 50 (service)  p99 {_p99(samples):6.2f} ms")
    print("\n".join(_explain(app, page)))
    return {"audit_page_p99_ms": _p99(samples)}


def _fire_timers(app: Oospath, clock: FrozenClock, repeat: int) -> dict[str, Any]:
    clock.advance(timedelta(hours=1, minutes=1))

    def query() -> list[str]:
        with app.uow() as uow:
            return due_timer_ids(uow.session, clock.now(), 100)

    samples, due = _timed(query, repeat)
    assert len(due) == 100, len(due)
    print(f"  finding 100 due timers among the waiting   p99 {_p99(samples):6.2f} ms")
    print("\n".join(_explain(app, query)))
    started = time.perf_counter()
    fired = fire_due(app)
    total = (time.perf_counter() - started) * 1000
    assert fired == 100, fired
    print(f"  scheduler pass firing 100 timers            {total:8.1f} ms (the query once, then 100 transactions "
          f"of {total / 100:.1f} ms each: lock, load and advance the workflow, audit, save)")
    return {"timers_ms": round(total, 1), "timers_query_p99_ms": _p99(samples),
            "timers_firing_ms_per_timer": round(total / 100, 2)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench tasks")
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--audit-rows", type=int, default=1_000_000)
    parser.add_argument("--timers", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--database-url", default=os.environ.get("OOSPATH_TEST_DATABASE_URL"))
    args = parser.parse_args(argv)
    if not args.database_url:
        raise SystemExit("bench tasks runs on PostgreSQL: set OOSPATH_TEST_DATABASE_URL or --database-url")
    _fresh_schema(args.database_url)
    clock = FrozenClock(START)
    settings = Settings(var_dir=Path(tempfile.mkdtemp(prefix="oospath-bench-tasks-")), database_url=args.database_url,
                        smtp_url=None, processes_dir=REPO / "processes")
    app = bootstrap(settings, clock, migrate=False)
    print(f"PostgreSQL: {args.tasks} open tasks ({len(ROLES)} roles, {CASES} cases), {args.audit_rows} audit rows "
          f"(bulk-loaded, not a valid hash chain), {args.timers} waiting timers + as many fired, 100 due")
    _start_timers(app, 100)
    _load(app, {"tasks": args.tasks, "audit": args.audit_rows, "timers": args.timers - 100})
    figures = {"tasks": args.tasks, "audit_rows": args.audit_rows, "waiting_timers": args.timers}
    figures |= _task_pages(app, args.repeat)
    figures |= _audit_pages(app, args.repeat)
    figures |= _fire_timers(app, clock, args.repeat)
    app.db.dispose()
    print(json.dumps(figures))
