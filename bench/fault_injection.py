"""Fault injection: drive many OOS cases while worker and relay processes are SIGKILLed and the broker restarts.

Proves that nothing is lost or doubled: every notification task has exactly one delivery evidence
row, every evidence row's Message-ID reached the SMTP server, no message is dead-lettered, no incident
is open, and every case closes.

- an aiosmtpd SMTP server on 127.0.0.1 (free port) records every message it receives (raw bytes);
- the database is a PostgreSQL database of this run's own (``oospath_fault``, created if missing, its
  schema dropped and re-created; many processes write at once) or, when PostgreSQL is not reachable,
  a SQLite file in the temporary directory;
- a FileClock shared through OOSPATH_CLOCK_FILE, AMQP namespace ``oospath-fault`` (purged first);
- the relay and the workers (notifications x2, records, reporting, results x2, inbound) run as child
  processes (oospath.supervisor); the cases are driven interleaved from this process through the
  service layer with the scripted actors of oospath.scenarios;
- a killer thread SIGKILLs a random worker or relay process at random moments (restarting it at once)
  and, once mid-run, stops and restarts the RabbitMQ application (``rabbitmqctl stop_app/start_app``:
  local test broker only; everything oospath declares is durable).

Exit code 0 only if every check passed. Prints figures; never asserts timings.
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.parser import BytesParser
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from engine.bootstrap import Oospath, bootstrap
from engine.clock import FileClock
from engine.domain import catalogue
from engine.services import cases, catalog
from engine.services.audit_views import chain_intact
from engine.services.errors import Conflict, ServiceError
from engine.services.identity import Actor
from engine.services.scheduling import fire_due
from engine.settings import Settings
from engine.store.db import make_engine
from engine.store.models import CaseRow, Incident, NotificationRow, OutboxMessage, RecordRow, TaskRow
from oospath.demo import (
    deploy_processes,
    put_agreement_in_force,
    scripted_step,
    seed_catalogue,
    wait_until_settled,
)
from oospath.scenarios import EXCEPTIONAL_USE_REASON, PERSONAS, SCENARIOS, STEP_DURATION
from oospath.supervisor import Supervisor, command
from workers.transport.rabbitmq import RabbitMqTransport, amqp_url
from workers.transport.topology import Topology

NAMESPACE = "oospath-fault"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/oospath_fault"
PROCESSES = ("relay", "notifications#1", "notifications#2", "records", "reporting", "results#1", "results#2",
             "inbound")
MIX = {"authorised": 0.7, "clinical-trial": 0.15, "declined": 0.15}
OPENER = Actor(PERSONAS["qa"].user, frozenset({"qa"}))


def say(line: str) -> None:
    print(line, flush=True)


# ---- SMTP ----------------------------------------------------------------------------------------
class SmtpRecorder:
    """aiosmtpd handler: keeps every message (raw bytes, also written to ``directory``), its Message-ID and
    when it arrived (seconds since ``started``)."""

    def __init__(self, directory: Path, started: float) -> None:
        self.directory = directory
        self.started = started
        directory.mkdir(parents=True, exist_ok=True)
        self.lock = threading.Lock()
        self.messages: list[bytes] = []
        self.message_ids: list[str] = []
        self.received_at: list[float] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd hook
        content = bytes(envelope.original_content or envelope.content)
        parsed = BytesParser(policy=default_policy).parsebytes(content, headersonly=True)
        with self.lock:
            self.messages.append(content)
            self.message_ids.append(str(parsed.get("Message-ID", "")).strip())
            self.received_at.append(time.monotonic() - self.started)
            (self.directory / f"{len(self.messages):05d}.eml").write_bytes(content)
        return "250 OK"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---- database ------------------------------------------------------------------------------------
def prepare_database(url: str | None, var: Path) -> str:
    """This run's own PostgreSQL database, emptied; SQLite in ``var`` when PostgreSQL is unreachable."""
    if url == "sqlite":
        return f"sqlite:///{var / 'fault.db'}"
    candidate = url or DEFAULT_PG
    parsed = make_url(candidate)
    if parsed.database in (None, "", "test", "postgres"):
        raise SystemExit(f"refusing to empty database {parsed.database!r}: give a database of your own")
    try:
        admin = make_engine(parsed.set(database="postgres").render_as_string(hide_password=False))
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if not conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": parsed.database}):
                conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
        admin.dispose()
        engine = make_engine(candidate)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
        return candidate
    except DBAPIError as exc:
        if url:
            raise
        say(f"PostgreSQL not reachable ({type(exc).__name__}); using SQLite in {var}")
        return f"sqlite:///{var / 'fault.db'}"


# ---- processes -----------------------------------------------------------------------------------
class Fleet(Supervisor):
    """The supervisor, with several processes of one kind: ``notifications#2`` runs ``worker notifications``."""

    def restart(self, kind: str) -> subprocess.Popen[bytes]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with (self.log_dir / f"{kind.replace('#', '-')}.log").open("ab") as log:
            process = subprocess.Popen(command(kind.split("#")[0]), env={**os.environ, **self.env}, stdout=log,
                                       stderr=log)
        self.processes[kind] = process
        return process


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=120)


@dataclass
class Faults:
    kills: list[tuple[float, str, int]] = field(default_factory=list)
    broker_restarts: int = 0
    broker_down_s: float = 0.0
    broker_stopped: bool = False
    broker_windows: list[tuple[float, float]] = field(default_factory=list)


class Killer(threading.Thread):
    """SIGKILLs a random process each time the run's progress passes a random threshold; restarts the broker
    once at half-way."""

    def __init__(self, fleet: Fleet, faults: Faults, kills: int, progress: Callable[[], float], rng: random.Random,
                 broker_down: float, started: float) -> None:
        super().__init__(name="killer", daemon=True)
        self.fleet, self.faults, self.progress, self.rng = fleet, faults, progress, rng
        self.thresholds = sorted(rng.uniform(0.0, 0.9) for _ in range(kills))
        self.broker_at = 0.5 if broker_down > 0 else None
        self.broker_down = broker_down
        self.started = started
        self.stopping = threading.Event()
        self.error: BaseException | None = None
        self.victims: list[str] = []

    def run(self) -> None:
        try:
            for threshold in self.thresholds:
                if not self._wait_for(threshold):
                    return
                self.stopping.wait(self.rng.uniform(0.0, 0.7))  # a random moment, not just after a step
                name = self._next_victim()
                pid = self.fleet.processes[name].pid
                self.fleet.kill(name)
                self.fleet.restart(name)
                self.faults.kills.append((time.monotonic() - self.started, name, pid))
            if self.broker_at is not None and self._wait_for(self.broker_at):
                self._restart_broker()
        except BaseException as exc:  # reported by the main thread
            self.error = exc

    def _next_victim(self) -> str:
        """Random order, every process once per round: the relay and each worker are all hit."""
        if not self.victims:
            self.victims = list(PROCESSES)
            self.rng.shuffle(self.victims)
        return self.victims.pop()

    def _wait_for(self, threshold: float) -> bool:
        while self.progress() < threshold:
            if self.stopping.wait(0.05):
                return False
        if self.broker_at is not None and self.progress() >= self.broker_at:
            self._restart_broker()
        return not self.stopping.is_set()

    def _restart_broker(self) -> None:
        self.broker_at = None
        say(f"  [{time.monotonic() - self.started:6.1f} s] rabbitmqctl stop_app")
        began = time.monotonic()
        self.faults.broker_stopped = True
        rabbitmqctl("stop_app")
        self.stopping.wait(self.broker_down)
        rabbitmqctl("start_app")
        rabbitmqctl("await_startup")
        self.faults.broker_stopped = False
        self.faults.broker_down_s = time.monotonic() - began
        self.faults.broker_windows.append((began - self.started, time.monotonic() - self.started))
        self.faults.broker_restarts += 1
        say(f"  [{time.monotonic() - self.started:6.1f} s] rabbitmqctl start_app "
            f"(down {self.faults.broker_down_s:.1f} s)")


# ---- driving the cases ---------------------------------------------------------------------------
@dataclass
class DrivenCase:
    number: int
    scenario: str
    batch_id: str
    case_id: str = ""
    closed: bool = False
    uploaded: set[str] = field(default_factory=set)


@dataclass
class Driving:
    opened: int = 0
    closed: int = 0
    steps: int = 0
    conflicts: int = 0
    database_errors: int = 0
    timers_fired: int = 0
    stalled: bool = False
    refusals: collections.Counter[str] = field(default_factory=collections.Counter)


def open_driven(app: Oospath, case: DrivenCase) -> None:
    batch = replace(catalogue.sample_batch(SCENARIOS[case.scenario]), batch_id=case.batch_id)
    with app.uow() as uow:  # batch and case in one transaction: a failed attempt leaves neither
        catalog.register_batch(uow.session, app.clock, batch, OPENER)
        row = cases.open_case(uow.session, app.runtime, batch.batch_id, EXCEPTIONAL_USE_REASON, OPENER)
        uow.commit()
        case.case_id = row.id


def drive_round(app: Oospath, clock: FileClock, active: dict[str, DrivenCase], rng: random.Random,
                window: int, driving: Driving) -> set[str]:
    """Complete one ready user task of every active case that has one, in random order; returns closed cases."""
    with app.uow() as uow:
        ready = list(uow.session.scalars(select(TaskRow).where(
            TaskRow.case_id.in_(active), TaskRow.kind == "user", TaskRow.state == "ready")
            .order_by(TaskRow.created_at, TaskRow.id)))
        closed = set(uow.session.scalars(select(CaseRow.id).where(CaseRow.id.in_(active),
                                                                  CaseRow.status == "closed")))
    first: dict[str, TaskRow] = {}
    for row in ready:
        first.setdefault(row.case_id or "", row)
    order = list(first.items())
    rng.shuffle(order)
    for case_id, row in order:
        case = active[case_id]
        # The shared clock serves every case: each step moves it by its scripted duration / the window.
        clock.advance(STEP_DURATION.get(row.element_id, timedelta(hours=1)) / window)
        try:
            first_try = row.element_id not in case.uploaded  # QA uploads once, even if the step is retried
            case.uploaded.add(row.element_id)
            scripted_step(app, row, case.scenario, upload=first_try)
            driving.steps += 1
        except Conflict:
            driving.conflicts += 1  # a worker result changed the instance at the same time: next round
        except DBAPIError:
            driving.database_errors += 1
        except ServiceError as exc:  # refused by a rule: retried next round, reported
            driving.refusals[f"{row.element_id}: {exc}"[:160]] += 1
    return closed


def drive(app: Oospath, clock: FileClock, plan: list[DrivenCase], window: int, rng: random.Random,
          driving: Driving, stall_timeout: float, started: float) -> None:
    pending = collections.deque(plan)
    active: dict[str, DrivenCase] = {}
    last_progress = last_report = time.monotonic()
    while pending or active:
        while pending and len(active) < window:
            case = pending[0]
            try:
                open_driven(app, case)
            except (Conflict, DBAPIError):
                driving.database_errors += 1
                break
            pending.popleft()
            active[case.case_id] = case
            driving.opened += 1
            last_progress = time.monotonic()
        steps_before = driving.steps
        closed = drive_round(app, clock, active, rng, window, driving)
        for case_id in closed:
            active.pop(case_id).closed = True
            driving.closed += 1
        fired = fire_due(app)
        driving.timers_fired += fired
        now = time.monotonic()
        if driving.steps > steps_before or closed or fired:
            last_progress = now
        elif now - last_progress > stall_timeout:
            driving.stalled = True
            say(f"  no progress for {stall_timeout:.0f} s: {len(active)} open case(s) wait for workers; giving up")
            return
        if now - last_report > 15:
            last_report = now
            say(f"  [{now - started:6.1f} s] opened {driving.opened}, closed {driving.closed}, "
                f"user steps {driving.steps}, conflicts {driving.conflicts}")
        if driving.steps == steps_before:
            time.sleep(0.05)


# ---- settling and the tally ----------------------------------------------------------------------
def unsettled(app: Oospath) -> tuple[int, int]:
    with app.uow() as uow:
        unpublished = uow.session.scalar(select(func.count()).select_from(OutboxMessage)
                                         .where(OutboxMessage.published_at.is_(None))) or 0
        waiting = uow.session.scalar(select(func.count()).select_from(TaskRow).where(TaskRow.state == "waiting")) or 0
    return unpublished, waiting


def queued_messages() -> dict[str, int]:
    """Messages (ready and unacknowledged) in every queue of the namespace, retry queues included."""
    listing = subprocess.run(["rabbitmqctl", "list_queues", "name", "messages", "--no-table-headers", "-q"],
                             check=True, capture_output=True, text=True, timeout=60).stdout
    counts = {}
    for line in listing.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].startswith(NAMESPACE + ".") and parts[0] != f"{NAMESPACE}.dead":
            counts[parts[0]] = int(parts[1])
    return counts


def settle(app: Oospath, timeout: float) -> tuple[bool, float, str]:
    began = time.monotonic()
    quiet_since: float | None = None
    state = ""
    while time.monotonic() - began < timeout:
        unpublished, waiting = unsettled(app)
        queued = sum(queued_messages().values())
        state = f"{unpublished} unpublished outbox row(s), {waiting} waiting task(s), {queued} queued message(s)"
        if not unpublished and not waiting and not queued:
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since >= 2.0:  # quiet for a while: nothing is in a handler either
                return True, time.monotonic() - began, state
        else:
            quiet_since = None
        time.sleep(0.5)
    return False, time.monotonic() - began, state


def explain_duplicates(smtp: SmtpRecorder, faults: Faults, logs: Path, limit: int = 10) -> list[str]:
    """For each Message-ID received twice: when, the kills just before, and what the process logs say about it."""
    arrivals: dict[str, list[float]] = collections.defaultdict(list)
    for message_id, at in zip(smtp.message_ids, smtp.received_at, strict=True):
        arrivals[message_id].append(at)
    lines = []
    for message_id, times in [(m, t) for m, t in arrivals.items() if len(t) > 1][:limit]:
        work_id = message_id.strip("<>").split("@")[0]
        # Who can send one message twice: a notifications worker (killed after sending, before committing) or
        # the relay (killed after the broker confirmed, before committing: published again) or the broker.
        kills = [f"{name} (pid {pid}) killed at {at:.1f} s" for at, name, pid in faults.kills
                 if times[0] - 2 <= at <= times[-1] + 0.5 and name.startswith(("notifications", "relay"))]
        broker = [f"broker down {a:.1f}-{b:.1f} s" for a, b in faults.broker_windows
                  if times[0] - 10 <= b and a <= times[-1]]
        lines.append(f"{message_id} received at {', '.join(f'{t:.1f} s' for t in times)}; "
                     f"faults just before: {'; '.join(kills + broker) or 'none'}")
        for log in sorted(logs.glob("*.log")):
            for entry in log.read_text(errors="replace").splitlines():
                if work_id in entry:
                    lines.append(f"  {log.stem}: {entry[:200]}")
    return lines


@dataclass
class Tally:
    lines: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def show(self, label: str, value: object) -> None:
        self.lines.append(f"  {label:58s} {value}")

    def check(self, ok: bool, label: str, value: object) -> None:
        self.show(f"{label} [{'ok' if ok else 'FAIL'}]", value)
        if not ok:
            self.failures.append(label)


def tally(app: Oospath, plan: list[DrivenCase], smtp: SmtpRecorder, dead: int, faults: Faults, logs: Path,
          result: Tally) -> None:
    with app.uow() as uow:
        s = uow.session
        ids = [c.case_id for c in plan if c.case_id]
        rows = {c.id: c for c in s.scalars(select(CaseRow).where(CaseRow.id.in_(ids)))}
        not_closed = [c for c in plan if not c.case_id or rows[c.case_id].status != "closed"]
        outcomes = collections.Counter((c.scenario, rows[c.case_id].outcome) for c in plan if c.case_id)
        result.show("cases driven (authorised / clinical-trial / declined)",
                    f"{len(plan)} ({' / '.join(str(sum(c.scenario == k for c in plan)) for k in MIX)})")
        result.show("outcomes per scenario", ", ".join(f"{k}: {v}" for k, v in sorted(outcomes.items(), key=str)))
        result.check(not not_closed, "cases closed", f"{len(plan) - len(not_closed)} of {len(plan)}")
        for case in not_closed[:20]:
            open_tasks = [f"{t.element_id}({t.kind},{t.state})" for t in s.scalars(select(TaskRow).where(
                TaskRow.case_id == case.case_id, TaskRow.state.in_(("ready", "waiting"))))]
            result.show(f"    not closed: #{case.number} {case.scenario} {case.case_id}", ", ".join(open_tasks))

        work = list(s.scalars(select(OutboxMessage).where(OutboxMessage.routing_key.like("work.%"))))
        notify = [m for m in work if m.routing_key == "work.notify"]
        notify_tasks = {m.body["task_id"] for m in notify}
        service = {t.id: t for t in s.scalars(select(TaskRow).where(TaskRow.kind == "service"))}
        evidence = list(s.scalars(select(NotificationRow)))
        per_task = collections.Counter(e.task_id for e in evidence)
        duplicates = sum(n - 1 for n in per_task.values() if n > 1)
        missing = sorted(notify_tasks - set(per_task))
        unrequested = sorted(set(per_task) - notify_tasks)
        result.show("service tasks (tasks.kind = 'service') / completed",
                    f"{len(service)} / {sum(t.state == 'completed' for t in service.values())}")
        result.show("notification work messages requested (outbox work.notify)",
                    f"{len(notify)} for {len(notify_tasks)} task(s), all service tasks: "
                    f"{'yes' if notify_tasks <= set(service) else 'no'}")
        result.check(not duplicates and not missing and not unrequested,
                     "evidence rows exactly once per (case, notification task)",
                     f"{len(evidence)} rows; duplicates {duplicates}, missing {len(missing)}, "
                     f"without a request {len(unrequested)}")
        for task_id in missing[:10]:
            task = service.get(task_id)
            result.show("    missing evidence for task", f"{task_id} {task.element_id if task else '?'} "
                        f"{task.state if task else ''}")

        smtp_ids = list(smtp.message_ids)
        distinct = set(smtp_ids)
        evidence_ids = {e.message_id.strip() for e in evidence}
        result.show("SMTP messages received", len(smtp.messages))
        result.show("distinct Message-IDs received", len(distinct))
        result.show("SMTP duplicates (same Message-ID again)",
                    f"{len(smtp_ids) - len(distinct)} (a worker killed between the SMTP send and its commit, "
                    "or one work message handled twice at once)")
        for line in explain_duplicates(smtp, faults, logs):
            result.show("   ", line)
        result.check(len(distinct) == len(evidence) and distinct == evidence_ids,
                     "evidence rows == distinct SMTP Message-IDs",
                     f"{len(evidence)} == {len(distinct)}; evidence never received {len(evidence_ids - distinct)}, "
                     f"received without evidence {len(distinct - evidence_ids)}")

        records = [m for m in work if m.routing_key != "work.notify"]  # records and reporting workers' work
        kinds = collections.Counter(m.routing_key.removeprefix("work.") for m in records)
        captured = collections.Counter(r.meta.get("work_message_id") for r in s.scalars(select(RecordRow)))
        record_dups = sum(captured[m.message_id] - 1 for m in records if captured[m.message_id] > 1)
        record_missing = sum(1 for m in records if not captured[m.message_id])
        result.check(not record_dups and not record_missing, "records exactly once per other work message",
                     f"{len(records)} ({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))}); "
                     f"duplicates {record_dups}, missing {record_missing}")

        result.check(dead == 0, "dead-letter queue", f"{dead} message(s)")
        incidents = list(s.scalars(select(Incident).where(Incident.status == "open")))
        result.check(not incidents, "open incidents", len(incidents))
        for incident in incidents[:10]:
            result.show(f"    incident {incident.queue} {incident.routing_key}", incident.error[:100])

        instances = [rows[i].instance_id for i in ids if i in rows]
        broken = {i: chain_intact(s, i) for i in instances}
        broken = {i: b for i, b in broken.items() if b}
        result.show("audit hash chains broken (per instance; not in the exit code)",
                    f"{len(broken)} of {len(instances)} ({sum(map(len, broken.values()))} row(s))")


# ---- main ----------------------------------------------------------------------------------------
def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench fault_injection")
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--window", type=int, default=20, help="cases open at the same time")
    parser.add_argument("--broker-down", type=float, default=4.0,
                        help="seconds between rabbitmqctl stop_app and start_app (0: no broker restart)")
    parser.add_argument("--database-url", default=None,
                        help=f"a database of this run's own, emptied first (default: {DEFAULT_PG}, "
                             "else SQLite in the temporary directory; 'sqlite': SQLite there anyway)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--stall-timeout", type=float, default=300.0, help="give up driving after this long idle")
    parser.add_argument("--settle-timeout", type=float, default=600.0)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (kept anyway on failure)")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    started = time.monotonic()
    var = Path(tempfile.mkdtemp(prefix="oospath-fault-"))

    recorder = SmtpRecorder(var / "smtp", started)
    port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    database_url = prepare_database(args.database_url, var)
    clock = FileClock(var / "clock")
    clock.set(datetime.now(UTC).replace(microsecond=0))
    settings = Settings(var_dir=var, database_url=database_url, smtp_url=f"smtp://127.0.0.1:{port}")
    app = bootstrap(settings, clock)
    deploy_processes(app)
    seed_catalogue(app)
    url = amqp_url()
    setup = RabbitMqTransport(url, topology=Topology(NAMESPACE))
    setup.declare()
    setup.purge()
    setup.close()

    env = {"OOSPATH_SMTP_URL": settings.smtp_url or "", "OOSPATH_DATABASE_URL": database_url,
           "OOSPATH_VAR_DIR": str(var), "OOSPATH_CLOCK_FILE": str(clock.path), "OOSPATH_AMQP_NAMESPACE": NAMESPACE,
           "OOSPATH_AMQP_URL": url, "OOSPATH_RETRY_DELAY_MS": os.environ.get("OOSPATH_RETRY_DELAY_MS", "200")}
    fleet = Fleet(env, var / "logs")
    faults = Faults()
    plan = [DrivenCase(n, scenario, f"FI-{n:04d}-{SCENARIOS[scenario]}")
            for n, scenario in enumerate(rng.choices(list(MIX), weights=list(MIX.values()), k=args.cases), 1)]
    driving = Driving()
    killer = Killer(fleet, faults, args.kills, lambda: driving.closed / max(len(plan), 1), rng, args.broker_down,
                    started)
    result = Tally()
    backend = make_url(database_url).get_backend_name()
    say(f"fault injection: {args.cases} cases, {args.kills} kills, seed {seed}, {backend}, SMTP 127.0.0.1:{port}, "
        f"namespace {NAMESPACE}, data in {var}")
    previous_handler = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        fleet.start(PROCESSES)
        put_agreement_in_force(app, lambda: wait_until_settled(app, args.settle_timeout))  # OOS-15, once
        killer.start()
        drive(app, clock, plan, max(args.window, 1), rng, driving, args.stall_timeout, started)
        driven_s = time.monotonic() - started
        say(f"  [{driven_s:6.1f} s] driving done: {driving.closed} of {len(plan)} closed; settling")
        if driving.stalled:
            killer.stopping.set()
        killer.join()
        if killer.error is not None:
            raise RuntimeError("the killer thread failed") from killer.error
        settled, settle_s, state = settle(app, args.settle_timeout)
        fleet.stop()
        check = RabbitMqTransport(url, topology=Topology(NAMESPACE))
        dead = len(check.dead_letters())
        check.close()
        wall = time.monotonic() - started
        tally(app, plan, recorder, dead, faults, var / "logs", result)
        result.check(settled, "settled (outbox published, nothing waiting or queued)",
                     f"{'yes' if settled else 'NO'} after {settle_s:.1f} s ({state})")
        result.check(len(faults.kills) >= args.kills, "kills performed (SIGKILL + restart)", len(faults.kills))
        per_process = collections.Counter(name for _, name, _ in faults.kills)
        result.show("    kills per process", ", ".join(f"{k} {v}" for k, v in sorted(per_process.items())))
        result.check(faults.broker_restarts >= (1 if args.broker_down > 0 else 0),
                     "broker restarts (stop_app/start_app)",
                     f"{faults.broker_restarts} (down {faults.broker_down_s:.1f} s)")
        result.show("user steps / conflicts retried / database errors retried",
                     f"{driving.steps} / {driving.conflicts} / {driving.database_errors}")
        result.show("timers fired", driving.timers_fired)
        for refusal, count in driving.refusals.most_common(5):
            result.show(f"    step refused {count}x", refusal)
        result.show("wall time", f"{wall:.1f} s (driving {driven_s:.1f} s, settling {settle_s:.1f} s)")
    finally:
        signal.signal(signal.SIGTERM, previous_handler)
        killer.stopping.set()
        if faults.broker_stopped:
            rabbitmqctl("start_app")
        fleet.stop()
        controller.stop()
        app.db.dispose()
    say("result")
    for line in result.lines:
        say(line)
    if result.failures:
        say(f"FAILED: {', '.join(result.failures)}; logs and data in {var}")
        sys.exit(1)
    say("PASSED: nothing lost, nothing doubled")
    if not args.keep:
        shutil.rmtree(var, ignore_errors=True)
