"""A running process instance, in the pathway's terms: the only adapter services use (issue 10, item 1).

:class:`RunningProcess` owns one SpiffWorkflow ``BpmnWorkflow``; services (through the runtime) hold it and
speak to it in domain terms, with plain values (str ids, dicts, the frozen dataclasses of
:mod:`engine.bpmn.step_outcome`): start it with its start data, restore it from and dump it to its stored
JSON state, advance it, complete a user task, apply a worker's result, fire a timer, revise a decision's
basis, read its process data and a task's data, ask whether an element completed, and take the earlier
iterations of its loops out of its task tree. :class:`DeployedProcesses` keeps each deployment's restored
spec and creates the running processes. Nothing outside engine/bpmn/ imports SpiffWorkflow.

A failing expression or script in :meth:`RunningProcess.advance`, :meth:`~RunningProcess.complete_user_task`
or :meth:`~RunningProcess.timer_due` is raised as :class:`ProcessStopped`, naming the element, with the
library's exception as its cause (so the reason a budget or a storability check gave stays reachable).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    DurationTimerEventDefinition,
    TimeDateEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.exceptions import TaskNotFoundException, WorkflowException
from SpiffWorkflow.util.task import TaskState

from engine.bpmn import task_tree
from engine.bpmn.expression_budget import step_budget
from engine.bpmn.serializer import InstanceSerializer
from engine.bpmn.step_outcome import CompletedElement, StepOutcome, survey_step
from engine.bpmn.storable import NotStorable, check_storable
from engine.bpmn.task_specs import WorkerServiceTask, mark_dispatched
from engine.bpmn.task_tree import ArchivedTask

log = logging.getLogger(__name__)

ScriptEngine = PythonScriptEngine  # the expression engine processes run with (engine.bpmn.safe_expressions)


class ProcessStopped(Exception):
    """An expression or script of the process failed at ``element_id``; the message is the engine's."""

    def __init__(self, element_id: str, message: str) -> None:
        super().__init__(message)
        self.element_id = element_id


class UnknownTask(LookupError):
    """A task id that is not part of the running process."""


@dataclass(frozen=True)
class ReopenedDecision:
    """A user decision whose basis was revised: ``task_id`` is ready again (``voided``) or was still open."""

    task_id: str
    voided: bool


@contextmanager
def _stops_at_element() -> Iterator[None]:
    try:
        yield
    except WorkflowException as exc:
        spec = getattr(exc, "task_spec", None)
        element = getattr(spec, "bpmn_id", None) or getattr(spec, "name", "?")
        raise ProcessStopped(element, str(exc)) from exc


def _check_decision_outputs(task: Any) -> None:
    """A DMN decision's outputs must be storable JSON values, refused at its business rule task."""
    engine = getattr(task.task_spec, "dmnEngine", None)
    if engine is None:
        return
    names = {(output.name or output.label or "").split(".")[0] for output in engine.decision_table.outputs}
    try:
        check_storable(task.data, sorted(names))
    except NotStorable as refused:
        raise WorkflowTaskException(f"DMN decision output: {refused.reason}", task=task) from refused


class DeployedProcesses:
    """Starts and restores running processes of deployed definitions; restores each deployment's spec once."""

    def __init__(self, serializer: InstanceSerializer, script_engine: ScriptEngine) -> None:
        self._serializer = serializer
        self._script_engine = script_engine
        self._specs: dict[int, tuple[Any, dict[str, Any]]] = {}
        self._has: dict[tuple[int, str], bool] = {}  # (deployment, what) -> whether it has any

    def _specs_of(self, definition_id: int, spec_json: Callable[[], str]) -> tuple[Any, dict[str, Any]]:
        cached = self._specs.get(definition_id)
        if cached is None:
            cached = self._serializer.spec_from_json(spec_json())
            self._specs[definition_id] = cached
        return cached

    def has_timers(self, definition_id: int) -> bool:
        """Whether the deployment has any timer event (top level or in a subprocess); a deployment without one
        never has a timer to schedule or cancel. Known once one of its processes was started or restored."""
        return self._contains(definition_id, "timers", lambda task_spec: isinstance(
            getattr(task_spec, "event_definition", None), TimerEventDefinition))

    def has_user_tasks(self, definition_id: int) -> bool:
        """Whether the deployment has any task a person performs (top level or in a subprocess)."""
        return self._contains(definition_id, "user tasks", lambda task_spec: bool(getattr(task_spec, "manual", False)))

    def _contains(self, definition_id: int, what: str, matches: Callable[[Any], bool]) -> bool:
        known = self._has.get((definition_id, what))
        if known is None:
            spec, subprocess_specs = self._specs[definition_id]
            known = self._has[(definition_id, what)] = any(
                matches(task_spec) for process_spec in [spec, *subprocess_specs.values()]
                for task_spec in process_spec.task_specs.values())
        return known

    def start(self, definition_id: int, spec_json: Callable[[], str], data: dict[str, Any]) -> RunningProcess:
        """A new process of the deployment, its start data given to the tasks ready at its start (not advanced)."""
        spec, subprocess_specs = self._specs_of(definition_id, spec_json)
        workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=self._script_engine)
        for task in workflow.get_tasks(state=TaskState.READY):
            task.data.update(copy.deepcopy(data))
        return RunningProcess(workflow, self._serializer)

    def restore(self, definition_id: int, spec_json: Callable[[], str], state_json: str) -> RunningProcess:
        """The process as its stored state left it (``spec_json`` is read only the first time a deployment is
        seen)."""
        spec, subprocess_specs = self._specs_of(definition_id, spec_json)
        workflow = self._serializer.state_from_json(state_json, spec, subprocess_specs)
        workflow.script_engine = self._script_engine
        return RunningProcess(workflow, self._serializer)


class RunningProcess:
    """One process instance's engine state, asked and changed in the pathway's terms."""

    def __init__(self, workflow: BpmnWorkflow, serializer: InstanceSerializer) -> None:
        self._workflow = workflow
        self._serializer = serializer

    def state_json(self) -> str:
        """The state to store (spec-free JSON, :mod:`engine.bpmn.serializer`)."""
        return self._serializer.state_to_json(self._workflow)

    def _task(self, task_id: str) -> Any:
        try:
            return self._workflow.get_task_from_id(UUID(task_id))
        except TaskNotFoundException as exc:
            raise UnknownTask(f"task {task_id} is not part of this process") from exc

    # ---- the engine step ------------------------------------------------------------------------
    def advance(self) -> StepOutcome:
        """Run the engine steps (within the step's expression budget; a DMN decision's outputs must be storable)
        and return what they produced."""
        completed: list[CompletedElement] = []

        def did_complete(task: Any) -> None:
            _check_decision_outputs(task)
            if task.task_spec.bpmn_id is not None:
                completed.append(CompletedElement(task.task_spec.bpmn_id, str(task.id),
                                                  isinstance(task.task_spec, WorkerServiceTask)))

        with _stops_at_element(), step_budget():
            self._workflow.do_engine_steps(did_complete_task=did_complete)
        return survey_step(self._workflow, completed)

    def work_dispatched(self, task_id: str) -> None:
        """The work request of ``task_id`` was handed to the outbox: it is not a new request any more."""
        mark_dispatched(self._task(task_id))

    def timer_due(self, task_id: str, now: datetime) -> datetime | None:
        """A waiting timer's due time by the injected clock (``now``), written back so the engine and the timers
        table agree; None for a cycle timer, which oospath does not schedule yet."""
        task = self._task(task_id)
        definition = task.task_spec.event_definition
        with _stops_at_element():
            expression = self._workflow.script_engine.evaluate(task, definition.expression)
            if isinstance(definition, DurationTimerEventDefinition):
                duration = TimerEventDefinition.parse_iso_duration(expression)
                due = now + TimerEventDefinition.get_timedelta_from_start(duration, now)
            elif isinstance(definition, TimeDateEventDefinition):
                due = TimerEventDefinition.get_datetime(expression)
            else:
                log.warning("cycle timer %s is not scheduled by oospath yet", task.task_spec.bpmn_id)
                return None
        task._set_internal_data(event_value=due.isoformat())
        return due

    # ---- what people, workers and the clock do --------------------------------------------------
    def complete_user_task(self, task_id: str, data: dict[str, Any]) -> None:
        """Run a user task with the data the user submitted (and its signature manifestation)."""
        task = self._task(task_id)
        with _stops_at_element():
            task.set_data(**data)
            task.run()

    def apply_worker_result(self, task_id: str, result: dict[str, Any]) -> bool:
        """Complete a worker's service task with its result (its ``resultVariable``); False if the task no longer
        waits for one (a duplicate or late result)."""
        task = self._task(task_id)
        if task.state != TaskState.STARTED:
            return False
        task.data[task.task_spec.result_variable] = result
        task.complete()
        return True

    def fire_timer(self, task_id: str) -> None:
        """Fire a timer event by oospath's clock (SpiffWorkflow's own timers never fire by themselves)."""
        self._task(task_id)._set_internal_data(event_fired=True)  # the event definition's documented flag
        self._workflow.refresh_timers()

    def revise_decision_basis(self, element_id: str, revised: dict[str, Any]) -> ReopenedDecision | None:
        """Give the decision ``element_id`` a revised basis (e.g. a new risk evaluation version, OOS-05/06).

        The decision inherits its data from the task before it, so the revision goes there; a decision
        already taken is voided: the process is reset to it with the merged data. None when the decision
        has not been reached yet."""
        decisions = [t for t in self._workflow.get_tasks(state=TaskState.COMPLETED | TaskState.READY)
                     if t.task_spec.bpmn_id == element_id]
        if not decisions:
            return None
        decision = decisions[0]
        voided = decision.state == TaskState.COMPLETED
        decision.parent.data.update(revised)
        merged = dict(decision.parent.data)
        if voided:
            self._workflow.reset_from_task_id(decision.id, merged)
        else:
            decision.data.update(merged)
        return ReopenedDecision(str(decision.id), voided)

    # ---- what services read ---------------------------------------------------------------------
    def process_data(self) -> dict[str, Any]:
        """The data as the last completed task left it (the instance's process data; not a copy)."""
        last = self._workflow.last_task
        return last.data if last is not None else {}

    def task_data(self, task_id: str) -> dict[str, Any]:
        """The data a task sees (what the user decides on; not a copy)."""
        return self._task(task_id).data

    def element_completed(self, element_id: str) -> bool:
        """Whether a task of ``element_id`` completed and is still in the live task tree."""
        return any(t.task_spec.bpmn_id == element_id for t in self._workflow.get_tasks(state=TaskState.COMPLETED))

    # ---- flat history ---------------------------------------------------------------------------
    def archive_earlier_iterations(self) -> list[ArchivedTask]:
        """Take the earlier iterations of its loops out of the live task trees (:mod:`engine.bpmn.task_tree`);
        returns what left, in tree order (nothing for a process without loops)."""
        return task_tree.archive_earlier_iterations(self._workflow)

    def live_tree_size(self) -> int:
        """Tasks in the instance's trees (its own and every subprocess'): what each step walks."""
        return task_tree.live_tree_size(self._workflow)
