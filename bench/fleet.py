"""Several oospath processes over one PostgreSQL database, driven over real HTTP with real tokens.

Shared by ``python -m bench scale`` and tests/integration/test_many_processes.py: API servers
(``oospath serve``, gunicorn) and schedulers (``oospath scheduler``) as subprocesses on free ports, one
shared FileClock (``OOSPATH_CLOCK_FILE``) the caller moves; the installation prepared in-process (processes
deployed, demo catalogue and people, the written agreement in force, OOS batches registered); the
scripted personas logging in and driving cases through the API up to the Supervisory Authority
notification, whose two deadline timers (escalation and overdue, OOS-13) are then armed; and the checks
that every timer fired once and every outbox message was relayed once.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from engine.bootstrap import Oospath, bootstrap
from engine.clock import FileClock
from engine.domain import catalogue
from engine.services import catalog
from engine.settings import Settings
from engine.store.models import AuditEntry, OutboxMessage, Timer
from oospath.demo import ADMIN, deploy_processes, put_agreement_in_force, seed_catalogue
from oospath.demo_people import DEMO_PASSWORD
from oospath.scenarios import EXCEPTIONAL_USE_REASON, PERSONAS, form_data
from workers.embedded import EmbeddedMessaging

REPO = Path(__file__).resolve().parents[1]
#: The case's user tasks up to the Supervisory Authority notification, and the role completing each.
PATH_TO_NOTIFICATION = (("investigate_oos", "qa"), ("evaluate_risks", "qa"), ("physician_decision", "physician"),
                        ("verify_batch_verifications", "qp"), ("verify_import_procedures", "qp"),
                        ("supply_batch", "qa"))
DEADLINE_TIMERS = ("sa_deadline_escalation", "sa_deadline_overdue")  # armed at each case's SA notification
TIMERS_PER_CASE = len(DEADLINE_TIMERS)
TASK_APPEARS_WITHIN = 30.0  # seconds


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Fleet:
    """The subprocesses of one installation; each writes its output to a log file of its own."""

    database_url: str
    var_dir: Path
    clock: FileClock
    processes: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    def environment(self) -> dict[str, str]:
        return {**os.environ, "OOSPATH_DATABASE_URL": self.database_url, "OOSPATH_VAR_DIR": str(self.var_dir),
                "OOSPATH_CLOCK_FILE": str(self.clock.path), "OOSPATH_PROCESSES_DIR": str(REPO / "processes"),
                "OOSPATH_AUTH": "token", "OOSPATH_EMBEDDED_MESSAGING": "true", "PYTHONUNBUFFERED": "1"}

    def _start(self, name: str, *arguments: str) -> None:
        log = (self.var_dir / f"{name}.log").open("wb")
        process = subprocess.Popen([sys.executable, "-m", "oospath.cli", *arguments], cwd=REPO,
                                   env=self.environment(), stdout=log, stderr=subprocess.STDOUT)
        self.processes.append((name, process))

    def serve(self, workers: int = 1) -> str:
        """One ``oospath serve --workers N``; returns its base URL once it answers."""
        port = free_port()
        self._start(f"api-{port}", "serve", "--port", str(port), "--workers", str(workers))
        url = f"http://127.0.0.1:{port}"
        self._wait_until_up(url)
        return url

    def scheduler(self, interval: float = 0.2) -> None:
        self._start(f"scheduler-{len(self.processes)}", "scheduler", "--interval", str(interval))

    def _wait_until_up(self, url: str, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=5):
                    return
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")

    def check_alive(self) -> None:
        for name, process in self.processes:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}: {self.log_of(name)[-2000:]}")

    def log_of(self, name: str) -> str:
        return (self.var_dir / f"{name}.log").read_text(errors="replace")

    def logs(self, prefix: str) -> dict[str, str]:
        return {name: self.log_of(name) for name, _ in self.processes if name.startswith(prefix)}

    def stop(self) -> None:
        for _, process in self.processes:
            if process.poll() is None:
                process.terminate()
        for _, process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def prepare_installation(database_url: str, var_dir: Path, clock: FileClock, cases: int) -> tuple[Oospath, list[str]]:
    """Deploy, seed the demo catalogue and people, put the agreement in force and register ``cases`` copies of
    the viability-OOS batch (each opens one case); returns the container (on the shared clock) and batch ids."""
    settings = Settings(var_dir=var_dir, database_url=database_url, smtp_url=None, processes_dir=REPO / "processes")
    app = bootstrap(settings, clock, migrate=False)
    deploy_processes(app)
    seed_catalogue(app)
    put_agreement_in_force(app, EmbeddedMessaging(app).pump)
    run = uuid.uuid4().hex[:6].upper()
    template = catalogue.sample_batch(catalogue.BATCH_VIABILITY_OOS)
    batch_ids = [f"SCALE-{run}-{n:04d}" for n in range(cases)]
    with app.uow() as uow:
        for batch_id in batch_ids:
            catalog.register_batch(uow.session, app.clock, replace(template, batch_id=batch_id), ADMIN)
        uow.commit()
    return app, batch_ids


class HttpError(Exception):
    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        super().__init__(f"{method} {path}: {status} {body[:300]}")
        self.status = status


@dataclass
class Personas:
    """Bearer tokens of the scripted personas, one per organisation they act for, and the requests they make."""

    tokens: dict[str, list[str]] = field(default_factory=dict)  # role -> tokens
    statuses: list[int] = field(default_factory=list)  # every response's status (list.append is thread-safe)

    @classmethod
    def log_in(cls, base_url: str) -> Personas:
        template = catalogue.sample_batch(catalogue.BATCH_VIABILITY_OOS)
        organisations = {"qa": (template.manufacturer,), "physician": (template.treating_site,),
                         "qp": (template.manufacturer, template.importer)}
        personas = cls()
        for role, names in organisations.items():
            for organisation in names:
                issued = personas.call(base_url, "POST", "/api/v1/auth/token", None, {
                    "username": PERSONAS[role].user, "password": DEMO_PASSWORD, "organisation": organisation})
                personas.tokens.setdefault(role, []).append(issued["access_token"])
        return personas

    def call(self, base_url: str, method: str, path: str, token: str | None, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{base_url}{path}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                self.statuses.append(response.status)
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as refused:
            self.statuses.append(refused.code)
            raise HttpError(method, path, refused.code, refused.read().decode(errors="replace")) from refused

    def drive_case(self, base_urls: Sequence[str], batch_id: str, now: Callable[[], datetime]) -> str:
        """Open the batch's case as QA and complete its tasks up to the SA notification, each request through
        the next of ``base_urls`` in turn; returns the case id."""
        case_id = self.open_case(base_urls[0], batch_id)
        self.complete_steps(base_urls, case_id, PATH_TO_NOTIFICATION, now)
        return case_id

    def open_case(self, base_url: str, batch_id: str) -> str:
        case = self.call(base_url, "POST", "/api/v1/cases", self.tokens["qa"][0],
                         {"batch_id": batch_id, "exceptional_use_reason": EXCEPTIONAL_USE_REASON})
        return str(case["id"])

    def complete_steps(self, base_urls: Sequence[str], case_id: str, steps: Sequence[tuple[str, str]],
                       now: Callable[[], datetime]) -> None:
        turn = itertools.cycle(base_urls)
        for element_id, role in steps:
            token, task = self._find(next(turn), case_id, element_id, role)
            detail = self.call(next(turn), "GET", f"/api/v1/tasks/{task['id']}", token)
            self.call(next(turn), "POST", f"/api/v1/tasks/{task['id']}/complete", token,
                      self.completion(element_id, role, now(), detail["data"]))

    @staticmethod
    def completion(element_id: str, role: str, now: datetime, seen: dict[str, Any]) -> dict[str, Any]:
        """The persona's form data, signed with the password re-entered (OOS-24)."""
        return {"data": form_data(element_id, "authorised", now, seen),
                "signature": {"username": PERSONAS[role].user, "password": DEMO_PASSWORD}}

    def find_task(self, base_url: str, case_id: str, element_id: str, role: str) -> tuple[str, dict[str, Any]]:
        """(token, task) of the case's ready task ``element_id`` as the role sees it."""
        return self._find(base_url, case_id, element_id, role)

    def _find(self, base_url: str, case_id: str, element_id: str, role: str) -> tuple[str, dict[str, Any]]:
        """The ready task of the case, as the first of the role's tokens that sees it (the QP acts for two
        organisations). A task that follows a worker's result may appear a moment after the previous step's
        response: the process that relayed the work message (any of them) delivers it after its own request."""
        deadline = time.monotonic() + TASK_APPEARS_WITHIN
        while True:
            for token in self.tokens[role]:
                listed = self.call(base_url, "GET", f"/api/v1/tasks?case_id={case_id}", token)
                for task in listed["items"]:
                    if task["element_id"] == element_id:
                        return token, task
            if time.monotonic() > deadline:
                raise LookupError(f"case {case_id}: no ready task {element_id} for {role} "
                                  f"within {TASK_APPEARS_WITHIN:.0f} s")
            time.sleep(0.05)


@dataclass(frozen=True)
class Firing:
    """What the schedulers did once the deadlines came due."""

    timers_fired: int
    timers_waiting: int
    timers_fired_twice: int
    outbox_unpublished: int
    seconds: float


def wait_for_timers(app: Oospath, expected: int, timeout: float = 600.0) -> Firing:
    """Wait until ``expected`` timers have fired (or timeout) and the outbox is empty; counts double firings
    (a timer with more than one ``timer.fired`` audit row)."""
    started = time.perf_counter()
    deadline = time.monotonic() + timeout
    while True:
        with app.uow() as uow:
            fired = _count_timers(uow.session, "fired")
            unpublished = uow.session.scalar(select(func.count()).select_from(OutboxMessage)
                                             .where(OutboxMessage.published_at.is_(None))) or 0
        if (fired >= expected and not unpublished) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    seconds = time.perf_counter() - started
    with app.uow() as uow:
        twice = uow.session.scalar(select(func.count()).select_from(
            select(AuditEntry.task_id).where(AuditEntry.action == "timer.fired").group_by(AuditEntry.task_id)
            .having(func.count() > 1).subquery())) or 0
        waiting = _count_timers(uow.session, "waiting")
    return Firing(fired, waiting, twice, unpublished, seconds)


def _count_timers(session: Session, status: str) -> int:
    """The cases' deadline timers in ``status``."""
    return session.scalar(select(func.count()).select_from(Timer).where(
        Timer.status == status, Timer.element_id.in_(DEADLINE_TIMERS))) or 0


def armed_timers(app: Oospath) -> int:
    with app.uow() as uow:
        return _count_timers(uow.session, "waiting")


def fresh_schema(owner_url: str) -> None:
    """Replace the database's public schema and migrate it (benches only: everything in it is lost)."""
    from engine.store.db import make_engine, upgrade

    engine = make_engine(owner_url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    upgrade(engine)
    engine.dispose()
