"""The pathway's operational figures for Prometheus, counted from the database at scrape time.

What an operator watches: open OOS cases by what they wait for, open tasks by role (OOS-25),
the legal deadlines escalated and missed (OOS-13), due timers the scheduler has not fired yet,
the outbox not yet relayed and the incidents (dead-lettered messages). Counts only: every label
comes from a fixed set, no case, batch, person or organisation is named (least privilege, OOS-25).

The engine's own instruments (step latency, retries, dead letters as they happen) are in
:mod:`engine.services.instruments`; :func:`scrape_registry` puts both into one registry per
application (or, in prometheus_client's multiprocess mode, the figures of every process).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Select, and_, case, exists, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from engine.services.deadlines import DEADLINES
from engine.services.identity import ROLES
from engine.services.incidents import EXPRESSION_QUEUE
from engine.services.instruments import QUEUES
from engine.settings import Settings
from engine.store.models import CaseRow, Incident, OutboxMessage, TaskRow, Timer

log = logging.getLogger(__name__)

#: What an open case waits for, the first that applies (the ``state`` label of ``oospath_open_cases``).
OPEN_CASE_STATES = ("incident", "awaiting_user_task", "awaiting_worker", "awaiting_timer", "idle")
INCIDENT_STATUSES = ("open", "retried")
INCIDENT_QUEUES = (*QUEUES, EXPRESSION_QUEUE)


def _deadline_timers() -> dict[str, tuple[str, str]]:
    """Timer element -> (requirement, what its firing means): the escalation and the overdue mark (OOS-13)."""
    timers: dict[str, tuple[str, str]] = {}
    for rule in DEADLINES:
        timers.setdefault(rule.escalation_timer, (rule.requirement, "escalated"))
        timers.setdefault(rule.due_timer, (rule.requirement, "missed"))
    return timers


def _open_case_state() -> Any:
    incident = exists().where(Incident.case_id == CaseRow.id, Incident.status == "open")
    user_task = exists().where(TaskRow.case_id == CaseRow.id, TaskRow.kind == "user", TaskRow.state == "ready")
    worker = exists().where(TaskRow.case_id == CaseRow.id, TaskRow.kind == "service", TaskRow.state == "waiting")
    timer = exists().where(Timer.instance_id == CaseRow.instance_id, Timer.status == "waiting")
    return case((incident, "incident"), (user_task, "awaiting_user_task"), (worker, "awaiting_worker"),
                (timer, "awaiting_timer"), else_="idle")


def open_cases_by_state(session: Session) -> dict[str, int]:
    states = select(_open_case_state().label("state")).where(CaseRow.status == "open").subquery()
    counted = dict.fromkeys(OPEN_CASE_STATES, 0)
    for state, count in session.execute(select(states.c.state, func.count()).group_by(states.c.state)):
        counted[state] = count
    return counted


def _grouped(session: Session, query: Select[Any], fixed: tuple[str, ...]) -> dict[str, int]:
    """Counts by one column, every value of ``fixed`` present (0 when none), anything else as ``other``."""
    counted = dict.fromkeys(fixed, 0)
    for value, count in session.execute(query):
        key = value if value in fixed else "other"
        counted[key] = counted.get(key, 0) + count
    return counted


def open_tasks_by_role(session: Session) -> dict[str, int]:
    query = (select(TaskRow.role, func.count()).where(TaskRow.kind == "user", TaskRow.state == "ready")
             .group_by(TaskRow.role))
    return _grouped(session, query, ROLES)


def incidents_by_queue_and_status(session: Session) -> dict[tuple[str, str], int]:
    counted = {(q, s): 0 for q in INCIDENT_QUEUES for s in INCIDENT_STATUSES}
    query = select(Incident.queue, Incident.status, func.count()).group_by(Incident.queue, Incident.status)
    for queue, status, count in session.execute(query):
        key = (queue if queue in INCIDENT_QUEUES else "other", status if status in INCIDENT_STATUSES else "other")
        counted[key] = counted.get(key, 0) + count
    return counted


def deadline_timers_fired(session: Session) -> dict[tuple[str, str], int]:
    """(requirement, escalated | missed) -> how many deadline timers have fired, ever (OOS-13)."""
    timers = _deadline_timers()
    counted = dict.fromkeys(timers.values(), 0)
    query = (select(Timer.element_id, func.count()).where(Timer.status == "fired", Timer.element_id.in_(timers))
             .group_by(Timer.element_id))
    for element, count in session.execute(query):
        counted[timers[element]] += count
    return counted


def outbox_backlog(session: Session, now: Any) -> tuple[int, float]:
    """Outbox rows not yet relayed to the broker, and the age in seconds of the oldest (0 when none)."""
    count, oldest = session.execute(select(func.count(), func.min(OutboxMessage.created_at))
                                    .where(OutboxMessage.published_at.is_(None))).one()
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=now.tzinfo)
    return count, max((now - oldest).total_seconds(), 0.0) if oldest is not None else 0.0


def due_timers(session: Session, now: Any) -> int:
    """Timers due by oospath's clock that the scheduler has not fired yet (scheduler lag)."""
    return session.scalar(select(func.count()).select_from(Timer)
                          .where(and_(Timer.status == "waiting", Timer.due_at <= now))) or 0


class PathwayFigures(Collector):
    """A Prometheus collector that counts from the database at each scrape (one read-only transaction)."""

    def __init__(self, container: Any) -> None:
        self.container = container

    def describe(self) -> list[Metric]:
        return []  # figures are counted at scrape time, never at registration

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("oospath_database_up", "1 when the figures below could be counted from the database")
        try:
            with self.container.uow() as uow:
                figures = list(self._figures(uow.session, self.container.clock.now()))
        except SQLAlchemyError:
            log.exception("metrics: the database could not be read")
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from figures

    def _figures(self, session: Session, now: Any) -> Iterator[Metric]:
        cases = GaugeMetricFamily("oospath_open_cases", "Open OOS cases by what they wait for", labels=["state"])
        for state, count in open_cases_by_state(session).items():
            cases.add_metric([state], count)
        tasks = GaugeMetricFamily("oospath_open_tasks", "Open user tasks by role (OOS-25)", labels=["role"])
        for role, count in open_tasks_by_role(session).items():
            tasks.add_metric([role], count)
        incidents = GaugeMetricFamily("oospath_incidents", "Incidents (dead-lettered messages, stopped expressions) "
                                      "by consumer queue and status", labels=["queue", "status"])
        for (queue, status), count in incidents_by_queue_and_status(session).items():
            incidents.add_metric([queue, status], count)
        escalated = CounterMetricFamily("oospath_deadline_escalations", "Legal deadlines escalated before running "
                                        "out (escalation timer fired, OOS-13)", labels=["requirement"])
        missed = CounterMetricFamily("oospath_deadline_breaches", "Legal deadlines run out with the notification "
                                     "still open (overdue timer fired, OOS-13)", labels=["requirement"])
        for (requirement, kind), count in deadline_timers_fired(session).items():
            (escalated if kind == "escalated" else missed).add_metric([requirement], count)
        backlog, age = outbox_backlog(session, now)
        yield from (cases, tasks, incidents, escalated, missed)
        yield GaugeMetricFamily("oospath_outbox_backlog", "Outbox messages committed but not yet relayed",
                                value=backlog)
        yield GaugeMetricFamily("oospath_outbox_oldest_age_seconds", "Age of the oldest message not yet relayed",
                                value=age)
        yield GaugeMetricFamily("oospath_due_timers", "Timers due by oospath's clock, not yet fired by the "
                                "scheduler", value=due_timers(session, now))
        yield GaugeMetricFamily("oospath_waiting_worker_tasks", "Service tasks waiting for a worker's result",
                                value=session.scalar(select(func.count()).select_from(TaskRow).where(
                                    TaskRow.kind == "service", TaskRow.state == "waiting")) or 0)


def multiprocess_mode(settings: Settings) -> bool:
    """prometheus_client's multiprocess mode: ``PROMETHEUS_MULTIPROC_DIR`` is set."""
    return settings.prometheus_multiproc_dir is not None


def scrape_registry(container: Any) -> CollectorRegistry:
    """One application's registry: the database figures plus the instruments, of this process or (multiprocess
    mode, ``PROMETHEUS_MULTIPROC_DIR`` set) of every process writing to that directory."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PathwayFigures(container))
    if multiprocess_mode(container.settings):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        for collector in container.runtime.instruments.collectors():
            registry.register(collector)
    return registry
