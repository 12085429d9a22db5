"""Process execution's bookkeeping: load an instance, advance it, project and persist what the step produced.

The engine work itself (SpiffWorkflow) is done by the instance's :class:`~engine.bpmn.running_process.
RunningProcess`, which answers in plain values (issue 10, item 1); this module only persists. After every
step it writes, in the caller's transaction:
- the instance state (spec-free JSON, optimistic version check),
- the task projection (ready user tasks, waiting worker tasks) for task lists,
- the timers table (due times computed with the injected clock),
- an outbox row for every new worker request,
- one audit row listing the elements the engine completed in the step (``elements.completed``), and one for
  the earlier loop iterations that left the live task tree (:mod:`engine.services.history`).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import inspect as orm_state
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from engine.bpmn.running_process import DeployedProcesses, ProcessStopped, RunningProcess, ScriptEngine
from engine.bpmn.serializer import InstanceSerializer
from engine.bpmn.step_outcome import OpenTask, StepOutcome, WaitingTimer
from engine.clock import Clock
from engine.domain.responsibilities import role_for_duty
from engine.logging_setup import annotate_log_context
from engine.services import audit, history
from engine.services.audit import AuditEvent
from engine.services.definition_faults import ExpressionStopped, definition_fault, open_expression_incident
from engine.services.errors import Conflict, InvalidData, NotFound
from engine.services.identity import SYSTEM, Actor
from engine.services.instruments import Instruments, timed_step
from engine.services.workflow_cache import WorkflowCache
from engine.store.models import OutboxMessage, ProcessDefinition, ProcessInstance, TaskRow, Timer

log = logging.getLogger(__name__)

WORK_ROUTING_PREFIX = "work."
#: The audit action of an engine step: ``data_after["elements"]`` lists what it completed, in order.
STEP_ACTION = "elements.completed"
CONCURRENT_CHANGE = (
    "the process instance was changed by another request at the same time; reload the task and try again"
)


@dataclass
class LoadedInstance:
    """An instance row, its definition and its running process, for one step."""

    row: ProcessInstance
    definition: ProcessDefinition
    process: RunningProcess
    clock: Clock | None = None


@dataclass(frozen=True)
class DefinitionContent:
    """A deployed definition's element table (names, roles, properties, forms) and its JSON Schema forms."""

    elements: dict[str, Any]
    forms: dict[str, Any]


def json_clean(data: dict[str, Any]) -> dict[str, Any]:
    """Task data as plain JSON (drops anything the JSON encoder cannot represent)."""
    return json.loads(json.dumps(data, default=str))


@contextmanager
def engine_errors(loaded: LoadedInstance) -> Iterator[None]:
    """A failing expression or script becomes a 422 naming the element; the transaction is not committed.

    An expression stopped by its budget, or a value that cannot be stored, is a fault of the definition
    rather than of the request's data: the step is rolled back as well, and an incident naming the instance,
    the element and the reason is committed on its own (:class:`ExpressionStopped`).
    """
    try:
        yield
    except ProcessStopped as exc:
        element = exc.element_id
        where = f"process '{loaded.definition.key}' v{loaded.definition.version} stopped at element '{element}'"
        fault = definition_fault(exc)
        if fault is not None:
            incident_id = open_expression_incident(loaded, element, fault)
            raise ExpressionStopped(
                f"{where}: {fault}; nothing was saved and incident {incident_id} was opened: a designer must "
                "deploy a corrected version of the process", element_id=element, incident_id=incident_id,
            ) from exc
        raise InvalidData(f"{where}: {exc}; nothing was saved, correct the data or the process definition") from exc


def lock_instance(session: Session, instance_id: str) -> ProcessInstance:
    """Hold the instance for one step until commit, so steps of one instance run one after the other.

    Taken first, before the step reads what it decides on (e.g. the task's state) and before it writes:
    a concurrent request on the same instance waits here, then reads the committed outcome of the first
    (a task completes exactly once). PostgreSQL: the instance's audit-stream advisory lock (the one
    ``audit.append`` takes, so writers that only lock when they audit queue in the same order), then the row
    ``SELECT ... FOR UPDATE``. SQLite: a no-op UPDATE of the row takes the database's write lock at once
    (readers are not blocked in WAL mode); reads before it ran outside any transaction, reads after it see
    every commit.
    """
    table = ProcessInstance.__table__
    audit.lock_stream(session, instance_id)
    if session.get_bind().dialect.name != "postgresql":
        session.execute(update(table).where(table.c.id == instance_id).values(version=table.c.version))
    row = session.get(ProcessInstance, instance_id, with_for_update=True, populate_existing=True)
    if row is None:
        raise NotFound(f"process instance {instance_id} does not exist")
    return row


class Runtime:
    """Runs process instances for the service layer: starts, loads, advances and saves them."""

    def __init__(self, clock: Clock, serializer: InstanceSerializer, script_engine: ScriptEngine,
                 workflows: WorkflowCache | None = None) -> None:
        self.clock = clock
        self.workflows = workflows if workflows is not None else WorkflowCache(0)
        self.serializer = serializer
        self.processes = DeployedProcesses(serializer, script_engine)
        self.completion_hooks: list[Callable[[Session, LoadedInstance], None]] = []
        self.instruments = Instruments()
        self._contents: dict[int, DefinitionContent] = {}

    def content_of(self, definition: ProcessDefinition) -> DefinitionContent:
        """The deployment's elements and forms, read from the database once per process (they never change
        after deployment; only the definition's status does)."""
        content = self._contents.get(definition.id)
        if content is None:
            content = self._contents[definition.id] = DefinitionContent(definition.elements, definition.forms)
        return content

    # ---- lifecycle ---------------------------------------------------------------------------
    @timed_step("start_instance")
    def start(
        self, session: Session, definition: ProcessDefinition, data: dict[str, Any], actor: Actor
    ) -> LoadedInstance:
        process = self.processes.start(definition.id, lambda: definition.spec, data)
        now = self.clock.now()
        row = ProcessInstance(
            id=str(uuid.uuid4()),
            definition_id=definition.id,
            process_key=definition.key,
            status="running",
            state="",
            started_at=now,
            started_by=actor.user,
            updated_at=now,
            case_id=data.get("case_id"),
            batch_id=data.get("batch_id"),
        )
        session.add(row)
        annotate_log_context(instance_id=row.id, case_id=row.case_id)
        loaded = LoadedInstance(row, definition, process, self.clock)
        audit.append(
            session, now, actor,
            AuditEvent("instance.started", instance_id=row.id, case_id=data.get("case_id"),
                       data_after=json_clean(data),
                       reason=f"started on version {definition.version} of '{definition.key}' ({definition.status})"),
        )
        self.advance(session, loaded)
        return loaded

    def load(self, session: Session, instance_id: str) -> LoadedInstance:
        row = session.get(ProcessInstance, instance_id)
        if row is None:
            raise NotFound(f"process instance {instance_id} does not exist")
        annotate_log_context(instance_id=row.id, case_id=row.case_id)
        definition = session.get(ProcessDefinition, row.definition_id)
        assert definition is not None
        process = self.workflows.take(row.id, row.version, definition.id)  # the version read under the lock
        if process is None:
            process = self.processes.restore(definition.id, lambda: definition.spec, row.state)
        return LoadedInstance(row, definition, process, self.clock)

    @contextmanager
    def reading(self, session: Session, instance_id: str) -> Iterator[RunningProcess]:
        """An instance's running process to read only (a task's data, the process data): taken like a step's
        and given back to the cache afterwards, so reading between steps costs no deserialization."""
        loaded = self.load(session, instance_id)
        yield loaded.process
        self.workflows.give_back(loaded)

    def advance(self, session: Session, loaded: LoadedInstance, actor: Actor = SYSTEM) -> None:
        """Run engine steps, then project and persist everything the step produced."""
        self._claim_version(session, loaded)
        with engine_errors(loaded):
            outcome = loaded.process.advance()
        now = self.clock.now()
        case_id = loaded.row.case_id
        completed = [{"element_id": e.element_id, "task_id": e.task_id}
                     for e in outcome.completed_elements if not e.worker]
        if completed:  # one hash-chained row per step, listing every element the engine completed in it
            audit.append(
                session, now, SYSTEM,
                AuditEvent(STEP_ACTION, instance_id=loaded.row.id, case_id=case_id,
                           data_after={"elements": completed}),
                role="system",
            )
        self._dispatch_work(session, loaded, outcome, now, case_id)
        self._project_user_tasks(session, loaded, outcome, now, case_id)
        with engine_errors(loaded):  # timer expressions are evaluated here
            self._project_timers(session, loaded, outcome, now)
        self._save(session, loaded, outcome, now, case_id)

    @staticmethod
    def _claim_version(session: Session, loaded: LoadedInstance) -> None:
        """The optimistic version check, done before the step adds any row: a writer that loaded the instance
        before another step committed (one that did not take :func:`lock_instance`) gets 409 here, never a
        duplicate-key error on the task rows both steps would add."""
        row = loaded.row
        if not orm_state(row).persistent:
            return  # a new instance: nobody else can have changed it
        table = ProcessInstance.__table__
        claimed = session.execute(update(table).where(table.c.id == row.id, table.c.version == row.version)
                                  .values(version=row.version + 1))
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict(CONCURRENT_CHANGE)
        set_committed_value(row, "version", row.version + 1)

    # ---- projections -------------------------------------------------------------------------
    def _new_task_row(
        self, loaded: LoadedInstance, task: OpenTask, kind: str, state: str, now: datetime, case_id: str | None
    ) -> TaskRow:
        element = self.content_of(loaded.definition).elements.get(task.element_id, {})
        duty = element.get("properties", {}).get("responsibleDuty")
        role = role_for_duty(task.responsibilities, duty) or element.get("role")
        return TaskRow(
            id=task.task_id,
            instance_id=loaded.row.id,
            case_id=case_id,
            batch_id=loaded.row.batch_id,
            element_id=task.element_id,
            name=task.name,
            kind=kind,
            role=role,
            form=element.get("form"),
            state=state,
            created_at=now,
        )

    def _dispatch_work(
        self, session: Session, loaded: LoadedInstance, outcome: StepOutcome, now: datetime, case_id: str | None
    ) -> None:
        for request in outcome.work_requests:
            message_id = str(uuid.uuid4())
            body = {
                "message_id": message_id,
                "instance_id": loaded.row.id,
                "task_id": request.task_id,
                "element_id": request.element_id,
                "element_name": request.name,
                "case_id": case_id,
                "batch_id": loaded.row.batch_id,
                "operation": request.operation,
                "params": request.params,
                "context": json_clean(request.data),
                "requested_at": now.isoformat(),
            }
            session.add(OutboxMessage(
                message_id=message_id, routing_key=WORK_ROUTING_PREFIX + request.operation,
                body=body, created_at=now,
            ))
            session.add(self._new_task_row(loaded, request, "service", "waiting", now, case_id))
            loaded.process.work_dispatched(request.task_id)
            audit.append(
                session, now, SYSTEM,
                AuditEvent("work.requested", instance_id=loaded.row.id, case_id=case_id,
                           element_id=request.element_id, task_id=request.task_id,
                           data_after={"operation": request.operation, "params": request.params,
                                       "message_id": message_id}),
                role="system",
            )

    def _project_user_tasks(
        self, session: Session, loaded: LoadedInstance, outcome: StepOutcome, now: datetime, case_id: str | None
    ) -> None:
        if not outcome.user_tasks and not self.processes.has_user_tasks(loaded.definition.id):
            return  # no user task anywhere in the deployment: no task row to add or cancel
        ready = {task.task_id: task for task in outcome.user_tasks}
        known = dict(session.execute(  # ids and states only: the rows themselves are not needed
            select(TaskRow.id, TaskRow.state).where(
                TaskRow.instance_id == loaded.row.id, TaskRow.kind == "user",
                or_(TaskRow.state == "ready", TaskRow.id.in_(list(ready))))).all())  # not the past
        for task_id, task in ready.items():
            if task_id not in known:
                session.add(self._new_task_row(loaded, task, "user", "ready", now, case_id))
        gone = [task_id for task_id, state in known.items() if state == "ready" and task_id not in ready]
        if gone:
            session.execute(update(TaskRow).where(TaskRow.id.in_(gone)).values(state="cancelled", completed_at=now))

    def _project_timers(self, session: Session, loaded: LoadedInstance, outcome: StepOutcome, now: datetime) -> None:
        if not outcome.timers and not self.processes.has_timers(loaded.definition.id):
            return  # no timer event anywhere in the deployment: no timer row to add or cancel
        waiting = {timer.task_id: timer for timer in outcome.timers}
        known = dict(session.execute(select(Timer.id, Timer.status).where(  # the waiting ones and these: not the past
            Timer.instance_id == loaded.row.id, or_(Timer.status == "waiting", Timer.id.in_(list(waiting))))).all())
        for task_id, timer in waiting.items():
            if task_id in known:
                continue
            due = loaded.process.timer_due(task_id, now)
            if due is None:
                continue
            session.add(Timer(id=task_id, instance_id=loaded.row.id, element_id=timer.element_id,
                              due_at=due, status="waiting"))
            self._set_task_due(session, timer, due)
        gone = [task_id for task_id, status in known.items() if status == "waiting" and task_id not in waiting]
        if gone:
            session.execute(update(Timer).where(Timer.id.in_(gone)).values(status="cancelled"))

    @staticmethod
    def _set_task_due(session: Session, timer: WaitingTimer, due: datetime) -> None:
        """A boundary timer's activity is due by its latest timer (e.g. the 48 h deadline)."""
        for sibling_id in timer.siblings:
            row = session.get(TaskRow, sibling_id)
            if row is not None and sibling_id != timer.task_id and (row.due_at is None or row.due_at < due):
                row.due_at = due

    def _save(
        self, session: Session, loaded: LoadedInstance, outcome: StepOutcome, now: datetime, case_id: str | None
    ) -> None:
        row = loaded.row
        history.archive_earlier_iterations(session, loaded.process, now, row.id, case_id)  # flat task tree
        row.state = loaded.process.state_json()
        row.updated_at = now
        just_completed = outcome.completed and row.status != "completed"
        if just_completed:
            row.status = "completed"
            row.completed_at = now
            row.end_event = outcome.end_event
        try:
            session.flush()  # the optimistic version check happens here, before anything else is written
        except StaleDataError as exc:
            raise Conflict(CONCURRENT_CHANGE) from exc
        self.workflows.keep_after_commit(session, loaded)
        if just_completed:
            audit.append(
                session, now, SYSTEM,
                AuditEvent("instance.completed", instance_id=row.id, case_id=case_id, element_id=row.end_event),
                role="system",
            )
            for hook in self.completion_hooks:
                hook(session, loaded)
