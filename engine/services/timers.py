"""Firing due timers: the scheduler's use case (``oospath scheduler``).

Due times live in the indexed ``timers`` table, computed with the injected clock, so
firing never deserializes an instance that has nothing due. Each timer fires in its
own transaction; a conflicting concurrent change is retried on the next pass.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.services import audit, events
from engine.services.audit import AuditEvent
from engine.services.identity import SYSTEM
from engine.services.runtime import Runtime
from engine.store.models import Timer

log = logging.getLogger(__name__)


def due_timer_ids(session: Session, now: datetime, limit: int = 100) -> list[str]:
    return list(session.scalars(
        select(Timer.id).where(Timer.status == "waiting", Timer.due_at <= now)
        .order_by(Timer.due_at).limit(limit)
    ))


def fire_timer(session: Session, runtime: Runtime, timer_id: str) -> bool:
    """Fire one timer if it is still waiting and due; True when it fired."""
    timer = session.get(Timer, timer_id)
    now = runtime.clock.now()
    if timer is None or timer.status != "waiting" or timer.due_at > now:
        return False
    loaded = runtime.load(session, timer.instance_id)
    task = runtime.task(loaded, timer.id)
    task._set_internal_data(event_fired=True)
    loaded.workflow.refresh_timers()
    timer.status = "fired"
    timer.fired_at = now
    audit.append(session, now, SYSTEM, AuditEvent(
        "timer.fired", instance_id=timer.instance_id, case_id=loaded.row.case_id,
        element_id=timer.element_id, task_id=timer.id,
        data_after={"due_at": timer.due_at.isoformat(), "fired_at": now.isoformat()},
    ), role="system")
    runtime.advance(session, loaded)
    events.element_completed(session, now, loaded.row.case_id, timer.element_id, {})
    return True
