"""The scheduler pass: fire every due timer, each in its own transaction."""

from __future__ import annotations

import logging

from engine.bootstrap import Oospath
from engine.services.errors import Conflict
from engine.services.timers import due_timer_ids, fire_timer

log = logging.getLogger(__name__)


def fire_due(app: Oospath, limit: int = 100) -> int:
    with app.uow() as uow:
        ids = due_timer_ids(uow.session, app.clock.now(), limit)
    fired = 0
    for timer_id in ids:
        try:
            with app.uow() as uow:
                if fire_timer(uow.session, app.runtime, timer_id):
                    uow.commit()
                    fired += 1
        except Conflict:
            log.info("timer %s: instance changed concurrently; retried next pass", timer_id)
    return fired
