"""Firing due timers: the scheduler's use case (``oospath scheduler``).

Due times live in the indexed ``timers`` table, computed with the injected clock, so
firing never deserializes an instance that has nothing due. The engine's clock is the
only clock: SpiffWorkflow's timers never fire by themselves (see
``engine.bpmn.task_specs.ClockTimeDateEventDefinition``); a timer fires here, once, when
oospath's clock has reached its due time. Each timer fires in its own transaction: the
instance is locked first (as every step on it is), the timer row is taken with
``FOR UPDATE SKIP LOCKED`` on PostgreSQL, and its status moves from ``waiting`` to
``fired`` by a guarded ``UPDATE ... WHERE status = 'waiting'``, so of two schedulers
running at once only one fires it.
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


def _claim(session: Session, timer_id: str, now: datetime) -> Timer | None:
    """The waiting, due timer marked fired in this transaction; None when another scheduler has it or had it."""
    timer = session.scalars(select(Timer).where(Timer.id == timer_id, Timer.status == "waiting")
                            .with_for_update(skip_locked=True).execution_options(populate_existing=True)).first()
    if timer is None or timer.due_at > now:
        return None
    table = Timer.__table__
    claimed = session.execute(update(table).where(table.c.id == timer_id, table.c.status == "waiting")
                              .values(status="fired", fired_at=now))
    if claimed.rowcount != 1:
        return None
    session.refresh(timer)
    return timer


@timed_step("fire_timer")
def fire_timer(session: Session, runtime: Runtime, timer_id: str) -> bool:
    """Fire one timer if it is still waiting and due by oospath's clock; True when it fired."""
    listed = session.get(Timer, timer_id)
    if listed is None or listed.status != "waiting":
        return False
    lock_instance(session, listed.instance_id)
    now = runtime.clock.now()
    timer = _claim(session, timer_id, now)
    if timer is None:
        return False
    loaded = runtime.load(session, timer.instance_id)
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
