"""Firing due timers: the scheduler's use case (``oospath scheduler``).

Due times live in the indexed ``timers`` table, computed with the injected clock, so
firing never deserializes an instance that has nothing due. The engine's clock is the
only clock: SpiffWorkflow's timers never fire by themselves (see
``engine.bpmn.task_specs.ClockTimeDateEventDefinition``); a timer fires here, once, when
oospath's clock has reached its due time. Each timer fires in its own transaction: the
instance is locked first (as every step on it is), then the timer's status moves from
``waiting`` to ``fired`` by a guarded ``UPDATE ... WHERE status = 'waiting'``, so of two
schedulers running at once only one fires it.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine.services import audit, events
from engine.services.audit import AuditEvent
from engine.services.identity import SYSTEM
from engine.services.instruments import timed_step
from engine.services.runtime import Runtime, lock_instance
from engine.store.models import Timer

log = logging.getLogger(__name__)


def due_timer_ids(session: Session, now: datetime, limit: int = 100) -> list[str]:
    return list(session.scalars(
        select(Timer.id).where(Timer.status == "waiting", Timer.due_at <= now)
        .order_by(Timer.due_at).limit(limit)
    ))


def _claim(session: Session, timer: Timer, now: datetime) -> bool:
    """Under the instance's lock: the timer moves from waiting (and due) to fired in one guarded UPDATE, so of two
    schedulers that both listed it only the first fires it; the second finds it fired."""
    claimed = session.execute(update(Timer).where(Timer.id == timer.id, Timer.status == "waiting",
                                                  Timer.due_at <= now).values(status="fired", fired_at=now))
    return claimed.rowcount == 1  # type: ignore[attr-defined]


@timed_step("fire_timer")
def fire_timer(session: Session, runtime: Runtime, timer_id: str) -> bool:
    """Fire one timer if it is still waiting and due by oospath's clock; True when it fired."""
    timer = session.get(Timer, timer_id)
    if timer is None or timer.status != "waiting":
        return False
    instance = lock_instance(session, timer.instance_id)  # held: the step below reads it from the session
    now = runtime.clock.now()
    if not _claim(session, timer, now):
        return False
    loaded = runtime.load(session, instance.id)
    loaded.process.fire_timer(timer.id)
    late_by = (now - timer.due_at).total_seconds() / 3600
    audit.append(session, now, SYSTEM, AuditEvent(
        "timer.fired", instance_id=timer.instance_id, case_id=loaded.row.case_id,
        element_id=timer.element_id, task_id=timer.id,
        data_after={"due_at": timer.due_at.isoformat(), "fired_at": now.isoformat(),
                    "fired_late_by_hours": round(late_by, 2)},
    ), role="system")
    runtime.advance(session, loaded)
    events.element_completed(session, now, loaded.row.case_id, timer.element_id, {})
    return True
