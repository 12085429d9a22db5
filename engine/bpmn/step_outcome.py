"""What one engine step of a running process produced, read in one walk of its task trees (issue 10, item 1).

After the engine steps, the runtime needs the elements the step completed, the new work requests for
workers, the ready user tasks, the waiting timers and whether the process reached its end. Each used to be
one ``get_tasks`` call, and each call walks the whole tree; :func:`survey_step` walks it once, in the order
``get_tasks`` visits tasks (depth first, a subprocess's tree before the children of the task that runs it),
so every list keeps the order the projections and the audit trail had. Like ``get_tasks`` for definite
states, it does not descend below a predicted task (a definite or finished task never follows one).

Everything returned is plain data (ids, names, dicts): no SpiffWorkflow object leaves engine/bpmn/.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.end_event import EndEvent
from SpiffWorkflow.util.task import TaskState

from engine.bpmn.task_specs import pending_work_request


@dataclass(frozen=True)
class CompletedElement:
    """A BPMN element the engine completed in this step; ``worker`` for a worker's service task."""

    element_id: str
    task_id: str
    worker: bool


@dataclass(frozen=True)
class OpenTask:
    """A task waiting for a person or a worker; ``responsibilities`` is the task data's field that chooses the
    role (the written agreement's allocation of duties, OOS-15), None when the data has none."""

    task_id: str
    element_id: str
    name: str | None
    responsibilities: Any


@dataclass(frozen=True)
class WorkRequest(OpenTask):
    """A worker's service task that has just asked for its work (not yet handed to the outbox).

    ``data`` is the task's data itself, not a copy: clean it before it is stored."""

    operation: str
    params: dict[str, Any]
    data: dict[str, Any]


@dataclass(frozen=True)
class ReadyUserTask(OpenTask):
    """A user task ready for its role."""


@dataclass(frozen=True)
class WaitingTimer:
    """A timer event waiting for oospath's clock. ``siblings`` are the tasks under the timer's parent, in tree
    order and the timer itself included: a boundary timer's activity is among them, due by its latest timer."""

    task_id: str
    element_id: str
    siblings: tuple[str, ...]


@dataclass(frozen=True)
class StepOutcome:
    """One engine step's result; ``end_event`` is the end event the process ended at, when ``completed``."""

    completed_elements: tuple[CompletedElement, ...]
    work_requests: tuple[WorkRequest, ...]
    user_tasks: tuple[ReadyUserTask, ...]
    timers: tuple[WaitingTimer, ...]
    completed: bool
    end_event: str | None


@dataclass
class _Found:
    work_requests: list[WorkRequest]
    user_tasks: list[ReadyUserTask]
    timers: list[WaitingTimer]
    end_events: list[tuple[float, str]]  # (completed at, element id) of the top process's end events
    unfinished: bool = False  # a task of the top process is not finished yet


def survey_step(workflow: Any, completed_elements: list[CompletedElement]) -> StepOutcome:
    """The outcome of the step that completed ``completed_elements``, from one walk of the instance's trees."""
    found = _Found([], [], [], [])
    subprocesses = workflow.subprocesses
    stack = [workflow.task_tree]
    while stack:
        task = stack.pop()
        _classify(task, workflow, found)
        subprocess = subprocesses.get(task.id)
        if subprocess is not None:
            stack.extend(reversed([subprocess.task_tree, *task.children]))
        elif task.state >= TaskState.FUTURE:
            stack.extend(reversed(task.children))
    completed = workflow.completed or not found.unfinished
    end_event = sorted(found.end_events, key=lambda end: end[0])[-1][1] if completed and found.end_events else None
    return StepOutcome(tuple(completed_elements), tuple(found.work_requests), tuple(found.user_tasks),
                       tuple(found.timers), completed, end_event)


def _classify(task: Any, workflow: Any, found: _Found) -> None:
    spec, state = task.task_spec, task.state
    if state == TaskState.STARTED:
        request = pending_work_request(task)
        if request is not None:
            found.work_requests.append(WorkRequest(
                str(task.id), spec.bpmn_id, spec.bpmn_name, task.data.get("responsibilities"),
                request["operation"], request["params"], task.data))
    elif state == TaskState.READY and spec.manual:
        found.user_tasks.append(ReadyUserTask(str(task.id), spec.bpmn_id, spec.bpmn_name,
                                              task.data.get("responsibilities")))
    elif state == TaskState.WAITING and isinstance(getattr(spec, "event_definition", None), TimerEventDefinition):
        siblings = tuple(str(sibling.id) for sibling in task.parent.children)
        found.timers.append(WaitingTimer(str(task.id), spec.bpmn_id, siblings))
    if task.workflow is workflow:
        if state & TaskState.NOT_FINISHED_MASK:
            found.unfinished = True
        elif state == TaskState.COMPLETED and isinstance(spec, EndEvent):
            found.end_events.append((task.last_state_change, spec.bpmn_id))
