"""Custom SpiffWorkflow task specs, registered with the parser and the serializer.

A BPMN service task in oospath is work for a RabbitMQ-driven worker (notifications,
record capture, reporting). The engine must never block on it inside a workflow step,
so :class:`WorkerServiceTask` does not call anything: it evaluates its parameters,
records a *work request* in the task's internal data and leaves the task STARTED.
The service layer turns each new work request into an outbox row in the same
transaction as the step; the worker's result later completes the task
(see ``engine.services.instances``).
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.spiff.specs.defaults import ServiceTask

WORK_REQUEST = "oospath_work_request"
WORK_DISPATCHED = "oospath_work_dispatched"


class WorkerServiceTask(ServiceTask):
    """A service task performed asynchronously by a worker.

    ``operation_name`` is the worker operation (``notify``, ``capture_record``, ...);
    parameters are expressions evaluated by the safe script engine against task data.
    """

    def _execute(self, my_task: Any) -> None:
        params = {name: value["value"] for name, value in self.evaluate_params(my_task).items()}
        my_task._set_internal_data(
            **{WORK_REQUEST: {"operation": self.operation_name, "params": params}}
        )
        # Returning None leaves the task STARTED until a worker result completes it.
        return None


def pending_work_request(task: Any) -> dict[str, Any] | None:
    """The work request of a STARTED worker task not yet handed to the outbox, else None."""
    if not isinstance(task.task_spec, WorkerServiceTask):
        return None
    if task._get_internal_data(WORK_DISPATCHED, False):
        return None
    return task._get_internal_data(WORK_REQUEST)


def mark_dispatched(task: Any) -> None:
    task._set_internal_data(**{WORK_DISPATCHED: True})
