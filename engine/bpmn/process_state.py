"""What services ask of a running workflow, in the pathway's terms (the only module besides the
runtime and the serializer that reads SpiffWorkflow's task tree).

Services never walk the task tree or touch task states: they ask here whether an element
completed, for the process data, for a worker's result to be applied, for a timer to fire, or
for a decision to be reopened with a revised basis.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from engine.bpmn.storable import NotStorable, check_storable


def process_data(workflow: BpmnWorkflow) -> dict[str, Any]:
    """The data as the last completed task left it (the instance's process data)."""
    last = workflow.last_task
    return last.data if last is not None else {}


def element_completed(workflow: BpmnWorkflow, element_id: str) -> bool:
    return any(t.task_spec.bpmn_id == element_id for t in workflow.get_tasks(state=TaskState.COMPLETED))


@dataclass(frozen=True)
class ReopenedDecision:
    """A user decision whose basis was revised: ``task_id`` is ready again (``voided``) or was still open."""

    task_id: str
    voided: bool


def revise_decision_basis(workflow: BpmnWorkflow, element_id: str, revised: dict[str, Any]) -> ReopenedDecision | None:
    """Give the decision ``element_id`` a revised basis (e.g. a new risk evaluation version, OOS-05/06).

    The decision inherits its data from the task before it, so the revision goes there; a decision
    already taken is voided: the workflow is reset to it with the merged data. None when the decision
    has not been reached yet."""
    decisions = [t for t in workflow.get_tasks(state=TaskState.COMPLETED | TaskState.READY)
                 if t.task_spec.bpmn_id == element_id]
    if not decisions:
        return None
    decision = decisions[0]
    voided = decision.state == TaskState.COMPLETED
    decision.parent.data.update(revised)
    merged = dict(decision.parent.data)
    if voided:
        workflow.reset_from_task_id(decision.id, merged)
    else:
        decision.data.update(merged)
    return ReopenedDecision(str(decision.id), voided)


def apply_worker_result(task: Any, result: dict[str, Any]) -> bool:
    """Complete a worker's service task with its result (its ``resultVariable``); False if the task no longer
    waits for one (a duplicate or late result)."""
    if task.state != TaskState.STARTED:
        return False
    task.data[task.task_spec.result_variable] = result
    task.complete()
    return True


def fire_timer_event(workflow: BpmnWorkflow, task: Any) -> None:
    """Fire a timer event by oospath's clock (SpiffWorkflow's own timers never fire by themselves)."""
    task._set_internal_data(event_fired=True)  # the event definition's documented flag, set as SpiffWorkflow does
    workflow.refresh_timers()


def check_decision_outputs(task: Any) -> None:
    """A DMN decision's outputs must be storable JSON values, refused at its business rule task."""
    engine = getattr(task.task_spec, "dmnEngine", None)
    if engine is None:
        return
    names = {(output.name or output.label or "").split(".")[0] for output in engine.decision_table.outputs}
    try:
        check_storable(task.data, sorted(names))
    except NotStorable as refused:
        raise WorkflowTaskException(f"DMN decision output: {refused.reason}", task=task) from refused


def task_data(task: Any) -> dict[str, Any]:
    """The data a task sees (what the user decides on)."""
    return task.data


def complete_user_task(task: Any, data: dict[str, Any]) -> None:
    """Run a user task with the data the user submitted (and its signature manifestation)."""
    task.set_data(**data)
    task.run()
