"""Driving the OOS cases of the fault injection run: opened in a window, one user step per case and round.

Part of ``python -m bench fault_injection`` (:mod:`bench.fault_injection`).
"""

from __future__ import annotations

import collections
import random
import time
from dataclasses import dataclass, field, replace
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from bench.fault_environment import say
from engine.bootstrap import Oospath
from engine.clock import FileClock
from engine.domain import catalogue
from engine.services import cases, catalog
from engine.services.errors import Conflict, ServiceError
from engine.services.identity import Actor
from engine.services.scheduling import fire_due
from engine.store.models import CaseRow, TaskRow
from oospath.demo import scripted_step
from oospath.scenarios import EXCEPTIONAL_USE_REASON, PERSONAS, SCENARIOS, STEP_DURATION

MIX = {"authorised": 0.7, "clinical-trial": 0.15, "declined": 0.15}
OPENER = Actor(PERSONAS["qa"].user, frozenset({"qa"}))


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

