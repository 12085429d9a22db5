"""Custom SpiffWorkflow task specs, registered with the parser and the serializer.

A BPMN service task in oospath is work for a RabbitMQ-driven worker (notifications,
record capture, reporting). The engine must never block on it inside a workflow step,
so :class:`WorkerServiceTask` does not call anything: it evaluates its parameters,
records a *work request* in the task's internal data and leaves the task STARTED.
The service layer turns each new work request into an outbox row in the same
transaction as the step (``engine.services.runtime``); the worker's result later completes the task
(``engine.services.work``, through ``engine.bpmn.running_process``).

Timers fire by oospath's clock only (:class:`ClockTimeDateEventDefinition`).
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.specs.event_definitions.timer import DurationTimerEventDefinition, TimeDateEventDefinition
from SpiffWorkflow.spiff.specs.defaults import ServiceTask

from engine.bpmn.storable import NotStorable, check_storable

WORK_REQUEST = "oospath_work_request"
WORK_DISPATCHED = "oospath_work_dispatched"


class WorkerServiceTask(ServiceTask):
    """A service task performed asynchronously by a worker.

    ``operation_name`` is the worker operation (``notify``, ``capture_record``, ...);
    parameters are expressions evaluated by the safe script engine against task data.
    """

    def _execute(self, my_task: Any) -> None:
        params = {name: value["value"] for name, value in self.evaluate_params(my_task).items()}
        try:  # the parameters travel as JSON in the work message
            check_storable(params)
        except NotStorable as refused:
            raise WorkflowTaskException(f"service parameter: {refused.reason}", task=my_task) from refused
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


class ClockTimeDateEventDefinition(TimeDateEventDefinition):
    """A timeDate timer that fires only when oospath's scheduler fires it, by oospath's clock.

    SpiffWorkflow's own timer compares its due time with the real clock inside every engine step,
    so a deadline already past (a supply recorded late, a simulated clock) fired before oospath had
    recorded it. Here the due time is computed with the injected clock (``RunningProcess.timer_due``) and
    recorded in the ``timers`` table; ``has_fired`` only reports the flag ``RunningProcess.fire_timer`` sets
    when ``engine.services.timers`` fires it.
    """

    def has_fired(self, my_task: Any) -> bool:
        return bool(my_task._get_internal_data("event_fired", False))


class ClockDurationTimerEventDefinition(DurationTimerEventDefinition):
    """A timeDuration timer that fires only when oospath's scheduler fires it (see above)."""

    def has_fired(self, my_task: Any) -> bool:
        return bool(my_task._get_internal_data("event_fired", False))


# Restored in place of the library's timers, under the library's type names (so definitions
# deployed before keep loading, and fire by oospath's clock as well).
CLOCK_TIMERS = {
    TimeDateEventDefinition: ClockTimeDateEventDefinition,
    DurationTimerEventDefinition: ClockDurationTimerEventDefinition,
}
