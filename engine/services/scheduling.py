"""The scheduler pass: fire every due timer, each in its own transaction, then deliver what it raised.

The escalation and overdue alerts a timer raises are outbox rows; with embedded messaging the
scheduler delivers them in the same pass (``deliver``: the in-process relay and workers), so an
alert never waits for the API's next write.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from engine.bootstrap import Oospath
from engine.services.errors import Conflict
from engine.services.timers import due_timer_ids, fire_timer

log = logging.getLogger(__name__)


def messaging_embedded() -> bool:
    """Whether relay and workers run in this process (``OOSPATH_EMBEDDED_MESSAGING``, default true)."""
    return os.environ.get("OOSPATH_EMBEDDED_MESSAGING", "true").lower() not in ("false", "0", "no")


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


def scheduler_pass(app: Oospath, deliver: Callable[[], int] | None = None) -> int:
    """Fire what is due by oospath's clock; when ``deliver`` is given, deliver what firing raised now."""
    fired = fire_due(app)
    if fired and deliver is not None:
        deliver()
    return fired
