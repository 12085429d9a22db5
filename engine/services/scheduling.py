"""The scheduler pass: fire every due timer, each in its own transaction, then deliver what it raised.

The escalation and overdue alerts a timer raises are outbox rows; with embedded messaging the
scheduler delivers them in the same pass (``deliver``: the in-process relay and workers), so an
alert never waits for the API's next write.

Several schedulers may run over one PostgreSQL database (README, "Production server"). Each timer
fires once: it is claimed under its instance's lock and moved from ``waiting`` to ``fired`` by a
guarded update (``engine.services.timers``). So that two schedulers share the work instead of queueing
on the same instance, a scheduler first passes over the timers whose instance another process is
advancing at that moment (``pg_try_advisory_xact_lock`` on the instance's lock) and comes back to them
at the end of its batch, by when the other has usually fired them. The duties that must run once per
installation and pass (starting the six-monthly periodic reviews, anchoring the audit chains) are done
by the one scheduler holding the duties lock at that moment.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import select, text

from engine.bootstrap import Oospath
from engine.services.errors import Conflict
from engine.services.timers import fire_timer
from engine.store.models import Timer

log = logging.getLogger(__name__)

#: Timers fired per batch; a pass takes batches until fewer are due (bounded, see MAX_BATCHES_PER_PASS).
BATCH = 100
MAX_BATCHES_PER_PASS = 100
#: The once-per-pass duties' PostgreSQL advisory lock, in the key space of the instances' and streams' locks.
DUTIES_LOCK = "oospath scheduler duties"


@dataclass(frozen=True)
class _DueTimer:
    id: str
    instance_id: str


def _due(app: Oospath, limit: int) -> list[_DueTimer]:
    with app.uow() as uow:
        rows = uow.session.execute(
            select(Timer.id, Timer.instance_id).where(Timer.status == "waiting", Timer.due_at <= app.clock.now())
            .order_by(Timer.due_at).limit(limit))
        return [_DueTimer(timer_id, instance_id) for timer_id, instance_id in rows]


def _fire(app: Oospath, timer: _DueTimer, wait_for_instance: bool) -> bool | None:
    """Fire one timer in its own transaction: True fired, False not (fired elsewhere, no longer due or
    changed concurrently), None passed over because another process holds its instance (PostgreSQL only)."""
    try:
        with app.uow() as uow:
            if not wait_for_instance and uow.session.get_bind().dialect.name == "postgresql":
                free = uow.session.scalar(text("SELECT pg_try_advisory_xact_lock(hashtextextended(:stream, 0))"),
                                          {"stream": timer.instance_id})
                if not free:
                    return None
            if fire_timer(uow.session, app.runtime, timer.id):
                uow.commit()
                return True
            return False
    except Conflict:
        log.info("timer %s: instance changed concurrently; retried next pass", timer.id)
        return False


def fire_due(app: Oospath, limit: int = BATCH) -> int:
    """Fire up to ``limit`` due timers by oospath's clock; returns how many this process fired."""
    fired = 0
    passed_over: list[_DueTimer] = []
    for timer in _due(app, limit):
        outcome = _fire(app, timer, wait_for_instance=False)
        if outcome is None:
            passed_over.append(timer)
        elif outcome:
            fired += 1
    return fired + sum(1 for timer in passed_over if _fire(app, timer, wait_for_instance=True))


def scheduler_pass(app: Oospath, deliver: Callable[[], int] | None = None) -> int:
    """Fire what is due by oospath's clock, batch after batch while this process still fires some; when
    ``deliver`` is given, deliver what firing raised after each batch."""
    total = 0
    for _ in range(MAX_BATCHES_PER_PASS):
        fired = fire_due(app)
        total += fired
        if fired and deliver is not None:
            deliver()
        if not fired:
            break
    return total


@contextmanager
def once_per_pass_duties(app: Oospath) -> Iterator[bool]:
    """Whether this scheduler does the once-per-pass duties now: on PostgreSQL, True for the one holding the
    duties lock (a session-level advisory lock on a connection of its own, released at the end of the
    block); on SQLite, where one process writes, always True."""
    if app.db.dialect.name != "postgresql":
        yield True
        return
    with app.db.connect() as connection:
        held = bool(connection.scalar(text("SELECT pg_try_advisory_lock(hashtextextended(:name, 0))"),
                                     {"name": DUTIES_LOCK}))
        connection.commit()
        try:
            yield held
        finally:
            if held:
                connection.execute(text("SELECT pg_advisory_unlock(hashtextextended(:name, 0))"),
                                   {"name": DUTIES_LOCK})
                connection.commit()
