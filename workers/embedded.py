"""Embedded messaging: relay, workers and the engine's consumers in one process (demo, tests, API default)."""

from __future__ import annotations

from engine.bootstrap import Oospath
from workers.dead_letters import incident_recorder
from workers.engine_results import ResultConsumer
from workers.inbound import InboundConsumer
from workers.notifications import NotificationWorker
from workers.records import RecordsWorker
from workers.relay import relay_pending
from workers.reporting import ReportingWorker
from workers.transport.base import Handler, Transport
from workers.transport.inprocess import InProcessTransport


def consumers(app: Oospath, transport: Transport) -> dict[str, Handler]:
    """Every consumer kind -> its handler. One home for the wiring of all processes."""
    workers = [NotificationWorker(app, transport), RecordsWorker(app, transport), ReportingWorker(app, transport)]
    kinds: dict[str, Handler] = {w.kind: w.handle for w in workers}
    kinds["results"] = ResultConsumer(app).handle
    kinds["inbound"] = InboundConsumer(app).handle
    return kinds


class EmbeddedMessaging:
    def __init__(self, app: Oospath, transport: InProcessTransport | None = None) -> None:
        self.app = app
        self.transport = transport or InProcessTransport(on_dead_letter=incident_recorder(app))
        self.transport.declare()
        self.consumers: dict[str, Handler] = consumers(app, self.transport)

    def pump(self) -> int:
        """Relay and deliver until nothing moves; returns the number of messages handled."""
        total = 0
        while True:
            relayed = relay_pending(self.app, self.transport)
            handled = sum(self.transport.consume(kind, handler) for kind, handler in self.consumers.items())
            total += handled
            if not relayed and not handled:
                return total
