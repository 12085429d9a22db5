"""Embedded messaging: relay, workers and the engine's consumers in one process (demo, tests, API default)."""

from __future__ import annotations

import time

from sqlalchemy import event

from engine.bootstrap import Oospath
from engine.logging_setup import log_context
from engine.store.models import OutboxMessage
from workers.dead_letters import incident_recorder, retry_counter
from workers.engine_results import ResultConsumer
from workers.inbound import InboundConsumer
from workers.notifications import NotificationWorker
from workers.records import RecordsWorker
from workers.relay import relay_pending
from workers.reporting import ReportingWorker
from workers.transport.base import Handler, Message, Transport
from workers.transport.inprocess import InProcessTransport

#: Outbox rows this process has inserted (flushed) so far; the API relays after a write only when it moved.
_outbox_inserted = 0
#: Seconds after which the API relays after a write even if this process inserted nothing (rows another
#: process left, e.g. one that stopped between its commit and its relay).
RECHECK_SECONDS = 5.0


@event.listens_for(OutboxMessage, "after_insert")
def _count_outbox_insert(*_args: object) -> None:
    global _outbox_inserted
    _outbox_inserted += 1


def consumers(app: Oospath, transport: Transport) -> dict[str, Handler]:
    """Every consumer kind -> its handler. One home for the wiring of all processes."""
    workers = [NotificationWorker(app, transport), RecordsWorker(app, transport), ReportingWorker(app, transport)]
    kinds: dict[str, Handler] = {w.kind: w.handle for w in workers}
    kinds["results"] = ResultConsumer(app).handle
    kinds["inbound"] = InboundConsumer(app).handle
    return {kind: _logged(handler) for kind, handler in kinds.items()}


def _logged(handler: Handler) -> Handler:
    """The handler's log lines carry the message's id and the case, instance and task it concerns."""

    def handle(message: Message) -> None:
        body = message.body if isinstance(message.body, dict) else {}
        with log_context(message_id=message.message_id, case_id=body.get("case_id"),
                         instance_id=body.get("instance_id"), task_id=body.get("task_id")):
            handler(message)

    return handle


class EmbeddedMessaging:
    def __init__(self, app: Oospath, transport: InProcessTransport | None = None) -> None:
        self.app = app
        self.transport = transport or InProcessTransport(on_dead_letter=incident_recorder(app),
                                                         on_retry=retry_counter(app))
        self.transport.declare()
        self.consumers: dict[str, Handler] = consumers(app, self.transport)
        self._relayed_up_to = -1  # unknown at start: the first write relays
        self._checked_at = 0.0

    def pump_after_write(self) -> int:
        """What the API runs after a successful write: :meth:`pump` when this process inserted outbox rows since
        its last relay, or when :data:`RECHECK_SECONDS` passed since it last looked; otherwise nothing (no
        query)."""
        inserted, now = _outbox_inserted, time.monotonic()
        if inserted == self._relayed_up_to and now - self._checked_at < RECHECK_SECONDS:
            return 0
        self._relayed_up_to, self._checked_at = inserted, now
        return self.pump()

    def pump(self) -> int:
        """Relay and deliver until nothing moves; returns the number of messages handled."""
        total = 0
        while True:
            relayed = relay_pending(self.app, self.transport)
            handled = sum(self.transport.consume(kind, handler) for kind, handler in self.consumers.items())
            total += handled
            if not relayed and not handled:
                return total
