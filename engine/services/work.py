"""Worker results complete the waiting service task, correlated by instance and task id."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session

from engine.services import audit, events
from engine.services.audit import AuditEvent
from engine.services.identity import Actor
from engine.services.inbox import already_processed, mark_processed
from engine.services.instruments import timed_step
from engine.services.runtime import Runtime, lock_instance
from engine.store.models import ProcessInstance, TaskRow

log = logging.getLogger(__name__)

RESULTS_CONSUMER = "engine.results"


@timed_step("complete_worker_task")
def apply_work_result(session: Session, runtime: Runtime, message: dict[str, Any]) -> str:
    """Complete the task a worker result answers. Returns applied, duplicate or ignored.

    A result for an unknown or already completed task is logged and dropped: the
    worker's effect already happened and the case must not crash because of it.
    """
    message_id = message["message_id"]
    instance_id = str(message.get("instance_id", ""))
    if session.get(ProcessInstance, instance_id) is not None:
        # Exactly once: a redelivery or a second result for the task waits here and then finds the first's commit.
        lock_instance(session, instance_id)
    if already_processed(session, RESULTS_CONSUMER, message_id):
        return "duplicate"
    now = runtime.clock.now()
    mark_processed(session, RESULTS_CONSUMER, message_id, now)
    row = session.get(TaskRow, message.get("task_id", ""), populate_existing=True)
    instance = session.get(ProcessInstance, instance_id)
    if row is None or instance is None or row.instance_id != instance.id or row.state != "waiting":
        log.warning("result %s for unknown or finished task %s ignored", message_id, message.get("task_id"))
        return "ignored"
    loaded = runtime.load(session, instance.id)
    result = message.get("result", {})
    if not loaded.process.apply_worker_result(row.id, result):
        log.warning("result %s for task %s that no longer waits for it ignored", message_id, row.id)
        return "ignored"
    worker = Actor(message.get("worker", "worker"), frozenset({"system"}))
    row.state = "completed"
    row.completed_at = now
    row.completed_by = worker.user
    audit.append(session, now, worker, AuditEvent(
        "work.completed", instance_id=row.instance_id, case_id=row.case_id, element_id=row.element_id,
        task_id=row.id, data_after=result,
    ), role="system")
    runtime.advance(session, loaded, worker)
    if result.get("delivered"):
        events.publish_case_event(session, now, "notification.sent", row.case_id, party=result.get("party"),
                                  element_id=row.element_id, message_id=result.get("message_id"))
    return "applied"
