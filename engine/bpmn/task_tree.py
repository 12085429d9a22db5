"""Flat history: finished loop iterations leave the live task tree (issue 10, item 3).

SpiffWorkflow keeps every task an instance ever ran in one tree, and every step walks the whole tree
(``get_tasks``, ``update_waiting_tasks``, serialization). When a sequence flow loops back, the next
iteration's tasks are created *below* the previous iteration's gateway, so the tree is a chain that grows
with each round: the cost of a step grows with the instance's past.

An **earlier iteration** is a finished task whose element runs again further down the same path. Such a task
is archived: it leaves the tree, its one continuing child takes its place under its parent, and the subtrees
that ended below it (a cancelled boundary timer, a finished parallel branch, a non-interrupting escalation
that reached its end event) leave with it. The latest run of every element stays in the tree, so a reset to
it (e.g. a revised risk evaluation voiding the physician's request, OOS-06) and the lookups of nearest
ancestors that joins and boundary events make behave as before. A process without loops never has an
earlier iteration: nothing is archived. What leaves the tree is returned as :class:`ArchivedTask` records
(element, task id, state, completion time, data delta; a user task's whole data) for the audit trail,
where it stays queryable.

Only documented attributes and public setters of SpiffWorkflow are used (``Task.parent``, ``Task.children``,
``Workflow.tasks``, ``Workflow.last_task``, ``BpmnWorkflow.subprocesses`` / ``delete_subprocess``,
``EventManager.remove_task``); the library is not patched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.util.deep_merge import DeepMerge
from SpiffWorkflow.util.task import TaskState

# A later run of the element that proves the earlier one is over: started or certain to run, or done.
# Predicted (MAYBE/LIKELY) tasks may still be dropped by a gateway; cancelled ones did not run.
LATER_RUN = TaskState.DEFINITE_MASK | TaskState.COMPLETED


@dataclass(frozen=True)
class ArchivedTask:
    """A task that left the live tree, as the audit trail records it."""

    element_id: str | None
    task_id: str
    state: str
    completed_at: str
    data_delta: dict[str, Any]
    data: dict[str, Any] | None = None  # a user task's whole data: what its user decided on and entered

    def as_record(self) -> dict[str, Any]:
        record = {"element_id": self.element_id, "task_id": self.task_id, "state": self.state,
                  "completed_at": self.completed_at, "data_delta": self.data_delta}
        return record if self.data is None else record | {"data": self.data}


@dataclass
class _Survey:
    """One walk of a workflow's tree: which subtrees are still live, and which tasks an element ran again below."""

    live: set[UUID] = field(default_factory=set)
    runs_again_via: dict[UUID, UUID] = field(default_factory=dict)  # task -> its child towards the later run
    order: list[Any] = field(default_factory=list)  # pre-order


def _survey(workflow: Any) -> _Survey:
    survey = _Survey()
    path: list[Any] = []
    on_path: dict[Any, list[int]] = {}  # task spec -> positions on the path
    stack: list[tuple[Any, bool]] = [(workflow.task_tree, False)]
    while stack:
        task, leaving = stack.pop()
        if leaving:
            path.pop()
            on_path[task.task_spec].pop()
            if task.has_state(TaskState.NOT_FINISHED_MASK) or any(c.id in survey.live for c in task.children):
                survey.live.add(task.id)
            continue
        survey.order.append(task)
        earlier = on_path.get(task.task_spec)
        if earlier and task.has_state(LATER_RUN):
            position = earlier[-1]
            survey.runs_again_via[path[position].id] = path[position + 1].id
        path.append(task)
        on_path.setdefault(task.task_spec, []).append(len(path) - 1)
        stack.append((task, True))
        stack.extend((child, False) for child in reversed(task.children))
    return survey


def _continuing_child(task: Any, survey: _Survey) -> Any | None:
    """The one child an earlier iteration hands its place to, or None when the task must stay."""
    if task is task.workflow.task_tree or task is task.workflow.last_task or task.state != TaskState.COMPLETED:
        return None
    towards_later_run = survey.runs_again_via.get(task.id)
    live_children = [child for child in task.children if child.id in survey.live]
    if towards_later_run is None or len(live_children) != 1 or live_children[0].id != towards_later_run:
        return None
    child = live_children[0]
    # A finished child keeps its own data; an unfinished one would inherit from the new parent when it runs.
    return child if child.state == TaskState.COMPLETED else None


def _record(task: Any) -> ArchivedTask:
    parent = task.parent
    if parent is None:
        delta: dict[str, Any] = {"updates": task.data, "deletions": []}
    else:
        delta = {"updates": DeepMerge.get_updated_keys(parent.data, task.data),
                 "deletions": list(DeepMerge.get_deleted_keys(parent.data, task.data))}
    return ArchivedTask(
        element_id=getattr(task.task_spec, "bpmn_id", None),
        task_id=str(task.id),
        state=TaskState.get_name(task.state),
        completed_at=datetime.fromtimestamp(task.last_state_change, UTC).isoformat(),
        data_delta=delta,
        data=task.data if getattr(task.task_spec, "manual", False) else None,
    )


def _subtree(task: Any) -> list[Any]:
    tasks, stack = [], [task]
    while stack:
        current = stack.pop()
        tasks.append(current)
        stack.extend(current.children)
    return tasks


def earlier_iterations(workflow: Any) -> list[tuple[Any, Any, list[Any]]]:
    """(task, continuing child, tasks leaving with it) for every earlier iteration in one workflow's tree."""
    survey = _survey(workflow)
    found = []
    for task in survey.order:
        child = _continuing_child(task, survey)
        if child is not None:
            ended = [t for other in task.children if other is not child for t in _subtree(other)]
            found.append((task, child, [task, *ended]))
    return found


def _archive(top: BpmnWorkflow, workflow: Any, found: list[tuple[Any, Any, list[Any]]]) -> list[ArchivedTask]:
    records = [_record(task) for _, _, leaving in found for task in leaving]  # data deltas before re-parenting
    for task, child, leaving in found:  # pre-order: a parent already handed its place on is seen first
        parent = task.parent
        parent.children = [child if sibling is task else sibling for sibling in parent.children]
        child.parent = parent
        for gone in leaving:
            if gone.id in top.subprocesses:
                top.delete_subprocess(gone)
            top.event_manager.remove_task(gone)
            workflow.tasks.pop(gone.id, None)
    return records


def archive_earlier_iterations(workflow: BpmnWorkflow, at_least: int = 1) -> list[ArchivedTask]:
    """Take earlier loop iterations out of the instance's task trees (its own and its running subprocesses')
    once at least ``at_least`` tasks would leave; returns what left, in tree order."""
    trees = [workflow, *(sp for sp in workflow.subprocesses.values() if not sp.completed)]
    found = [(tree, earlier_iterations(tree)) for tree in trees]
    if sum(len(leaving) for _, iterations in found for _, _, leaving in iterations) < at_least:
        return []
    archived: list[ArchivedTask] = []
    for tree, iterations in found:
        if iterations:
            archived.extend(_archive(workflow, tree, iterations))
    return archived


def live_tree_size(workflow: BpmnWorkflow) -> int:
    """Tasks in the instance's trees (its own and every subprocess'): what each step walks."""
    return len(workflow.tasks) + sum(len(sp.tasks) for sp in workflow.subprocesses.values())
